"""HFVLMAgent in the env loop with tiny Qwen2.5-VL and Qwen3-VL models."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agents.backends import GenerationSettings
from agents.backends.transformers_backend import TransformersBackend
from agents.hf import HFVLMAgent, make_hf_agent
from vr_env.agent import as_agent
from vr_env.context import to_chat_messages


def play(agent: Any, env: Any, pair_index: int = 0) -> tuple[list[str], dict[str, Any]]:
    agent = as_agent(agent)
    agent.reset()
    obs, info = env.reset(seed=0, options={"pair_index": pair_index, "swap": False})
    texts, done = [], False
    while not done:
        text = agent.act(obs, info)
        texts.append(text)
        obs, _, terminated, truncated, info = env.step(text)
        done = terminated or truncated
    return texts, info


@pytest.mark.parametrize("fixture", ["tiny_backend", "tiny_qwen3_backend"])
def test_agent_plays_a_whole_episode(fixture: str, request: pytest.FixtureRequest, make_env: Any) -> None:
    backend: TransformersBackend = request.getfixturevalue(fixture)
    agent = HFVLMAgent(backend, GenerationSettings(max_new_tokens=8, seed=0))
    env = make_env()
    texts, info = play(agent, env)
    # A random model never follows the protocol: every turn is invalid and the episode is truncated.
    assert len(texts) == env.unwrapped.config.max_turns and all(isinstance(t, str) for t in texts)
    assert "reward_components" in info and info["final_answer"] is None
    generation = agent.last_generation
    assert generation is not None and len(generation.token_ids) <= 8 and generation.prompt_ids


def test_greedy_agent_is_deterministic_and_reads_the_windowed_context(
    tiny_model_dir: Path, make_env: Any, tiny_backend: TransformersBackend
) -> None:
    agent = make_hf_agent(tiny_model_dir, max_new_tokens=6, device="cpu")
    assert agent.settings.do_sample is False
    env = make_env()
    obs, info = env.reset(seed=0, options={"pair_index": 2})
    first = agent.act(obs, info)
    assert agent.act(obs, info) == first
    expected = tiny_backend.generate([to_chat_messages(info["context"])], GenerationSettings.greedy(max_new_tokens=6))
    assert first == expected[0].text
    assert agent.last_generation.prompt_ids == expected[0].prompt_ids


def test_sampling_agent_uses_paper_settings_and_fresh_seeds(tiny_backend: TransformersBackend, make_env: Any) -> None:
    agent = HFVLMAgent(tiny_backend, GenerationSettings(max_new_tokens=6, seed=3))
    assert (agent.settings.temperature, agent.settings.top_p, agent.settings.top_k) == (1.0, 0.95, 40)
    assert GenerationSettings().max_new_tokens == 2048
    obs, info = make_env().reset(seed=0, options={"pair_index": 1})
    samples = {agent.act(obs, info) for _ in range(3)}
    assert len(samples) > 1, "each call samples with a new seed"
    agent.reset(seed=5)
    first = agent.act(obs, info)
    agent.reset(seed=5)
    assert agent.act(obs, info) == first, "an episode seed (eval runner) makes sampling reproducible"


def test_act_batch_matches_single_greedy_acts(tiny_backend: TransformersBackend, make_env: Any) -> None:
    agent = HFVLMAgent(tiny_backend, GenerationSettings.greedy(max_new_tokens=5))
    resets = [make_env().reset(seed=0, options={"pair_index": i}) for i in (0, 3)]
    batch = agent.act_batch([o for o, _ in resets], [i for _, i in resets])
    assert batch == [agent.act(o, i) for o, i in resets]


def test_scripted_agent_turns_reach_the_env(
    tiny_backend: TransformersBackend, make_env: Any, turns: SimpleNamespace
) -> None:
    """A forced tool call and final answer travel agent -> env -> context -> next prompt intact."""
    scripted = iter([turns.tool([2, 20]), turns.final()])

    class Forced(HFVLMAgent):
        def act(self, observation: Any, info: dict[str, Any]) -> str:
            forced = [tiny_backend.encode_completion(next(scripted))]
            conv = [to_chat_messages(info["context"])]
            self.last_generation = tiny_backend.generate(conv, self.settings, forced_token_ids=forced)[0]
            return self.last_generation.text

    env = make_env()
    texts, info = play(Forced(tiny_backend, GenerationSettings(max_new_tokens=4)), env)
    assert texts == [turns.tool([2, 20]), turns.final()]
    assert info["tool_calls"] == 1 and info["final_answer"] == {"TA": 1, "VQ": 1, "MQ": 0, "OA": 1}


def test_agent_needs_info() -> None:
    agent = HFVLMAgent(backend=SimpleNamespace(generate=lambda conversations, settings: []))
    with pytest.raises(TypeError, match="info"):
        agent({"text": "x"})


def test_vr_env_eval_with_the_hf_agent(tiny_model_dir: Path, tmp_path: Path) -> None:
    """``vr-env eval --agent hf --model PATH`` goes through ``make_hf_agent`` and ``act_batch``."""
    import json

    from vr_env.cli import main

    out = tmp_path / "eval"
    args = ["eval", "--agent", "hf", "--model", str(tiny_model_dir), "--dataset-arg", "n=2"]
    args += ["--env-arg", "frames_per_video=16", "--agent-arg", "max_new_tokens=6", "--agent-arg", "device=cpu"]
    assert main([*args, "--num-envs", "2", "--out", str(out), "--no-plots", "--no-progress"]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2


def test_eval_batches_hf_turns_across_episodes_and_saves_turn_records(
    tiny_backend: TransformersBackend, tiny_model_dir: Path, tmp_path: Path
) -> None:
    import json

    from agents.recorder import EpisodeRecorder
    from vr_env import cli
    from vr_env.eval import evaluate

    class Counting:
        def __init__(self, inner: TransformersBackend) -> None:
            self.inner, self.batches = inner, []

        def generate(self, conversations: Any, settings: GenerationSettings, **kw: Any) -> Any:
            self.batches.append(len(conversations))
            return self.inner.generate(conversations, settings, **kw)

    backend = Counting(tiny_backend)
    agent = HFVLMAgent(backend, GenerationSettings.greedy(max_new_tokens=4))  # type: ignore[arg-type]
    recorder = EpisodeRecorder(tmp_path / "records.jsonl")
    env = {"frames_per_video": 16, "max_tool_calls": 2, "dataset_kwargs": {"n": 4}}
    metrics = evaluate(
        agent, env, limit=4, num_envs=4, progress=False, on_turn=recorder.on_turn, on_episode=recorder.on_episode
    )
    # A random model breaks the protocol every turn: 4 episodes x 3 turns, generated 4 rows at a time.
    assert metrics["n"] == 4 and metrics["invalid_turn_rate"] > 0 and backend.batches == [4, 4, 4]
    rows = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(len(r["turns"]) == 3 for r in rows)
    episode = next(e for e in recorder.episodes if e.pair_index == 0)
    first = episode.turns[0]
    assert first.prompt_ids == tiny_backend.encode([first.messages()])["input_ids"][0].tolist()
    assert all(t.completion_ids and len(t.logprobs) == len(t.completion_ids) for t in episode.turns)

    out = tmp_path / "cli"
    args = ["eval", "--agent", "hf", "--model", str(tiny_model_dir), "--agent-arg", "max_new_tokens=4"]
    args += [
        "--dataset-arg",
        "n=2",
        "--limit",
        "2",
        "--env-arg",
        "frames_per_video=16",
        "--env-arg",
        "max_tool_calls=1",
    ]
    assert cli.main([*args, "--out", str(out), "--save-records", "--no-plots", "--no-progress"]) == 0
    saved = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(saved) == 2 and all(t["prompt_ids"] and t["completion_ids"] for r in saved for t in r["turns"])
