"""Regression tests for issue 8, defects 1 and 5: the parser never raises and is linear-time."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr_env.protocol import tags as tags_module
from vr_env.protocol.parsing import parse_tool_call, parse_turn
from vr_env.protocol.tags import scan_tags

CALL = '<tool_call>{"name": "select_frames", "arguments": %s}</tool_call>'
HEAD = "<Snapshot>s</Snapshot><Think>t</Think><Recommend Answer>TA=1,VQ=1,MQ=1,OA=1,CF=2</Recommend Answer>"
DEEP = "[" * 100_000

BAD_ARGUMENTS = [
    '{"target_frames": [NaN]}',
    '{"target_frames": [Infinity]}',
    '{"target_frames": [-Infinity, 3]}',
    '{"target_frames": [1e400]}',
    '{"target_frames": [-1e400]}',
    '{"target_frames": "[NaN]"}',
    '{"target_frames": "[1e400]"}',
    '{"target_frames": "' + DEEP + '"}',
    '"' + DEEP + '"',
    '"{\\"target_frames\\": ' + DEEP + '}"',
    '{"target_frames": [' + "9" * 5000 + "]}",
    '{"target_frames": [' + "9" * 4000 + "]}",
    '{"target_frames": [1.5]}',
    '{"target_frames": [[1]]}',
    DEEP,
]


@pytest.mark.parametrize("arguments", BAD_ARGUMENTS, ids=range(len(BAD_ARGUMENTS)))
def test_adversarial_tool_arguments_give_a_tool_error(arguments: str) -> None:
    turn = parse_turn(HEAD + CALL % arguments)
    assert turn.tool_call is not None
    assert turn.tool_call.error is not None or turn.tool_call.frames is not None
    if turn.tool_call.error is not None:
        assert len(turn.tool_call.error) < 300
    assert not turn.format_ok or turn.tool_call.frames is not None


def test_whole_floats_still_count_as_frames() -> None:
    assert parse_tool_call('{"name": "select_frames", "arguments": {"target_frames": [3.0, 7]}}').frames == (3, 7)


def test_parse_turn_never_raises_even_if_internals_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("vr_env.protocol.parsing.scan_tags", broken)
    turn = parse_turn("<answer>TA=1</answer>")
    assert not turn.format_ok and "could not be read" in turn.format_problems[0]


# ---- defect 5: linear-time tag scanning ----

_REFERENCE = {
    kind: re.compile(r"<\s*" + pattern + r"\s*>(.*?)<\s*/\s*" + pattern + r"\s*>", re.IGNORECASE | re.DOTALL)
    for kind, pattern in tags_module.TAG_KINDS.items()
}
PIECES = st.sampled_from(
    ["<answer>", "</answer>", "< Final Answer >", "</final_answer>", "<think>", "</ think>", "<Snapshot>", "</snapshot>",
     "<recommend answer>", "</Recommended-Answer>", "<tool_call>", "</tool_call>", "< /answer>", "<", ">", "/", "x", " ",
     "\n", "answer", "TA=1"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_scanner_equals_the_regex_definition(text: str) -> None:
    blocks = scan_tags(text)
    for kind, reference in _REFERENCE.items():
        assert blocks.bodies(kind) == reference.findall(text), kind


@pytest.mark.parametrize(
    "tag", ["<answer>", "<snapshot>", "<tool_call>", "<think>", "<Recommend Answer>", "<", "</answer>"]
)
def test_adversarial_turn_parses_in_linear_time(tag: str) -> None:
    normal = HEAD + CALL % '{"target_frames": [1, 2, 3]}'
    adversarial = (tag * (16384 // len(tag)))[:16384]
    assert len(adversarial) >= 16000

    def best_of(text: str, repeat: int) -> float:
        times = []
        for _ in range(repeat):
            start = time.process_time()
            parse_turn(text)
            times.append(time.process_time() - start)
        return min(times)

    per_char_normal = best_of(normal, 20) / len(normal)
    per_char_adversarial = best_of(adversarial, 3) / len(adversarial)
    # Quadratic scanning made this ratio ~1000x for 16 KB; linear scanning keeps it a small constant.
    assert per_char_adversarial < 50 * per_char_normal + 2e-6, (per_char_adversarial, per_char_normal)


def test_scanning_work_grows_linearly() -> None:
    """16x the text costs about 16x the CPU time (quadratic scanning would cost 256x)."""

    def timed(n: int) -> float:
        text = "<answer>" * n
        return min(_time(lambda: parse_turn(text)) for _ in range(5))

    small, large = timed(1000), timed(16000)
    assert large < 64 * small + 0.02, (small, large)


def _time(fn: object) -> float:
    start = time.process_time()
    fn()  # type: ignore[operator]
    return time.process_time() - start
