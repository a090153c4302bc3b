"""The vLLM server backend with a stand-in ``VLLMClient``: ids, log-probs, prompt ids, images, loud mismatches."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from agents.backends import GenerationSettings
from agents.backends.transformers_backend import TransformersBackend
from agents.backends.vllm_server import VLLMPromptMismatchError, VLLMServerBackend, image_token_runs, place_features
from tests.agents.conversations import conversation
from tests.agents.vllm_fake import FakeVLLMClient


def _backend(tiny: TransformersBackend, **kwargs: Any) -> tuple[VLLMServerBackend, FakeVLLMClient, list[int]]:
    answer = tiny.encode_completion("<Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>")
    client = FakeVLLMClient(tiny.processor, lambda prompt, sampling: list(answer), **kwargs)
    return VLLMServerBackend(client, tiny.processor), client, answer


def test_generations_carry_the_trainers_prompt_ids_and_the_servers_samples(tiny_backend: TransformersBackend) -> None:
    backend, client, answer = _backend(tiny_backend)
    convs = [conversation(3), conversation(0, seed=1), conversation(2, seed=2)]
    settings = GenerationSettings(max_new_tokens=64, seed=7, temperature_after_first=None)
    generations = backend.generate(convs, settings)

    local = tiny_backend.encode(convs)
    mask = local["attention_mask"].bool()
    grids = local["image_grid_thw"].numpy()
    offsets = [0, 3, 3, 5]
    for row, generation in enumerate(generations):
        assert generation.prompt_ids == local["input_ids"][row][mask[row]].tolist()
        assert generation.token_ids == answer and generation.finish_reason == "stop"
        assert generation.logprobs == [-2.0] * len(answer)
        assert generation.text == "<Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>"
        if offsets[row + 1] > offsets[row]:
            assert generation.image_grid_thw is not None
            np.testing.assert_array_equal(generation.image_grid_thw, grids[offsets[row] : offsets[row + 1]])
        else:
            assert generation.image_grid_thw is None
    # Images go to the server as they are (one feature request per prompt with images), in order.
    sent = sorted(client.feature_calls, key=lambda call: len(call[0]))
    assert [len(call[0]) for call in sent] == [2, 3]
    originals = [b["image"] for b in convs[0][1]["content"] if b["type"] == "image"]
    assert any(all(a is b for a, b in zip(call[0], originals, strict=True)) for call in sent if len(call[0]) == 3)
    # Each request: the prompt ids as sent, features pointed at this prompt's image-token runs, own seed.
    by_seed = {call["generation_kwargs"]["seed"]: call for call in client.generate_calls}
    assert sorted(by_seed) == [7, 8, 9]
    for row, seed in enumerate((7, 8, 9)):
        call = by_seed[seed]
        assert call["prompts"] == [generations[row].prompt_ids]
        runs = image_token_runs(generations[row].prompt_ids, backend.image_token_id)
        if runs:
            assert call["features"][0]["mm_placeholders"]["image"] == runs
        else:
            assert call["features"] is None
        assert call["temperature"] == 1.0 and call["top_p"] == 0.95 and call["top_k"] == 40
        assert call["max_tokens"] == 64 and call["logprobs"] == 0 and call["n"] == 1
        kwargs = call["generation_kwargs"]
        assert set(kwargs["stop_token_ids"]) == set(backend.stop_token_ids)
        assert {int(t) for t in kwargs["logit_bias"]} == set(backend.suppressed_token_ids)


def test_length_finish_and_missing_logprobs(tiny_backend: TransformersBackend) -> None:
    ids = tiny_backend.tokenizer.encode("<Think>a b c d", add_special_tokens=False)
    client = FakeVLLMClient(tiny_backend.processor, lambda prompt, sampling: list(ids))
    backend = VLLMServerBackend(client, tiny_backend.processor)
    (generation,) = backend.generate([conversation(1)], GenerationSettings(max_new_tokens=len(ids)))
    assert generation.finish_reason == "length" and generation.token_ids == ids
    # A server that gives no log-prob for a token: NaN (TRL's correction then leaves it uncorrected).
    client.generate = lambda prompts, features=None, **kw: {  # type: ignore[method-assign]
        "prompt_ids": [list(prompts[0])],
        "completion_ids": [list(ids)],
        "logprobs": [[[-1.0], [-3.0, -1.5]] + [[-0.5]] * (len(ids) - 2)],
        "logprob_token_ids": [[[ids[0]], [999, ids[1]]] + [[99999]] * (len(ids) - 2)],
    }
    (generation,) = backend.generate([conversation(1)], GenerationSettings(max_new_tokens=len(ids)))
    assert generation.logprobs is not None
    assert generation.logprobs[:2] == [-1.0, -1.5] and all(math.isnan(x) for x in generation.logprobs[2:])


def test_a_server_resizing_images_differently_fails_loudly(tiny_backend: TransformersBackend) -> None:
    backend, _, _ = _backend(tiny_backend, token_scale=2)
    with pytest.raises(VLLMPromptMismatchError, match="pixel budget"):
        backend.generate([conversation(2)], GenerationSettings(max_new_tokens=8))


def test_a_server_echoing_other_prompt_ids_fails_loudly(tiny_backend: TransformersBackend) -> None:
    backend, _, _ = _backend(tiny_backend, echo_offset=1)
    with pytest.raises(VLLMPromptMismatchError, match="other prompt ids"):
        backend.generate([conversation(1)], GenerationSettings(max_new_tokens=8))


def test_an_early_end_without_stop_token_fails_loudly(tiny_backend: TransformersBackend) -> None:
    ids = tiny_backend.tokenizer.encode("<Think>a", add_special_tokens=False)
    client = FakeVLLMClient(tiny_backend.processor, lambda prompt, sampling: list(ids))
    backend = VLLMServerBackend(client, tiny_backend.processor)
    with pytest.raises(VLLMPromptMismatchError, match="without an end-of-turn token"):
        backend.generate([conversation(0)], GenerationSettings(max_new_tokens=32))


def test_place_features_counts_runs() -> None:
    features = {"mm_placeholders": {"image": [{"offset": 0, "length": 2}]}, "mm_hashes": {"image": ["a"]}}
    placed = place_features(features, [5, 9, 9, 6], image_token_id=9)
    assert placed is not None and placed["mm_placeholders"]["image"] == [{"offset": 1, "length": 2}]
    assert placed["mm_hashes"] == features["mm_hashes"]
    with pytest.raises(VLLMPromptMismatchError, match="one run of image tokens per image"):
        place_features(features, [9, 9, 5, 9, 9], image_token_id=9)
    with pytest.raises(VLLMPromptMismatchError, match="no image features"):
        place_features(None, [9, 9], image_token_id=9)
