"""The judge's typed answer for one video pair: winners, preference probability, trace, or "unscorable".

Winners follow the protocol: ``1`` = the first video (``video_a``) is better, ``2`` = the second
(``video_b``), ``0`` = tie. ``preference`` is the probability that ``video_a`` is better, from the
model's own distribution over the overall answer's values: ``p(OA=1) + p(OA=0) / 2``. An unscorable
verdict (unreadable video, no valid answer within the turn limit) carries its reason and no numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from vr_env.protocol.labels import LABEL_KEYS, swap_label

Status = Literal["ok", "unscorable"]


@dataclass(frozen=True)
class TraceTurn:
    """One model turn of the judging episode: its text, the frames it asked for, the env's objection."""

    text: str
    fetched_frames: tuple[int, ...] = ()
    invalid_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "fetched_frames": list(self.fetched_frames), "invalid_reason": self.invalid_reason}


@dataclass(frozen=True)
class Verdict:
    """The judgement of one ordered pair (``video_a`` shown first).

    ``winners``: ``{"TA", "VQ", "MQ", "OA"} -> 0 | 1 | 2``. ``distribution``: ``{0, 1, 2} -> p`` of the
    overall answer's value (``None`` when the backend exposes no distribution). ``agreement``: set
    when both orders were judged: whether the swapped run gave the mirrored overall answer;
    ``dimension_agreement`` per key. ``orders``: the single-order verdicts a combined one came from.
    """

    status: Status
    reason: str | None = None
    winners: dict[str, int] | None = None
    distribution: dict[int, float] | None = None
    trace: tuple[TraceTurn, ...] = ()
    turns: int = 0
    tool_calls: int = 0
    agreement: bool | None = None
    dimension_agreement: dict[str, bool] | None = None
    orders: tuple[Verdict, ...] = field(default=(), repr=False)
    cached: bool = False

    @classmethod
    def unscorable(cls, reason: str, **kwargs: Any) -> Verdict:
        return cls(status="unscorable", reason=reason, **kwargs)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def overall(self) -> int | None:
        """Overall winner: 1 (video_a), 2 (video_b), 0 (tie); ``None`` when unscorable."""
        return None if self.winners is None else self.winners.get("OA")

    @property
    def preference(self) -> float | None:
        """P(video_a better) = p(OA=1) + p(OA=0) / 2, from the model's distribution; else ``None``."""
        if self.distribution is None:
            return None
        return float(self.distribution.get(1, 0.0) + 0.5 * self.distribution.get(0, 0.0))

    def mirrored(self) -> Verdict:
        """The same judgement seen with the two videos exchanged (labels and probabilities mirrored)."""
        winners = None if self.winners is None else {k: int(swap_label(v) or 0) for k, v in self.winners.items()}
        dist = (
            None
            if self.distribution is None
            else {0: self.distribution[0], 1: self.distribution[2], 2: self.distribution[1]}
        )
        return replace(self, winners=winners, distribution=dist)

    def to_dict(self, trace: bool = True) -> dict[str, Any]:
        """JSON-ready form (the HTTP API's verdict object)."""
        out: dict[str, Any] = {
            "status": self.status,
            "reason": self.reason,
            "winners": self.winners,
            "overall": self.overall,
            "preference": self.preference,
            "distribution": None if self.distribution is None else {str(k): v for k, v in self.distribution.items()},
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "agreement": self.agreement,
            "dimension_agreement": self.dimension_agreement,
            "cached": self.cached,
        }
        if trace:
            out["trace"] = [t.to_dict() for t in self.trace]
            out["orders"] = [o.to_dict(trace=True) for o in self.orders]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        dist = data.get("distribution")
        return cls(
            status=data["status"],
            reason=data.get("reason"),
            winners=None if data.get("winners") is None else {k: int(v) for k, v in data["winners"].items()},
            distribution=None if dist is None else {int(k): float(v) for k, v in dist.items()},
            trace=tuple(
                TraceTurn(t["text"], tuple(t["fetched_frames"]), t.get("invalid_reason")) for t in data.get("trace", [])
            ),
            turns=int(data.get("turns", 0)),
            tool_calls=int(data.get("tool_calls", 0)),
            agreement=data.get("agreement"),
            dimension_agreement=data.get("dimension_agreement"),
            orders=tuple(cls.from_dict(o) for o in data.get("orders", [])),
            cached=bool(data.get("cached", False)),
        )


def combine_orders(forward: Verdict, backward: Verdict) -> Verdict:
    """One verdict from judging (a, b) and (b, a): ``backward`` is in its own order (b first).

    Where both orders give the same (mirrored) winner it stands; where they disagree the key is a
    tie (0) — a position-dependent answer is not a preference. The distribution is the mean of the
    forward one and the mirrored backward one. Unscorable if either order is.
    """
    if not forward.ok or not backward.ok:
        reason = forward.reason if not forward.ok else backward.reason
        which = "a-first" if not forward.ok else "b-first"
        return Verdict.unscorable(f"{which} order: {reason}", orders=(forward, backward))
    back = backward.mirrored()
    assert forward.winners is not None and back.winners is not None
    agree = {k: forward.winners.get(k) == back.winners.get(k) for k in LABEL_KEYS}
    winners = {k: (forward.winners[k] if agree[k] else 0) for k in LABEL_KEYS}
    distribution = None
    if forward.distribution is not None and back.distribution is not None:
        distribution = {v: 0.5 * (forward.distribution[v] + back.distribution[v]) for v in (0, 1, 2)}
    return Verdict(
        status="ok",
        winners=winners,
        distribution=distribution,
        turns=forward.turns + backward.turns,
        tool_calls=forward.tool_calls + backward.tool_calls,
        agreement=agree["OA"],
        dimension_agreement=agree,
        orders=(forward, backward),
    )
