"""Transformers backend, shared prefix: identical prompts of a call are prefilled once, same results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from agents.backends import GenerationSettings
from agents.backends.shared_prefix import SharingUnsupportedError, share_plan
from agents.backends.transformers_backend import TransformersBackend
from tests.agents.conversations import conversation, replay_logprobs


def pair(backend: TransformersBackend) -> tuple[TransformersBackend, TransformersBackend]:
    """Two backends over one model: sharing on, sharing off."""
    return (
        TransformersBackend(backend.model, backend.processor, share_prefix=True),
        TransformersBackend(backend.model, backend.processor, share_prefix=False),
    )


def mixed_call() -> list[list[dict[str, Any]]]:
    """A group of three identical conversations with images, a distinct row between, a second group."""
    group = conversation(2)  # fresh objects with equal content: sharing goes by content, not identity
    return [group, conversation(2), conversation(1, "Another prompt.", seed=5), conversation(2), group, group]


def test_share_plan_groups_by_text_and_image_content() -> None:
    convs = mixed_call()
    texts = ["t"] * 2 + ["u"] + ["t"] * 3
    assert share_plan(texts, convs) == ([0, 2], [0, 0, 1, 0, 0, 0])
    other = conversation(2, seed=9)  # same text, other pixels: not shared
    assert share_plan(["t", "t"], [convs[0], other]) is None


@pytest.mark.parametrize("backend_fixture", ["tiny_backend", "tiny_qwen3_backend"])
def test_greedy_shared_equals_plain_in_order(backend_fixture: str, request: pytest.FixtureRequest) -> None:
    shared, plain = pair(request.getfixturevalue(backend_fixture))
    convs = mixed_call()
    settings = GenerationSettings.greedy(max_new_tokens=8)
    on, off = shared.generate(convs, settings), plain.generate(convs, settings)
    assert shared.share_prefix_disabled is None
    assert shared.prefill_stats == {"rows": 6, "prefilled": 2, "shared_calls": 1}
    for a, b in zip(on, off, strict=True):
        assert a.token_ids == b.token_ids and a.prompt_ids == b.prompt_ids and a.text == b.text
        assert a.finish_reason == b.finish_reason
        assert a.image_grid_thw is not None and b.image_grid_thw is not None
        assert a.image_grid_thw.tolist() == b.image_grid_thw.tolist()
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5)
    assert on[2].prompt_ids != on[0].prompt_ids and len(on[2].image_grid_thw) == 1, "the distinct row keeps its place"


def test_sampled_logprobs_equal_a_forward_pass_and_seeding_holds(tiny_backend: TransformersBackend) -> None:
    import torch

    shared, plain = pair(tiny_backend)
    convs = mixed_call()
    settings = GenerationSettings(max_new_tokens=10, seed=4)
    state = torch.random.get_rng_state()
    on = shared.generate(convs, settings)
    assert torch.equal(state, torch.random.get_rng_state()), "the caller's RNG is left alone"
    assert [g.token_ids for g in on] == [g.token_ids for g in shared.generate(convs, settings)]
    assert [g.token_ids for g in on] == [g.token_ids for g in plain.generate(convs, settings)]
    assert on[0].token_ids != on[4].token_ids, "the rows of a group sample independently"
    for conv, generation in zip(convs, on, strict=True):
        assert generation.prompt_ids is not None and generation.token_ids is not None
        recomputed = replay_logprobs(tiny_backend, conv, generation.prompt_ids, generation.token_ids)
        np.testing.assert_allclose(recomputed, generation.logprobs, atol=2e-5)


def test_forced_rows_in_a_shared_group_still_force(tiny_backend: TransformersBackend) -> None:
    shared, _ = pair(tiny_backend)
    forced = shared.encode_completion("<Think>x</Think><Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>")
    convs = [conversation(1)] * 3
    generations = shared.generate(
        convs, GenerationSettings(max_new_tokens=4, seed=0), forced_token_ids=[None, forced, None]
    )
    assert shared.prefill_stats["prefilled"] == 1
    assert generations[1].token_ids == forced and generations[1].finish_reason == "stop"
    assert len(generations[0].token_ids or []) == len(generations[2].token_ids or []) == 4
    prompt = generations[1].prompt_ids or []
    np.testing.assert_allclose(
        replay_logprobs(tiny_backend, convs[1], prompt, forced), generations[1].logprobs, atol=2e-5
    )


@pytest.fixture
def encoder_calls(tiny_backend: TransformersBackend) -> Iterator[dict[str, list[int]]]:
    """Images each vision-encoder call encoded, and (rows, tokens) of each language-model prefill."""
    calls: dict[str, list[int]] = {"images": [], "prefill_rows": [], "prefill_tokens": []}
    inner = tiny_backend.model.model

    def on_visual(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        calls["images"].append(int(kwargs["grid_thw"].shape[0]))

    def on_language(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        embeds = kwargs["inputs_embeds"]
        if embeds.shape[1] > 1:
            calls["prefill_rows"].append(int(embeds.shape[0]))
            calls["prefill_tokens"].append(int(embeds.shape[1]))

    handles = [
        inner.visual.register_forward_pre_hook(on_visual, with_kwargs=True),
        inner.language_model.register_forward_pre_hook(on_language, with_kwargs=True),
    ]
    yield calls
    for handle in handles:
        handle.remove()


def test_one_prefill_per_group(tiny_backend: TransformersBackend, encoder_calls: dict[str, list[int]]) -> None:
    shared, plain = pair(tiny_backend)
    convs = mixed_call()  # groups of 2-image prompts (x5) and a 1-image prompt (x1)
    settings = GenerationSettings.greedy(max_new_tokens=3)
    shared.generate(convs, settings)
    assert encoder_calls["images"] == [2 + 1], "each distinct prompt's images encoded once"
    assert encoder_calls["prefill_rows"] == [2], "one prefill row per distinct prompt"
    length = len(plain.encode(convs)["input_ids"][0])
    assert encoder_calls["prefill_tokens"] == [length - 1]
    for values in encoder_calls.values():
        values.clear()
    plain.generate(convs, settings)
    assert encoder_calls["images"] == [2 * 5 + 1] and encoder_calls["prefill_rows"] == [6]


def test_unsupported_model_falls_back_to_the_plain_path(
    tiny_backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, plain = pair(tiny_backend)

    def refuse(batch: Any, mapping: Any) -> Any:
        raise SharingUnsupportedError("its prefill cache is a HybridCache, not a plain DynamicCache")

    monkeypatch.setattr(shared, "_prefill", refuse)
    convs = [conversation(1)] * 3
    settings = GenerationSettings.greedy(max_new_tokens=4)
    assert [g.token_ids for g in shared.generate(convs, settings)] == [
        g.token_ids for g in plain.generate(convs, settings)
    ]
    assert shared.share_prefix_disabled is not None and "HybridCache" in shared.share_prefix_disabled
    assert shared.prefill_stats["shared_calls"] == 0 and shared.prefill_stats["prefilled"] == 3
