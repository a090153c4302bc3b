"""``vr-env score-pairs``: judge groups of generated videos and export preference pairs for DPO.

Input: JSON lines ``{"prompt": str, "videos": [path, ...], "ids": [name, ...] (optional)}``; relative
paths are taken under ``--video-root`` (default: the input file's folder). Each group is judged
round-robin (all pairs, position-balanced; with ``--both-orders`` each pair in both orders, so a
preference for a position alone is a tie and gives no row); every decisive pair becomes one output line ``{"prompt", "chosen",
"rejected", "chosen_index", "rejected_index", "winners", "probability", "agreement"}``. Ties and
unscorable pairs give no line and are counted; a bad input row is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vr_env.commands.argtypes import positive_int
from vr_env.commands.judge_args import add_judge_arguments, build_judge

HELP = "Judge groups of videos round-robin and write DPO preference pairs (chosen/rejected) as JSON lines."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_judge_arguments(parser)
    parser.add_argument("--input", required=True, help="JSON lines: {prompt, videos: [paths], ids?}")
    parser.add_argument("--out", required=True, help="output JSON lines of preference pairs")
    parser.add_argument("--video-root", default=None, help="folder relative video paths are under")
    parser.add_argument("--groups-per-batch", type=positive_int, default=8, help="groups judged in one batch")
    parser.add_argument("--scores-out", default=None, help="also write each group's scores (JSON lines)")


def read_groups(path: Path, root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Valid rows (paths made absolute) and problems naming the line."""
    rows, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt, videos = row["prompt"], row["videos"]
            if not isinstance(prompt, str) or not isinstance(videos, list) or len(videos) < 2:
                raise ValueError("needs a string 'prompt' and a list of at least 2 'videos'")
            ids = row.get("ids") or [str(v) for v in videos]
            if len(ids) != len(videos):
                raise ValueError("'ids' must name every video")
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"{path}:{number}: {error}")
            continue
        paths = [str(p if Path(p).is_absolute() else root / p) for p in videos]
        rows.append({"prompt": prompt, "videos": paths, "ids": [str(i) for i in ids], "line": number})
    return rows, problems


def run(args: argparse.Namespace) -> int:
    from agents.judge.adapters import preference_pairs
    from agents.judge.groups import score_groups

    source = Path(args.input)
    if not source.is_file():
        print(f"error: input file {source} not found", file=sys.stderr)
        return 2
    groups, problems = read_groups(source, Path(args.video_root) if args.video_root else source.parent)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    judge = build_judge(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    totals = {"groups": 0, "pairs": 0, "ties": 0, "unscorable": 0, "judge_calls": 0, "seconds": 0.0}
    shares: list[float] = []
    scores_file = open(args.scores_out, "w", encoding="utf-8") if args.scores_out else None  # noqa: SIM115
    try:
        with out.open("w", encoding="utf-8") as handle:
            for start in range(0, len(groups), args.groups_per_batch):
                chunk = groups[start : start + args.groups_per_batch]
                results = score_groups(judge, [(g["prompt"], g["videos"]) for g in chunk], mode="round_robin")
                for group, result in zip(chunk, results, strict=True):
                    rows = list(preference_pairs(group["prompt"], group["videos"], result, group["ids"]))
                    for row in rows:
                        handle.write(json.dumps(row) + "\n")
                    totals["groups"] += 1
                    totals["pairs"] += len(rows)
                    totals["unscorable"] += sum(not v.ok for v in result.verdicts)
                    totals["ties"] += sum(v.ok and v.overall == 0 for v in result.verdicts)
                    totals["judge_calls"] += result.judge_calls
                    totals["seconds"] += result.seconds
                    if result.first_position_share is not None:
                        shares.append(result.first_position_share)
                    if scores_file is not None:
                        scores_file.write(
                            json.dumps({"line": group["line"], "ids": group["ids"], **result.to_dict()}) + "\n"
                        )
                handle.flush()
    finally:
        if scores_file is not None:
            scores_file.close()
    print(
        f"{totals['groups']} groups: {totals['pairs']} preference pairs, {totals['ties']} ties, "
        f"{totals['unscorable']} unscorable comparisons, {totals['judge_calls']} judge calls in "
        f"{totals['seconds']:.1f} s; {len(problems)} bad input rows -> {out}"
    )
    if shares:
        share = sum(shares) / len(shares)
        print(f"first-position share {share:.2f} (share of comparisons won by the video shown first; 0.50: no bias)")
    return 0
