"""Keeping the best policy by the held-out evaluation (``best_metric``): selection, files, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.train.grpo.best_policy import BEST_FILE, BestPolicy, best_metric_problem
from tests.agents.train.grpo.labels import answer_line, pair_labels


def test_refused_settings(make_trainer: Any) -> None:
    assert best_metric_problem("eval/diff", 1) is None
    assert "not a held-out figure" in str(best_metric_problem("diff", 1))
    assert "needs eval_every" in str(best_metric_problem("eval/diff", 0))
    with pytest.raises(ValueError, match="best_metric='eval/seconds' is not a held-out figure to maximise"):
        make_trainer(eval_every=1, eval_pairs=2, best_metric="eval/seconds")
    with pytest.raises(ValueError, match="best_metric='eval/diff' needs eval_every >= 1"):
        make_trainer(eval_pairs=2, best_metric="eval/diff")


class _Saver:
    """A stand-in trainer: counts saves and writes a marker file where the model would go."""

    class accelerator:  # mirrors the trainer's attribute
        is_main_process = True

    processing_class = None

    def __init__(self) -> None:
        self.saved: list[str] = []

    def save_model(self, folder: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.txt").write_text(str(len(self.saved)))
        self.saved.append(folder)


def test_strictly_better_values_replace_the_kept_one(tmp_path: Path) -> None:
    best, saver = BestPolicy("eval/diff", tmp_path), _Saver()
    best.start(resumed=False, main_process=True)
    assert best.summary() is None
    assert not best.offer(saver, 0, {"eval/diff": None})  # no value never counts
    assert best.offer(saver, 2, {"eval/diff": 0.5, "eval/tau": 0.25})
    assert not best.offer(saver, 4, {"eval/diff": 0.5})  # equal: the earlier policy stays
    assert not best.offer(saver, 6, {"eval/diff": 0.25})
    assert best.offer(saver, 8, {"eval/diff": 0.75})
    assert len(saver.saved) == 2
    record = json.loads((tmp_path / "best" / BEST_FILE).read_text())
    assert record == {"metric": "eval/diff", "value": 0.75, "step": 8, "figures": {"eval/diff": 0.75}}
    assert best.summary() == {"metric": "eval/diff", "value": 0.75, "step": 8, "path": str(tmp_path / "best")}

    resumed = BestPolicy("eval/diff", tmp_path)
    resumed.start(resumed=True, main_process=True)  # continues from best.json: 0.75 at step 8
    assert (resumed.value, resumed.step) == (0.75, 8) and not resumed.better({"eval/diff": 0.75})
    fresh = BestPolicy("eval/diff", tmp_path)
    fresh.start(resumed=False, main_process=True)  # a new run in the same folder: the old best is gone
    assert not (tmp_path / "best").exists() and fresh.value is None
    with pytest.raises(ValueError, match="not a held-out figure"):
        BestPolicy("loss", tmp_path)


def test_the_best_evaluations_policy_is_saved(make_trainer: Any, turns: Any, tmp_path: Path) -> None:
    """Evaluations at steps 0, 1, 2 right on 0, 1, 1 held-out pairs: step 1's weights are kept, not step 2's."""
    import torch
    from transformers import AutoModelForImageTextToText, TrainerCallback

    labels = {pair: pair_labels(pair) for pair in (510, 511)}
    right_pairs_at = [0, 1, 1]  # per evaluation: how many held-out pairs get the right answer
    evaluation = [-1]

    def eval_script(episode: int, turn: int, info: dict[str, Any]) -> str:
        pair = info["pair_index"]
        if pair == 510:
            evaluation[0] += 1  # 510 is played first in every evaluation
        right = labels[pair]
        wrong = {k: (v + 1) % 3 for k, v in right.items()}
        good = (pair == 510 and right_pairs_at[evaluation[0]] >= 1) or (
            pair == 511 and right_pairs_at[evaluation[0]] >= 2
        )
        return turns.final(answer_line(right if good else wrong))

    def script(episode: int, turn: int, info: dict[str, Any]) -> str | None:
        return turns.final() if episode % 2 == 0 else None  # rewards differ within a group: the weights move

    weights: dict[int, dict[str, torch.Tensor]] = {}

    class Snapshot(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            weights[state.global_step] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    trainer = make_trainer(
        script=script, eval_script=eval_script, max_steps=2, eval_every=1, eval_pairs=2, beta=0.0,
        best_metric="eval/tau",
    )  # fmt: skip
    trainer.add_callback(Snapshot())
    stale = Path(trainer.config.output_dir) / "best"
    stale.mkdir(parents=True)
    (stale / BEST_FILE).write_text(json.dumps({"metric": "eval/tau", "value": 1.0, "step": 9}))  # an earlier run's
    trainer.train()
    assert evaluation[0] == 2
    taus = [r["eval/tau"] for r in trainer.state.log_history if "eval/tau" in r]
    assert taus == pytest.approx([0.0, 0.5, 0.5])
    record = json.loads((stale / BEST_FILE).read_text())
    assert (record["step"], record["value"], record["metric"]) == (1, 0.5, "eval/tau")
    assert record["figures"]["eval/tau"] == pytest.approx(0.5)
    kept = AutoModelForImageTextToText.from_pretrained(str(stale), dtype=torch.float32).state_dict()
    assert any(not weights[1][k].equal(weights[2][k]) for k in weights[1])  # the steps differ
    assert all(kept[k].equal(weights[1][k]) for k in weights[1])
    assert (stale / "tokenizer_config.json").is_file() or (stale / "processor_config.json").is_file()
