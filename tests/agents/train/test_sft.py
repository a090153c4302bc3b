"""SFT on exact windowed contexts: the trained input is the rollout's prompt, labels only on the turn."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from agents.backends import GenerationSettings
from agents.backends.transformers_backend import TransformersBackend
from agents.records import EpisodeRecord, load_jsonl, save_jsonl
from agents.replay import Replayer
from agents.rollout import RolloutEngine
from agents.train.sft import IGNORE_INDEX, encode_prompt, turn_batch, turn_examples
from vr_env.config import EnvConfig
from vr_env.protocol.prompts import EVICTED_IMAGE_TEXT

SETTINGS = GenerationSettings(max_new_tokens=6)


@pytest.fixture(scope="module")
def rolled(tiny_backend: TransformersBackend, turns: SimpleNamespace) -> EpisodeRecord:
    """One p = 1 episode through the rollout path: two tool calls (the first one's images evicted), an answer."""
    script = [turns.tool([1, 2, 20]), turns.tool([5, 30, 31]), turns.final()]
    env_kwargs = {**turns.env_kwargs, "memory_window": 1}
    engine = RolloutEngine(
        tiny_backend, env_kwargs=env_kwargs, group_size=1, settings=SETTINGS, seed=3, script=lambda e, t, i: script[t]
    )
    result = engine.run([2])
    episode = result.episodes[0]
    episode.env = EnvConfig(**env_kwargs).to_dict()
    engine.close()
    assert episode.tool_calls == 2 and len(episode.turns) == 3 and episode.terminated
    return episode


@pytest.fixture(scope="module")
def text_only_trace(rolled: EpisodeRecord, tmp_path_factory: pytest.TempPathFactory) -> EpisodeRecord:
    """The episode as a teacher trace without ids (JSONL round trip, then replayed)."""
    stripped = replace(
        rolled, turns=[replace(t, prompt_ids=None, completion_ids=None, logprobs=None) for t in rolled.turns]
    )
    path = save_jsonl([stripped], tmp_path_factory.mktemp("traces") / "traces.jsonl")
    loaded = load_jsonl(path)
    assert not loaded.problems and not loaded.episodes[0].turns[0].has_context
    replayer = Replayer()
    try:
        return replayer.replay(loaded.episodes[0])
    finally:
        replayer.close()


def test_sft_input_of_each_turn_equals_the_rollout_prompt(
    rolled: EpisodeRecord, text_only_trace: EpisodeRecord, tiny_backend: TransformersBackend
) -> None:
    processor = tiny_backend.processor
    examples = turn_examples([text_only_trace], processor)
    assert len(examples.turns) == 3 and examples.recorded_ids == 0
    for sampled, example in zip(rolled.turns, examples.turns, strict=True):
        # Token ids: tokenized from the replayed context = what the model was fed at that turn.
        assert example.prompt_ids == sampled.prompt_ids
        assert example.completion_ids == sampled.completion_ids
        np.testing.assert_array_equal(example.image_grid_thw, sampled.image_grid_thw)
        # Pixels: the batch the trainer builds = the batch the rollout backend encoded.
        fed = tiny_backend.encode([sampled.messages()])
        batch = turn_batch([example], processor)
        np.testing.assert_array_equal(batch["image_grid_thw"].numpy(), fed["image_grid_thw"].numpy())
        np.testing.assert_array_equal(batch["pixel_values"].numpy(), fed["pixel_values"].float().numpy())
        width = batch["input_ids"].shape[1]
        assert batch["input_ids"][0, width - len(example.completion_ids) - len(example.prompt_ids) :].tolist() == (
            sampled.prompt_ids + sampled.completion_ids
        )
    # The last turn's context is the windowed one: round 1's images are gone, their text stays.
    last = examples.turns[-1]
    assert [f.frame_id for f in last.frames][8:] == [5, 30, 31]
    evicted = [t for t in last.context.turns if t.tool_round == 1]
    assert evicted and evicted[0].evicted
    assert EVICTED_IMAGE_TEXT in "".join(
        b["text"] for m in last.messages() for b in m["content"] if b["type"] == "text"
    )


def _roles(ids: list[int], tokenizer: Any) -> list[str]:
    """The chat role each token belongs to (``<|im_start|>role`` opens a message), scanned token by token."""
    start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    roles, role, k = [], "none", 0
    while k < len(ids):
        if ids[k] == start:
            header = tokenizer.decode(ids[k + 1 : k + 10])
            role = next(r for r in ("system", "user", "assistant") if header.startswith(r))
        roles.append(role)
        k += 1
    return roles


def test_labels_are_minus_100_on_every_non_assistant_token(
    text_only_trace: EpisodeRecord, tiny_backend: TransformersBackend
) -> None:
    processor = tiny_backend.processor
    tokenizer = processor.tokenizer
    examples = turn_examples([text_only_trace], processor)
    batch = turn_batch(examples.turns, processor)
    image_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    width = batch["input_ids"].shape[1]
    for row, turn in enumerate(examples.turns):
        ids = batch["input_ids"][row].tolist()
        labels = batch["labels"][row].tolist()
        mask = batch["attention_mask"][row].tolist()
        start = width - len(turn.prompt_ids) - len(turn.completion_ids)
        roles = ["pad"] * start + _roles(ids[start:], tokenizer)
        generation_prompt = width - len(turn.completion_ids)
        learned = 0
        for k in range(width):
            own_turn = k >= generation_prompt  # the turn's own sampled tokens, after "<|im_start|>assistant\n"
            if own_turn:
                assert labels[k] == ids[k] and mask[k] == 1 and roles[k] == "assistant" and ids[k] != image_id
                learned += 1
            else:
                # system, user, tool results, images, earlier assistant turns, the generation prompt, padding
                assert labels[k] == IGNORE_INDEX, (row, k, roles[k])
        assert learned == len(turn.completion_ids)
        assert {"system", "user"} <= set(roles) and ids.count(image_id) > 0
        if row == 2:  # two earlier assistant turns in context, all masked
            earlier = [k for k in range(start, generation_prompt) if roles[k] == "assistant"]
            assert len(earlier) > 2 * 10 and all(labels[k] == IGNORE_INDEX for k in earlier)


def test_recorded_ids_are_learned_as_sampled(
    rolled: EpisodeRecord, tiny_backend: TransformersBackend, tmp_path: Any
) -> None:
    path = save_jsonl([rolled], tmp_path / "rs.jsonl")
    replayer = Replayer()
    replayed = replayer.replay(load_jsonl(path).episodes[0])
    replayer.close()
    examples = turn_examples([replayed], tiny_backend.processor)
    assert examples.recorded_ids == 3 and not examples.problems
    assert [t.completion_ids for t in examples.turns] == [t.completion_ids for t in rolled.turns]
    # A record whose prompt ids do not match its replayed context is skipped, with a reason.
    broken = replace(replayed, turns=[replace(replayed.turns[0], prompt_ids=[1, 2, 3])])
    bad = turn_examples([broken], tiny_backend.processor)
    assert not bad.turns and "differ from the replayed context" in bad.problems[0]


def test_encode_prompt_matches_the_backend(rolled: EpisodeRecord, tiny_backend: TransformersBackend) -> None:
    for turn in rolled.turns:
        ids, grid = encode_prompt(tiny_backend.processor, turn.context)
        assert ids == turn.prompt_ids and np.array_equal(grid, turn.image_grid_thw)
