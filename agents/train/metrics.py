"""Turn-level protocol statistics of recorded episodes: format-valid turns, tool calls, accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.records import EpisodeRecord, TurnRecord
from vr_env.protocol.parsing import parse_turn


def turn_format_valid(turn: TurnRecord) -> bool:
    """The turn parses without a protocol deviation, the env accepted it and it ended by itself."""
    return parse_turn(turn.text).format_ok and turn.invalid_reason is None and turn.finish_reason == "stop"


def turn_called_tool(turn: TurnRecord) -> bool:
    """The turn's tool call was executed (well formed, frames in range, a call left)."""
    parsed = parse_turn(turn.text)
    return parsed.tool_call is not None and parsed.tool_call.error is None and turn.invalid_reason is None


def fill_format_problems(episodes: Sequence[EpisodeRecord]) -> None:
    """Set each turn's ``format_problems`` from the protocol parser (rollout records leave them empty)."""
    for episode in episodes:
        for turn in episode.turns:
            turn.format_problems = list(parse_turn(turn.text).format_problems)


def protocol_stats(episodes: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Format-valid turn rate, tool-call turn rate, episodes that used a tool / finished / were right."""
    turns = [t for e in episodes for t in e.turns]
    n_turns, n_episodes = max(len(turns), 1), max(len(episodes), 1)
    return {
        "episodes": len(episodes),
        "turns": len(turns),
        "format_valid_turn_rate": sum(turn_format_valid(t) for t in turns) / n_turns,
        "tool_call_turn_rate": sum(turn_called_tool(t) for t in turns) / n_turns,
        "episode_tool_use_rate": sum(e.used_tool for e in episodes) / n_episodes,
        "finished_rate": sum(e.terminated for e in episodes) / n_episodes,
        "well_formed_episode_rate": sum(all(turn_format_valid(t) for t in e.turns) and e.terminated for e in episodes)
        / n_episodes,
        "correct_rate": sum(e.correct for e in episodes) / n_episodes,
        "mean_completion_tokens": sum(len(t.completion_ids or ()) for t in turns) / n_turns,
    }
