"""Trainers: cold-start traces, SFT on exact windowed contexts, rejection sampling, GRPO."""
