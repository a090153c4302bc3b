from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vr_env  # noqa: F401  (registers VRJudge-v0)
from vr_env.context import to_chat_messages
from vr_env.env import VRJudgeEnv

FMT = "<Snapshot>seen</Snapshot><Think>reasoning</Think>"


def tool_turn(answer: str, frames: list[int]) -> str:
    call = json.dumps({"name": "select_frames", "arguments": {"target_frames": frames}})
    return f"{FMT}<Recommend Answer>{answer}</Recommend Answer><tool_call>{call}</tool_call>"


def final_turn(answer: str) -> str:
    return f"{FMT}<Answer>{answer}</Answer>"


@pytest.fixture
def env(pairs) -> VRJudgeEnv:
    return VRJudgeEnv(dataset=pairs, render_mode="rgb_array")


def test_registration_both_ways() -> None:
    assert "VRJudge-v0" in gym.registry
    env = gym.make("vr_env:VRJudge-v0", frames_per_video=16, max_tool_calls=2)
    assert env.unwrapped.config.total_frames == 32 and env.unwrapped.config.max_turns == 3
    env.close()
    gym.make("VRJudge-v0").close()


def test_check_env_passes(pairs) -> None:
    check_env(gym.make("vr_env:VRJudge-v0", dataset=pairs, render_mode="rgb_array").unwrapped)


def test_check_env_passes_on_default_synthetic() -> None:
    check_env(gym.make("vr_env:VRJudge-v0").unwrapped)


def test_scripted_episode_two_tool_calls_then_final(env: VRJudgeEnv) -> None:
    obs, info = env.reset(seed=0, options={"pair_index": 0})  # labels TA=1, VQ=2, MQ=0, OA=1
    assert info["tool_calls"] == 0 and obs["frame_mask"].sum() == 8
    obs, r1, term, trunc, info = env.step(tool_turn("TA=2, VQ=2, MQ=0, OA=2, CF=3", [1, 2, 3]))
    assert (r1, term, trunc) == (0.0, False, False)
    assert obs["frame_ids"][8:11].tolist() == [1, 2, 3] and obs["frame_mask"].sum() == 11
    obs, r2, term, trunc, info = env.step(tool_turn("TA=1, VQ=1, MQ=0, OA=1, CF=2", [50, 60]))
    assert r2 == 0.0 and info["tool_calls"] == 2 and info["frames_fetched"] == 5
    # p = 1: round 1's images are evicted, round 2's are visible.
    assert obs["frame_ids"][8:10].tolist() == [50, 60] and obs["frame_mask"].sum() == 10
    obs, r3, term, trunc, info = env.step(final_turn("TA=1, VQ=2, MQ=0, OA=1"))
    assert term and not trunc
    first = 0.5 * 0 + 0.5 * 2 / 3
    comps = info["reward_components"]
    assert comps["format"] == 1.0 and comps["accuracy"] == 1.0
    assert comps["cot_gain"] == pytest.approx(0.2 * (1 - first))
    assert r3 == pytest.approx(2 + 0.2 * (1 - first)) == pytest.approx(comps["return"])
    assert info["labels"] == {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}
    assert info["final_answer"] == {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1} and info["used_tool"]


def test_frames_are_the_requested_ones(env: VRJudgeEnv) -> None:
    _, info = env.reset(options={"pair_index": 1})
    _, _, _, _, info = env.step(tool_turn("TA=1,VQ=1,MQ=1,OA=1,CF=1", [1, 48, 49, 96]))
    frames = info["context"].turns[-1].frames
    assert [(f.video, f.position) for f in frames] == [(1, 0), (1, 47), (2, 0), (2, 47)]
    # GradientClip brightness = base + raw index: video 2 of pair 1 has base 110.
    assert frames[2].image.mean() > frames[0].image.mean()


def test_visible_images_never_exceed_bound_and_evicted_keep_text(pairs) -> None:
    for p in (0, 1, 2):
        env = VRJudgeEnv(dataset=pairs, memory_window=p, max_tool_calls=5)
        env.reset(seed=p)
        bound = env.config.max_visible_frames
        for round_ in range(5):
            obs, _, term, trunc, info = env.step(
                tool_turn("TA=1,VQ=1,MQ=1,OA=1,CF=1", list(range(1 + 8 * round_, 9 + 8 * round_)))
            )
            ctx = info["context"]
            assert len(ctx.visible_frame_ids()) <= bound and obs["frame_mask"].sum() <= bound
            evicted = [t for t in ctx.turns if t.evicted]
            assert len(evicted) == max(0, round_ + 1 - p)
            messages = to_chat_messages(ctx)
            n_images = sum(c["type"] == "image" for m in messages for c in m["content"])
            assert n_images == len(ctx.visible_frame_ids())
            texts = " ".join(c["text"] for m in messages for c in m["content"] if c["type"] == "text")
            for turn in evicted:
                assert turn.text in texts
                assert all(f"{f.label} [image no longer in memory]" in texts for f in turn.frames)


def test_invalid_turns_get_feedback_and_penalty(env: VRJudgeEnv) -> None:
    env.reset(options={"pair_index": 0})
    cases = [
        ("hello", "no answer and no tool call"),
        (tool_turn("TA=1,VQ=1,MQ=1,OA=1,CF=1", [0, 5]), "numbered 1..96"),
        (tool_turn("TA=1,VQ=1,MQ=1,OA=1,CF=1", list(range(1, 12))), "at most 8"),
    ]
    for text, fragment in cases:
        obs, reward, term, trunc, info = env.step(text)
        assert reward == pytest.approx(-0.1)
        assert fragment in info["invalid_reason"] and fragment in obs["text"]
        assert info["tool_calls"] == 0 and not term
        if trunc:
            break


def test_turn_limit_truncates_and_scores_last_provisional(pairs) -> None:
    env = VRJudgeEnv(dataset=pairs, max_tool_calls=1)
    env.reset(options={"pair_index": 0})
    _, r, term, trunc, _ = env.step(tool_turn("TA=1,VQ=2,MQ=0,OA=1,CF=1", [5]))
    assert not (term or trunc)
    # The tool budget is spent: another call is an invalid turn, and the last allowed turn truncates.
    obs, r, term, trunc, info = env.step(tool_turn("TA=1,VQ=2,MQ=0,OA=2,CF=1", [6]))
    assert trunc and not term and "no tool calls left" in info["invalid_reason"]
    comps = info["reward_components"]
    assert comps["format"] == 0.0 and comps["accuracy"] == pytest.approx(0.5)
    assert r == pytest.approx(comps["total"] - 0.1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(final_turn("TA=1,VQ=2,MQ=0,OA=1"))


def test_incomplete_final_answer_is_invalid_not_terminal(env: VRJudgeEnv) -> None:
    env.reset(options={"pair_index": 0})
    _, reward, term, _, info = env.step(final_turn("TA=1, OA=1"))
    assert not term and reward == pytest.approx(-0.1) and "incomplete" in info["invalid_reason"]


def test_over_long_turn_is_penalized(pairs) -> None:
    env = VRJudgeEnv(dataset=pairs, max_action_length=50)
    env.reset(options={"pair_index": 0})
    _, reward, _, _, info = env.step(final_turn("TA=1,VQ=2,MQ=0,OA=1") + " " * 100)
    assert reward == pytest.approx(-0.1) and "limit is 50" in info["invalid_reason"]


def test_non_text_action_is_a_clear_error(env: VRJudgeEnv) -> None:
    env.reset()
    with pytest.raises(TypeError, match="str"):
        env.step(42)  # type: ignore[arg-type]


def test_determinism_same_seed_same_everything(pairs) -> None:
    def run(seed: int) -> tuple:
        env = VRJudgeEnv(dataset=pairs)
        obs, info = env.reset(seed=seed)
        env.action_space.seed(seed)
        trace = [info["pair_id"], obs["frames"].tobytes()]
        for action in (env.action_space.sample(), tool_turn("TA=1,VQ=1,MQ=1,OA=1,CF=1", [3, 70])):
            obs, r, term, trunc, info = env.step(action)
            trace += [obs["frames"].tobytes(), obs["text"], r]
            if term or trunc:
                break
        return tuple(trace)

    assert run(3) == run(3)
    assert len({run(s)[0] for s in range(8)}) > 1  # the pair is drawn from np_random


def test_pinned_pair_and_swap_mirror_labels(env: VRJudgeEnv) -> None:
    _, plain = env.reset(options={"pair_index": 0})
    _, swapped = env.reset(options={"pair_index": 0, "swap": True})
    assert plain["pair_id"] == swapped["pair_id"] and swapped["swapped"]
    ctx_plain, ctx_swap = plain["context"], swapped["context"]
    img_plain = {f.frame_id: f.image for f in ctx_plain.visible_frames()}
    img_swap = {f.frame_id: f.image for f in ctx_swap.visible_frames()}
    assert np.array_equal(img_plain[7], img_swap[55]) and np.array_equal(img_plain[55], img_swap[7])
    *_, info = env.step(final_turn("TA=2, VQ=1, MQ=0, OA=2"))  # the mirrored truth of pair 0
    assert info["labels"] == {"TA": 2, "VQ": 1, "MQ": 0, "OA": 2} and info["reward_components"]["accuracy"] == 1.0


@pytest.mark.parametrize("options", [{"pair_index": 99}, {"pair_index": "1"}, {"swap": "maybe"}, {"colour": 1}])
def test_bad_reset_options(env: VRJudgeEnv, options: dict) -> None:
    with pytest.raises(ValueError):
        env.reset(options=options)


def test_bad_config_is_a_clear_error(pairs) -> None:
    with pytest.raises(ValueError, match="initial_frames"):
        VRJudgeEnv(dataset=pairs, initial_frames=3)
    with pytest.raises(TypeError, match="unknown VRJudge-v0 argument"):
        VRJudgeEnv(dataset=pairs, frames=3)
    with pytest.raises(ValueError, match="reward preset"):
        VRJudgeEnv(dataset=pairs, reward="nope")


def test_render_shows_visible_frames(env: VRJudgeEnv) -> None:
    env.reset(seed=0)
    image = env.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_action_space_samples_are_handled(env: VRJudgeEnv) -> None:
    env.action_space.seed(0)
    for episode in range(5):
        env.reset(seed=episode)
        for _ in range(env.config.max_turns):
            obs, reward, term, trunc, info = env.step(env.action_space.sample())
            assert env.observation_space.contains(obs)
            if term or trunc:
                break
        assert term or trunc


def _make(pairs):
    return lambda: VRJudgeEnv(dataset=pairs, frames_per_video=16)


def test_sync_vector_env(pairs) -> None:
    envs = gym.vector.SyncVectorEnv([_make(pairs) for _ in range(3)])
    obs, infos = envs.reset(seed=[0, 0, 0], options={"pair_index": 2})
    assert obs["frames"].shape[0] == 3 and len(obs["text"]) == 3
    obs, rewards, term, trunc, infos = envs.step([final_turn("TA=0,VQ=0,MQ=0,OA=0")] * 3)
    assert term.all() and np.allclose(rewards, 2.0)
    envs.close()


def test_async_vector_env_with_shared_memory(pairs) -> None:
    envs = gym.vector.AsyncVectorEnv([_make(pairs) for _ in range(2)])
    obs, _ = envs.reset(seed=1)
    assert obs["frames"].shape == (2, 16, 112, 112, 3) and all("Text prompt" in t for t in obs["text"])
    obs, rewards, term, trunc, _ = envs.step([tool_turn("TA=1,VQ=1,MQ=1,OA=1,CF=1", [2]), "bad"])
    assert obs["frame_mask"].sum(axis=1).tolist() == [9, 8] and rewards.tolist() == [0.0, -0.1]
    envs.close()


def _with_missing_video(pairs, index: int):
    from dataclasses import replace

    from vr_env.data.base import PairDataset
    from vr_env.data.records import VideoRef

    records = list(pairs)
    records[index] = replace(records[index], video_2=VideoRef("/nonexistent/clip.mp4"))
    return PairDataset(records, name="with-missing")


def test_unreadable_video_pinned_raises_naming_the_file(pairs) -> None:
    from vr_env.video.errors import VideoError

    env = VRJudgeEnv(dataset=_with_missing_video(pairs, 0))
    with pytest.raises(VideoError, match=r"/nonexistent/clip\.mp4"):
        env.reset(options={"pair_index": 0})


def test_unreadable_video_drawn_pair_is_skipped_and_reported(pairs) -> None:
    env = VRJudgeEnv(dataset=_with_missing_video(pairs, 0))
    seen_skip = False
    for seed in range(30):
        _, info = env.reset(seed=seed)
        assert info["pair_index"] != 0
        if "skipped_pairs" in info:
            seen_skip = True
            assert "/nonexistent/clip.mp4" in info["skipped_pairs"][0]["reason"]
    assert seen_skip


def test_frames_that_fail_mid_episode_are_reported_without_penalty(pairs) -> None:
    from vr_env.video.errors import VideoError

    env = VRJudgeEnv(dataset=pairs)
    env.reset(options={"pair_index": 0})
    real = env.frame_source

    class Failing:
        def frames(self, ref, *args, **kwargs):
            raise VideoError(ref.path, "truncated file")

    env.frame_source = Failing()
    obs, reward, term, trunc, info = env.step(tool_turn("TA=1,VQ=1,MQ=1,OA=1,CF=1", [3]))
    env.frame_source = real
    assert reward == 0.0 and info["tool_calls"] == 0 and "truncated file" in info["env_error"]
    assert "could not be read" in obs["text"]
