"""Keep the best policy of a GRPO run by its held-out evaluation (``best_metric``).

With ``eval_every`` and ``best_metric`` set, every held-out evaluation (``held_out_eval``; step 0 is
the starting policy) is compared with the best one so far; a strictly higher value of the chosen
``eval/*`` figure saves the policy to ``output_dir/best`` (the trainer's ``save_model``, so the
ZeRO-3 gather and the main-process write are the trainer's own) with ``best.json``: the metric, its
value, the step and every figure of that evaluation. An equal value keeps the earlier policy (fewer
updates away from the start), and an evaluation with no value (``None``: e.g. every held-out label a
tie) never replaces one. A fresh run removes a ``best`` folder left by an earlier run in the same
output folder; a resumed run (restored at step > 0) continues from its ``best.json``.

This is early stopping by model selection on the held-out pairs, as ``load_best_model_at_end`` is
for Hugging Face's ``Trainer``: the final model of ``output_dir`` is still the last step's, and the
held-out pairs used to choose are not an unbiased estimate of the chosen policy's accuracy; evaluate
it on other pairs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

#: Figures of the held-out evaluation a run may select by (all: higher is better).
BEST_METRICS: tuple[str, ...] = (
    "eval/tau",
    "eval/diff",
    "eval/TA",
    "eval/VQ",
    "eval/MQ",
    "eval/format_valid_turn_rate",
    "eval/return",
    "eval/finished_rate",
)
#: Folder under ``output_dir`` and the file in it that describes the kept policy.
BEST_FOLDER, BEST_FILE = "best", "best.json"


def best_metric_problem(metric: str, eval_every: int) -> str | None:
    """What is wrong with ``best_metric`` (None when fine)."""
    if metric not in BEST_METRICS:
        return f"best_metric={metric!r} is not a held-out figure to maximise; choose one of {', '.join(BEST_METRICS)}"
    if eval_every <= 0:
        return f"best_metric={metric!r} needs eval_every >= 1 (and eval_pairs): it selects among held-out evaluations"
    return None


class BestPolicy:
    """The best evaluation so far of one run; :meth:`offer` each evaluation, it saves a better one."""

    def __init__(self, metric: str, output_dir: str | Path) -> None:
        problem = best_metric_problem(metric, eval_every=1)
        if problem:
            raise ValueError(problem)
        self.metric = metric
        self.folder = Path(output_dir) / BEST_FOLDER
        self.value: float | None = None
        self.step: int | None = None

    def start(self, resumed: bool, main_process: bool) -> None:
        """A resumed run restores the kept evaluation; a fresh one drops an earlier run's ``best`` folder."""
        record = self.folder / BEST_FILE
        if resumed and record.is_file():
            saved = json.loads(record.read_text(encoding="utf-8"))
            if saved.get("metric") == self.metric:
                self.value, self.step = saved["value"], saved["step"]
                return
        if main_process and self.folder.exists():
            shutil.rmtree(self.folder)

    def better(self, metrics: dict[str, Any]) -> bool:
        """Whether ``metrics`` beat the kept evaluation (strictly; no value never does)."""
        value = metrics.get(self.metric)
        if not isinstance(value, int | float):
            return False
        return self.value is None or float(value) > self.value

    def offer(self, trainer: Any, step: int, metrics: dict[str, Any]) -> bool:
        """Save the trainer's policy to ``best`` if ``metrics`` are better; every rank must call it."""
        if not self.better(metrics):
            return False
        self.value, self.step = float(metrics[self.metric]), step
        trainer.save_model(str(self.folder))
        if trainer.accelerator.is_main_process:
            processor = getattr(trainer, "processing_class", None)
            if processor is not None:
                processor.save_pretrained(str(self.folder))
            record = {"metric": self.metric, "value": self.value, "step": step, "figures": metrics}
            (self.folder / BEST_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
        return True

    def summary(self) -> dict[str, Any] | None:
        """Metric, value, step and folder of the kept policy (None if no evaluation had a value)."""
        if self.step is None:
            return None
        return {"metric": self.metric, "value": self.value, "step": self.step, "path": str(self.folder)}
