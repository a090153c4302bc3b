"""The loss side of the windowed GRPO trainer: old and reference log-probs, each row at its own temperature.

:class:`RowScoredGRPOTrainer` is TRL's ``GRPOTrainer`` whose log-prob helper scores every row of a
loss batch at the row's sampling temperature (``row_temperature``) while TRL's ``_compute_loss``
and this trainer's old / reference log-probs run, and which fills the batch's
``old_per_token_logps`` (the rollout's own with ``old_logps="sampling"``, else a forward pass), the
vLLM importance-sampling ratio and ``ref_per_token_logps`` (when ``beta != 0``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from trl import GRPOTrainer

from agents.train.grpo.config import WindowedGRPOConfig
from agents.train.grpo.row_temperature import row_temperatures
from agents.train.grpo.vllm_server_mode import add_importance_sampling


class RowScoredGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` scoring each loss row at its own temperature; base of the windowed trainer."""

    config: WindowedGRPOConfig
    #: The batch's ``row_temperatures`` while TRL scores it (``_scored_at``), else ``None``.
    _row_temperatures: Any = None

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> Any:
        with self._scored_at(inputs):
            return super()._compute_loss(model, inputs)

    @contextlib.contextmanager
    def _scored_at(self, batch: dict[str, Any]) -> Any:
        """TRL's log-prob helper scores ``batch``'s rows at their own temperatures within the block."""
        previous, self._row_temperatures = self._row_temperatures, batch.get("row_temperatures")
        try:
            yield
        finally:
            self._row_temperatures = previous

    def _get_per_token_logps_and_entropies(self, model: Any, *args: Any, **kwargs: Any) -> Any:
        if self._row_temperatures is None:
            return super()._get_per_token_logps_and_entropies(model, *args, **kwargs)
        with row_temperatures(model, self._row_temperatures, float(self.temperature)):
            return super()._get_per_token_logps_and_entropies(model, *args, **kwargs)

    def _forward_kwargs(self, batch: dict[str, Any]) -> dict[str, Any]:
        keys = ("pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids")
        return {k: batch[k] for k in keys if k in batch}

    def _logps(self, model: Any, batch: dict[str, Any]) -> Any:
        ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
        mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
        with self._scored_at(batch):
            logps, _, _ = self._get_per_token_logps_and_entropies(
                model,
                ids,
                mask,
                batch["completion_ids"].size(1),
                batch_size=self.config.per_device_train_batch_size,
                **self._forward_kwargs(batch),
            )
        return logps

    def _add_old_and_ref_logps(self, batch: dict[str, Any], mode: str) -> None:
        """Old log-probs (the rollout's, or a forward pass) and the reference model's, when beta > 0."""
        from trl.models.utils import disable_gradient_checkpointing
        from trl.trainer.utils import use_adapter

        kwargs: Any = self.config.gradient_checkpointing_kwargs
        with torch.no_grad(), disable_gradient_checkpointing(self.model, kwargs):  # type: ignore[arg-type]
            if self.config.old_logps == "sampling":
                batch["old_per_token_logps"] = batch["sampling_per_token_logps"]
            else:
                batch["old_per_token_logps"] = self._logps(self.model, batch)
            if self.use_vllm and self.vllm_importance_sampling_correction:
                add_importance_sampling(self, batch, mode)
            if self.beta != 0.0:
                if self.ref_model is not None:
                    batch["ref_per_token_logps"] = self._logps(self.ref_model, batch)
                else:
                    model = self.accelerator.unwrap_model(self.model)
                    with use_adapter(model, adapter_name="ref" if "ref" in model.peft_config else None):
                        batch["ref_per_token_logps"] = self._logps(self.model, batch)
