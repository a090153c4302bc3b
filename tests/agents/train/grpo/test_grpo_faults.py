"""Faults during GRPO: an unreadable pair skips its group and is refilled; the run goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vr_env.data.base import PairDataset
from vr_env.data.records import PairRecord, VideoRef


def _dataset(tmp_path: Path) -> PairDataset:
    from vr_env.data.synthetic import make_pair

    good = [make_pair(i) for i in range(1, 6)]
    missing = str(tmp_path / "missing.mp4")
    broken = PairRecord(
        pair_id="broken",
        prompt="a pair whose first video is gone",
        video_1=VideoRef(missing, fps=24.0, num_frames=96),
        video_2=good[0].video_2,
        labels=dict(good[0].labels),
    )
    return PairDataset([broken, *good], name="with-a-broken-pair")


def test_an_unreadable_pair_is_skipped_and_refilled(make_trainer: Any, turns: Any, tmp_path: Path) -> None:
    import gymnasium as gym

    dataset = _dataset(tmp_path)

    def factory() -> Any:  # no passive checker (as the default factory): a slot whose reset raised is reused
        kwargs = {"dataset": dataset, "frames_per_video": 16, "max_tool_calls": 1}
        return gym.make("vr_env:VRJudge-v0", disable_env_checker=True, **kwargs)

    def script(episode: int, turn: int, info: dict[str, Any]) -> str:
        return turns.final("TA=1, VQ=1, MQ=1, OA=1" if episode % 2 else "TA=2, VQ=2, MQ=2, OA=2")

    trainer = make_trainer(
        script=script, pairs=[0, 3], env_factory=factory, dynamic_sampling=True, beta=0.0, per_device_train_batch_size=4
    )
    trainer.train()
    generation = trainer.last_generation
    assert generation.skipped and "missing.mp4" in generation.skipped[0]["reason"]
    assert generation.report.dropped_first == 1 and generation.report.refill_rounds == 1
    # Refilled from the training pairs, avoiding the dropped group's own (unreadable) pair.
    assert all(e is not None and e.pair_index == 3 for e in generation.episodes)
    logged = trainer.state.log_history[0]
    assert logged["dynamic_sampling/dropped_share"] == 0.5
    # The first round had two unreadable trajectories; the refilled batch none.
    assert logged["trajectory/unreadable"] == 2.0 and logged["refilled/trajectory/unreadable"] == 0.0
