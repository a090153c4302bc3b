"""vLLM server mode of the windowed GRPO trainer, with a stand-in server (no network, no vLLM installed).

TRL's own ``VLLMGeneration`` is kept; only its ``_init_vllm`` (which needs vLLM and a server) is
replaced to hand it the stand-in client. So the weight sync exercised here is TRL's ``sync_weights``.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from agents.train.grpo.vllm_server_mode import importance_sampling_ratio
from tests.agents.vllm_fake import FakeVLLMClient

SERVER = {"use_vllm": True, "vllm_mode": "server", "old_logps": "forward"}


def _config(tmp_path: Path, **overrides: Any) -> Any:
    from agents.train.grpo.config import WindowedGRPOConfig

    values: dict[str, Any] = {"output_dir": str(tmp_path), "use_cpu": True, "bf16": False, "report_to": []}
    return WindowedGRPOConfig(**{**values, **overrides})


def test_config_accepts_server_mode_only(tmp_path: Path) -> None:
    config = _config(tmp_path, **SERVER)
    assert config.use_vllm and config.vllm_importance_sampling_correction  # TRL's default: correction on
    with pytest.raises(ValueError, match=r"vllm_mode='colocate' is not supported.*set vllm_mode='server'"):
        _config(tmp_path, use_vllm=True, vllm_mode="colocate", old_logps="forward")
    with pytest.raises(ValueError, match="use_vllm=True needs old_logps='forward'"):
        _config(tmp_path, use_vllm=True, vllm_mode="server", old_logps="sampling")
    assert _config(tmp_path, use_vllm=True, vllm_mode="server").old_logps == "forward"  # 'auto' picks it
    with pytest.raises(ValueError, match="demo_script_share > 0 forces scripted ids"):
        _config(tmp_path, **SERVER, demo_script_share=0.5)
    # Every other check still runs, in the same error.
    with pytest.raises(ValueError, match=r"vllm_mode='colocate'.*loss_type='grpo'|loss_type='grpo'.*colocate"):
        _config(tmp_path, use_vllm=True, vllm_mode="colocate", old_logps="forward", loss_type="grpo")


def test_the_shipped_server_config_is_valid(tmp_path: Path) -> None:
    import json

    root = Path(__file__).resolve().parents[4]
    values = json.loads((root / "examples/accelerate/vllm_server.json").read_text(encoding="utf-8"))
    config = _config(tmp_path, **{**values, "bf16": False})  # bf16 needs a GPU
    assert config.use_vllm and config.vllm_mode == "server" and config.old_logps == "forward"
    assert config.vllm_importance_sampling_correction


def test_importance_sampling_ratio_is_trls() -> None:
    old = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, 0.0]])
    sampling = torch.tensor([[-1.5, -1.0, float("nan")], [-0.5, -2.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    diff = torch.tensor([[0.5, -1.0, 0.0], [0.0, 1.5, 0.0]])  # NaN and masked tokens: no correction
    ratio, stats = importance_sampling_ratio(old, sampling, mask, "token_truncate", 0.5, 3.0)
    torch.testing.assert_close(ratio, diff.exp().clamp(0.5, 3.0))
    ratio, _ = importance_sampling_ratio(old, sampling, mask, "token_mask", None, 3.0)
    torch.testing.assert_close(ratio, torch.where(diff.exp() > 3.0, 0.0, diff.exp()))
    ratio, _ = importance_sampling_ratio(old, sampling, mask, "sequence_truncate", None, 3.0)
    torch.testing.assert_close(ratio, torch.tensor([[math.exp(-0.5)], [3.0]]))
    ratio, stats = importance_sampling_ratio(old, sampling, mask, "sequence_mask", None, 3.0)
    torch.testing.assert_close(ratio, torch.tensor([[math.exp(-0.5)], [0.0]]))
    assert stats["sampling_logp_difference/max"].item() == pytest.approx(1.5)
    assert stats["sampling_logp_difference/mean"].item() == pytest.approx((0.5 + 1.0 + 0.0 + 1.5) / 4)
    assert stats["importance_sampling_ratio/max"].item() == pytest.approx(math.exp(-0.5))
    with pytest.raises(ValueError, match="unknown vllm_importance_sampling_mode"):
        importance_sampling_ratio(old, sampling, mask, "bogus", None, 3.0)


def test_a_grpo_run_on_a_stand_in_server(make_trainer: Any, turns: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two steps: each generation round first pushes the trainer's weights (TRL's sync), then every turn
    is sampled by the server from the trainer's own prompt ids and images; the loss gets TRL's
    importance-sampling ratio from the forward old log-probs and the server's log-probs."""
    from trl.generation.vllm_generation import VLLMGeneration

    clients: list[FakeVLLMClient] = []

    def fake_init(self: Any) -> None:
        tokenizer = self.processing_class.tokenizer
        end = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
        tool = tokenizer.encode(turns.tool([1, 20]), add_special_tokens=False) + end
        finals = [
            tokenizer.encode(turns.final(answer), add_special_tokens=False) + end
            for answer in ("TA=1, VQ=2, MQ=0, OA=1", "TA=2, VQ=1, MQ=1, OA=2")
        ]
        image_token = self.processing_class.image_token_id

        def completion(prompt: list[int], sampling: dict[str, Any]) -> list[int]:
            """A tool call first, then an answer that differs between the rows' seeds (so advantages do)."""
            starts = sum(1 for a, b in itertools.pairwise(prompt) if b == image_token and a != image_token)
            return list(tool if starts == 8 else finals[sampling["generation_kwargs"]["seed"] % 2])

        client = FakeVLLMClient(self.processing_class, completion, logprob=-2.0)
        clients.append(client)
        self.vllm_client = client

    monkeypatch.setattr(VLLMGeneration, "_init_vllm", fake_init)
    trainer = make_trainer(
        **SERVER,
        max_steps=2,
        max_completion_length=256,
        vllm_importance_sampling_mode="token_truncate",
        vllm_importance_sampling_clip_min=None,
        vllm_importance_sampling_clip_max=3.0,
    )
    (client,) = clients
    model = trainer.accelerator.unwrap_model(trainer.model)
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    seen: list[dict[str, Any]] = []
    original = trainer._add_old_and_ref_logps

    def recording(batch: dict[str, Any], mode: str) -> None:
        original(batch, mode)
        seen.append({k: v.detach().clone() if torch.is_tensor(v) else v for k, v in batch.items()})

    trainer._add_old_and_ref_logps = recording  # type: ignore[method-assign]
    trainer.train()

    # Weight sync: once per generation round (2 steps, 1 generation each), every parameter, by name.
    assert len(client.syncs) == 2 and client.prefix_resets == 2
    names = [name for name, _ in model.named_parameters()]
    assert [n for n, _ in client.syncs[0]] == names == [m[0] for m in client.sync_metadata[0]]
    assert all(torch.equal(t, initial[n]) for n, t in client.syncs[0])
    assert any(not torch.equal(t, initial[n]) for n, t in client.syncs[1])  # round 2 gets the trained weights
    # Rollouts: every turn from the server; each row's prompt is the trainer's rendering it was sampled from.
    episodes = [e for e in trainer.last_generation.episodes if e is not None]
    assert episodes and all(len(e.turns) == 2 and e.tool_calls == 1 for e in episodes)
    sent = [p for call in client.generate_calls for p in call["prompts"]]
    for episode in episodes:
        for turn in episode.turns:
            assert turn.prompt_ids in sent and turn.logprobs == [-2.0] * len(turn.completion_ids or [])
    images_per_prompt = [len(call[0]) for call in client.feature_calls]
    assert sorted(set(images_per_prompt)) == [8, 10]  # initial frames; then initial + the two fetched frames
    # Importance sampling: TRL's ratio on the loss batch, TRL's metrics logged.
    assert len(seen) == 2
    batch = seen[-1]
    mask = batch["completion_mask"] * batch["tool_mask"]
    expected = torch.exp((batch["old_per_token_logps"] - batch["sampling_per_token_logps"]) * mask).clamp(max=3.0)
    torch.testing.assert_close(batch["importance_sampling_ratio"], expected)
    assert (batch["sampling_per_token_logps"][mask.bool()] == -2.0).all()
    logged = trainer.state.log_history[0]
    for key in ("sampling/importance_sampling_ratio/mean", "sampling/sampling_logp_difference/max", "reward"):
        assert key in logged and math.isfinite(logged[key]), key


def test_trl_vllm_machinery_we_rely_on() -> None:
    """Contract with TRL 1.16's vLLM pieces the server mode calls (an upgrade that moves them fails here)."""
    import inspect

    from trl import GRPOTrainer
    from trl.generation.vllm_client import VLLMClient
    from trl.generation.vllm_generation import VLLMGeneration

    init = inspect.getsource(GRPOTrainer.__init__)
    assert "self.vllm_generation = VLLMGeneration(" in init and "self._last_loaded_step = -1" in init
    assert "self.vllm_importance_sampling_mode = args.vllm_importance_sampling_mode" in init
    loss = inspect.getsource(GRPOTrainer._compute_loss)
    assert 'per_token_loss * inputs["importance_sampling_ratio"]' in loss
    assert "self.use_vllm and self.vllm_importance_sampling_correction" in loss
    assert "self.vllm_client = VLLMClient(" in inspect.getsource(VLLMGeneration._init_vllm)
    sync = inspect.getsource(VLLMGeneration.sync_weights)
    assert "self.vllm_client.update_named_params(self._weight_metadata, self._iter_named_params())" in sync
    assert "self.vllm_client.reset_prefix_cache()" in sync
    assert "self._dist.gather_params([param])" in inspect.getsource(VLLMGeneration._iter_named_params)
    generate = inspect.signature(VLLMClient.generate).parameters
    for name in ("prompts", "features", "n", "temperature", "top_p", "top_k", "max_tokens", "logprobs"):
        assert name in generate, name
    assert (
        "generation_kwargs" in generate and list(inspect.signature(VLLMClient.image_features).parameters)[1] == "images"
    )
    assert '"prompt_ids": list(prompts)' in inspect.getsource(VLLMClient._generate_from_features)
