"""Trainers that consume rollout records: cold-start traces, SFT on exact windowed contexts,
rejection sampling and windowed multi-turn GRPO."""
