"""The judge on a tiny offline model with scripted turns: verdicts, the answer distribution checked
against a hand-made forward pass, both orders, unscorable cases, traces and batching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.judge.judge import Judge, JudgeConfig
from agents.judge.verdict import Verdict
from vr_env.data.records import PairRecord

ENV = {"frames_per_video": 16, "max_tool_calls": 2}
ANSWER = "<Snapshot>s</Snapshot><Think>t</Think><Answer>TA=1, VQ=2, MQ=0, OA={oa}</Answer>"
TOOL = (
    "<Snapshot>s</Snapshot><Think>t</Think><Recommend Answer>TA=1, VQ=1, MQ=1, OA=1, CF=1</Recommend Answer>"
    '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [2, 20]}}</tool_call>'
)


def clip(level: int, frames: int = 12) -> np.ndarray:
    rng = np.random.default_rng(level)
    return np.clip(rng.normal(level, 20, (frames, 48, 64, 3)), 0, 255).astype(np.uint8)


GOOD, BAD = clip(200), clip(40)


def script(record: PairRecord, turn: int) -> str | None:
    """Prompt-driven judge: 'tool' fetches frames first; 'mute' never answers; 'free' samples;
    otherwise OA points at the brighter video (position independent)."""
    if "mute" in record.prompt:
        return "I cannot decide."
    if "free" in record.prompt:
        return None
    if "tool" in record.prompt and turn == 0:
        return TOOL
    bright = [float(np.mean(v.clip.frames)) if v.clip is not None else 0.0 for v in (record.video_1, record.video_2)]
    return ANSWER.format(oa=1 if bright[0] >= bright[1] else 2)


@pytest.fixture(scope="module")
def judge(tiny_model_dir: Path) -> Judge:
    config = JudgeConfig(max_new_tokens=8, env=ENV)
    made = Judge.from_pretrained(tiny_model_dir, device="cpu", config=config, script=script)
    yield made
    made.close()


def test_verdict_and_distribution_match_a_hand_made_forward_pass(judge: Judge, make_env: Any) -> None:
    import torch

    from vr_env.context import to_chat_messages
    from vr_env.data.inmemory import InMemoryPairs, pair_record

    verdict = judge.compare(GOOD, BAD, "a red car")
    assert verdict.ok and verdict.winners == {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1} and verdict.overall == 1
    assert verdict.turns == 1 and verdict.trace[0].text == ANSWER.format(oa=1)
    # By hand: render the same first context, append the answer up to "OA=", read p(0), p(1), p(2).
    backend = judge.backend
    env = make_env(dataset=InMemoryPairs([pair_record("x", GOOD, BAD, "a red car")]))
    _, info = env.reset(options={"pair_index": 0})
    inputs = backend.encode([to_chat_messages(info["context"])])
    tokenizer = backend.tokenizer
    prefix = tokenizer.encode(ANSWER.format(oa=1).split("OA=")[0] + "OA=", add_special_tokens=False)
    ids = torch.cat([inputs["input_ids"], torch.tensor([prefix])], dim=1)
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
    mm = torch.cat([inputs["mm_token_type_ids"], torch.zeros((1, len(prefix)), dtype=torch.long)], dim=1)
    with torch.inference_mode():
        logits = backend.model(input_ids=ids, attention_mask=torch.ones_like(ids), mm_token_type_ids=mm, **extra).logits
    digits = [tokenizer.convert_tokens_to_ids(str(v)) for v in (0, 1, 2)]
    expected = torch.softmax(logits[0, -1, digits].double(), dim=0).tolist()
    assert [verdict.distribution[v] for v in (0, 1, 2)] == pytest.approx(expected, abs=1e-5)
    assert verdict.preference == pytest.approx(expected[1] + expected[0] / 2, abs=1e-5)


def test_both_orders_agree_for_a_position_independent_judge(judge: Judge) -> None:
    verdict = judge.compare(BAD, GOOD, "a red car", both_orders=True)
    assert verdict.ok and verdict.overall == 2 and verdict.agreement is True
    assert verdict.dimension_agreement == {"TA": False, "VQ": False, "MQ": True, "OA": True}
    assert verdict.winners == {"TA": 0, "VQ": 0, "MQ": 0, "OA": 2}
    forward, backward = verdict.orders
    assert forward.overall == 2 and backward.overall == 1
    assert verdict.distribution[2] == pytest.approx((forward.distribution[2] + backward.distribution[1]) / 2)


def test_unscorable_results_say_why(judge: Judge, tmp_path: Path) -> None:
    text_file = tmp_path / "notes.mp4"
    text_file.write_text("not a video")
    missing, not_video, mute, free, bad_array = judge.compare_batch(
        [
            (tmp_path / "missing.mp4", GOOD, "a red car"),
            (text_file, GOOD, "a red car"),
            (GOOD, BAD, "mute"),
            (GOOD, BAD, "free"),  # an untrained model sampling freely never answers validly
            (np.zeros((4, 8, 8)), GOOD, "a red car"),
        ]
    )
    assert not missing.ok and "unreadable video" in missing.reason and "missing.mp4" in missing.reason
    assert not not_video.ok and "is not a video" in not_video.reason
    assert not mute.ok and mute.reason.startswith("no valid answer within the turn limit (3 turns")
    assert len(mute.trace) == 3 and all(t.invalid_reason for t in mute.trace)
    assert not free.ok and free.reason.startswith("no valid answer") and free.distribution is None
    assert not bad_array.ok and "invalid input" in bad_array.reason and "(4, 8, 8)" in bad_array.reason
    assert mute.preference is None and mute.winners is None and Verdict.unscorable("x").distribution is None


def test_batch_runs_through_one_generation_per_turn_and_traces_fetched_frames(judge: Judge) -> None:
    chw_float = np.transpose(GOOD.astype(np.float32) / 255.0, (0, 3, 1, 2))  # channel-first floats work too
    items = [(GOOD, BAD, "a"), (chw_float, BAD, "c"), (BAD, GOOD, "tool e")]
    run = judge.run(items)
    assert [v.overall for v in run.verdicts] == [1, 1, 2]
    assert run.episodes == 3 and run.generate_calls == 2  # turn 1 for all three, turn 2 for the tool user
    assert run.probability_seconds > 0 and all(v.distribution is not None for v in run.verdicts)
    tool_user = run.verdicts[2]
    assert tool_user.turns == 2 and tool_user.tool_calls == 1
    assert tool_user.trace[0].fetched_frames == (2, 20) and tool_user.trace[1].fetched_frames == ()


def test_settings_key_changes_with_settings(tiny_backend: Any) -> None:
    a = Judge(tiny_backend, JudgeConfig(env=ENV), model_id="m")
    b = Judge(tiny_backend, JudgeConfig(env=ENV, both_orders=True), model_id="m")
    c = Judge(tiny_backend, JudgeConfig(env=ENV), model_id="m")
    assert a.settings_key() != b.settings_key() and a.settings_key() == c.settings_key()
    with pytest.raises(ValueError, match="frames_per_video"):
        Judge(tiny_backend, JudgeConfig(env={"frames_per_video": 0}))
