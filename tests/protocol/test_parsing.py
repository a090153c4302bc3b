from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr_env.protocol.parsing import TOOL_NAME, parse_answer, parse_tool_call, parse_turn

FRAGMENTS = st.sampled_from(
    [
        "<Snapshot>",
        "</Snapshot>",
        "<think>",
        "</Think>",
        "<Answer>",
        "</answer>",
        "<Recommend Answer>",
        "</Recommend Answer>",
        "<tool_call>",
        "</tool_call>",
        "TA=",
        "OA:",
        "CF=",
        "1",
        "2",
        "0",
        "9",
        ",",
        "{",
        "}",
        '"name"',
        '"select_frames"',
        '"arguments"',
        '"target_frames"',
        "[",
        "]",
        ":",
        " ",
        "\n",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises_and_outcome_is_defined(text: str) -> None:
    turn = parse_turn(text)
    assert turn.text == text
    assert turn.format_ok == (not turn.format_problems)
    if turn.answer is not None:
        assert turn.answer.kind in ("final", "recommend")
        assert all(v in (0, 1, 2) for v in turn.answer.values.values())
    if turn.tool_call is not None:
        assert (turn.tool_call.error is None) == (turn.tool_call.frames is not None)


@settings(max_examples=400, deadline=None)
@given(st.lists(FRAGMENTS, max_size=40).map("".join))
def test_protocol_like_fragments_never_raise(text: str) -> None:
    turn = parse_turn(text)
    # Either a usable answer / call, or at least one named problem explains why not.
    usable = (turn.answer is not None and turn.answer.is_complete) or (
        turn.tool_call is not None and turn.tool_call.error is None
    )
    assert usable or turn.format_problems


@pytest.mark.parametrize(
    "text",
    [
        "<Answer>TA=1, VQ=2, MQ=0, OA=1</Answer>",
        "<answer>  oa = 1 ,mq=0 vq=2 ta=1 </ANSWER>",
        "< Final Answer >TA:1 VQ:2 MQ:0 OA:1</final answer>",
        "<final_answer>OA=1, TA=1, VQ=2, MQ=0</final_answer>",
    ],
)
def test_final_answer_spellings(text: str) -> None:
    turn = parse_turn("<Snapshot>s</Snapshot><Think>t</Think>" + text)
    assert turn.answer is not None and turn.answer.kind == "final"
    assert turn.answer.values == {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}
    assert turn.format_ok


def test_recommended_answer_with_tool_call() -> None:
    call = json.dumps({"name": TOOL_NAME, "arguments": {"target_frames": [4, 60]}})
    turn = parse_turn(
        f"<snapshot>x</snapshot><THINK>y</THINK><Recommend Answer>CF=3, TA=2,VQ=2,MQ=2,OA=2</Recommend Answer>"
        f"<tool_call>{call}</tool_call>"
    )
    assert turn.format_ok, turn.format_problems
    assert turn.answer.kind == "recommend" and turn.answer.confidence == 3
    assert turn.tool_call.frames == (4, 60)


def test_only_last_tool_call_counts() -> None:
    a = '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [1]}}</tool_call>'
    b = '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [2, 3]}}</tool_call>'
    turn = parse_turn(a + b)
    assert turn.tool_call.frames == (2, 3) and turn.num_tool_calls == 2
    assert any("only the last" in p for p in turn.format_problems)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"arguments": {}}', 'no "name"'),
        ('{"name": "zoom", "arguments": {}}', "unknown tool"),
        ('{"name": "select_frames"}', "target_frames"),
        ('{"name": "select_frames", "arguments": {"target_frames": "abc"}}', "list of frame numbers"),
        ('{"name": "select_frames", "arguments": {"target_frames": [1.5]}}', "whole frame numbers"),
        ('{"name": "select_frames", "arguments": {"target_frames": [true]}}', "whole frame numbers"),
    ],
)
def test_bad_tool_calls_are_named(raw: str, fragment: str) -> None:
    call = parse_tool_call(raw)
    assert call.frames is None and call.error is not None and fragment in call.error


def test_arguments_as_json_string_are_accepted() -> None:
    call = parse_tool_call('{"name": "select_frames", "arguments": "{\\"target_frames\\": [5, 6]}"}')
    assert call.frames == (5, 6) and call.error is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("TA=1, VQ=1, MQ=1", "missing OA"),
        ("TA=1, VQ=1, MQ=1, OA=3", "OA=3"),
        ("TA=1,TA=2,VQ=1,MQ=1,OA=1", "more than once"),
    ],
)
def test_answer_problems(body: str, problem: str) -> None:
    answer = parse_answer(body, "final")
    assert not answer.is_complete
    assert any(problem in p for p in answer.problems)


def test_recommend_needs_confidence() -> None:
    assert not parse_answer("TA=1, VQ=1, MQ=1, OA=1", "recommend").is_complete
    assert parse_answer("TA=1, VQ=1, MQ=1, OA=1, CF=1", "recommend").is_complete


def test_final_answer_with_tool_call_is_a_format_problem() -> None:
    turn = parse_turn(
        "<Snapshot>s</Snapshot><Think>t</Think><Answer>TA=1,VQ=1,MQ=1,OA=1</Answer>"
        '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [1]}}</tool_call>'
    )
    assert turn.answer.kind == "final" and not turn.format_ok


def test_unclosed_tool_call_is_still_read() -> None:
    turn = parse_turn('<tool_call>{"name": "select_frames", "arguments": {"target_frames": [7]}}')
    assert turn.tool_call.frames == (7,)
    assert any("not closed" in p for p in turn.format_problems)


def test_non_string_input_is_a_problem_not_a_crash() -> None:
    assert not parse_turn(None).format_ok  # type: ignore[arg-type]


# Turns in the official format of the paper's appendix (tags, answer lines, call JSON on its own
# lines), with our own contents; and the released code's <synthesis> spelling of <Snapshot>.
OFFICIAL_CALL = (
    "<Snapshot>Video 1: the dog stays sharp. Video 2: the fur smears in frame 60.</Snapshot>\n"
    "<Think>The middle of video 2 may hide more artifacts; look closer.</Think>\n"
    "<Recommend Answer>TA=1, VQ=1, MQ=0, OA=1, CF=2</Recommend Answer>\n"
    '<tool_call>\n{"name": "select_frames", "arguments": {"target_frames": [12, 24, 60, 72]}}\n</tool_call>'
)
OFFICIAL_FINAL = (
    "<Snapshot>Frame 72 confirms the smear.</Snapshot>\n<Think>Video 1 is better on quality.</Think>\n"
    "<Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>"
)
OFFICIAL_FINAL_SPELLED = (
    "<snapshot>v2 flickers</snapshot><think>v1 wins</think><final answer>TA = 0, VQ = 1, MQ = 1, OA = 1</final answer>"
)


@pytest.mark.parametrize(
    ("text", "kind", "values", "confidence", "frames"),
    [
        (OFFICIAL_CALL, "recommend", {"TA": 1, "VQ": 1, "MQ": 0, "OA": 1}, 2, (12, 24, 60, 72)),
        (OFFICIAL_FINAL, "final", {"TA": 1, "VQ": 1, "MQ": 0, "OA": 1}, None, None),
        (OFFICIAL_FINAL_SPELLED, "final", {"TA": 0, "VQ": 1, "MQ": 1, "OA": 1}, None, None),
    ],
)
def test_official_format_samples_parse(text: str, kind: str, values: dict, confidence, frames) -> None:
    for variant in (text, text.replace("<Snapshot>", "<synthesis>").replace("</Snapshot>", "</synthesis>")):
        turn = parse_turn(variant)
        assert turn.format_ok, turn.format_problems
        assert turn.snapshot and turn.think
        assert (turn.answer.kind, turn.answer.values, turn.answer.confidence) == (kind, values, confidence)
        assert (turn.tool_call.frames if turn.tool_call else None) == frames


def test_synthesis_is_read_as_snapshot() -> None:
    turn = parse_turn(
        "<synthesis>v1 sharper</synthesis>\n<think>enough</think>\n<recommend answer>TA=1, VQ=1, MQ=1, OA=1, CF=1"
        '</recommend answer>\n<tool_call>{"name": "select_frames", "arguments": {"target_frames": [3]}}</tool_call>'
    )
    assert turn.format_ok and turn.snapshot == "v1 sharper" and turn.tool_call.frames == (3,)
