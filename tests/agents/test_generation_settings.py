"""Issue 8, defect 6: ``GenerationSettings()`` holds the paper's rollout settings, 0.9 after turn 1."""

from __future__ import annotations

import pytest

from agents.backends.base import GenerationSettings


def test_defaults_are_the_papers_rollout_settings() -> None:
    settings = GenerationSettings()
    assert (settings.temperature, settings.top_p, settings.top_k) == (1.0, 0.95, 40)
    assert settings.temperature_after_first == 0.9
    assert settings.for_turn(0).temperature == 1.0
    assert settings.for_turn(1).temperature == 0.9 and settings.for_turn(5).logprob_temperature == 0.9


def test_greedy_and_opt_out() -> None:
    assert GenerationSettings.greedy().for_turn(3).logprob_temperature == 1.0
    assert GenerationSettings(temperature_after_first=None).for_turn(3).temperature == 1.0
    with pytest.raises(ValueError, match="temperature_after_first"):
        GenerationSettings(temperature_after_first=0.0)
