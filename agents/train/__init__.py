"""Trainers that consume rollout records: SFT, rejection sampling and windowed multi-turn GRPO."""
