"""The judge service's request and response models (published in ``/openapi.json``, so clients can be generated).

Limits (also in docs/judge-service.md): ``MAX_ITEMS`` items per compare request and groups per
score request, ``MAX_GROUP`` videos per group, ``MAX_REFERENCES`` reference videos per group,
``MAX_PROMPT`` characters per prompt, ``MAX_PATH`` characters per path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.judge.inputs import INLINE_FORMATS

MAX_ITEMS = 256
MAX_GROUP = 64
MAX_REFERENCES = 16
MAX_PROMPT = 8192
MAX_PATH = 4096


class VideoIn(BaseModel):
    """A video: ``path`` (under the server's video root) or ``data`` (base64 file bytes, or ``npy``)."""

    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(
        default=None, max_length=MAX_PATH, description="path relative to (or under) the video root"
    )
    data: str | None = Field(default=None, description="base64 of the video file (or of a .npy frame array)")
    format: str = Field(default="mp4", description=f"format of 'data': one of {list(INLINE_FORMATS)}")


class CompareItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    video_a: VideoIn
    video_b: VideoIn
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[CompareItem] = Field(min_length=1, max_length=MAX_ITEMS)
    both_orders: bool | None = Field(default=None, description="judge both orders (default: the server's setting)")
    trace: bool = Field(default=False, description="include the reasoning traces")


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    videos: list[VideoIn] = Field(min_length=1, max_length=MAX_GROUP)
    anchor: VideoIn | int | list[VideoIn] | None = Field(
        default=None,
        description="anchor mode: an index into videos, a reference video, or a list of reference videos "
        f"(at most {MAX_REFERENCES})",
    )


class ScoreGroupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[GroupIn] = Field(min_length=1, max_length=MAX_ITEMS)
    mode: Literal["round_robin", "sparse", "anchor"] = Field(
        default="round_robin", description="all pairs, k comparisons per video, or against reference videos"
    )
    orders: Literal["balanced", "both", "index"] = Field(
        default="balanced", description="which video is shown first: position-balanced (default), both, index"
    )
    k: int = Field(default=4, ge=2, le=MAX_GROUP, description="sparse mode: comparisons per video (even)")
    soft: bool = Field(default=False, description="use preference probabilities instead of win/tie/loss")
    both_orders: bool | None = Field(default=None, description="also judge every scheduled pair swapped")
    trace: bool = False


# ------------------------------------------------------------------------------------ responses


class TraceTurnOut(BaseModel):
    text: str
    fetched_frames: list[int]
    invalid_reason: str | None


class VerdictOut(BaseModel):
    """One ordered pair's judgement (``video_a`` first): winners 1 = a, 2 = b, 0 = tie; or unscorable."""

    status: Literal["ok", "unscorable"]
    reason: str | None = None
    winners: dict[str, int] | None = Field(default=None, description="TA, VQ, MQ, OA -> 0 | 1 | 2")
    overall: int | None = None
    preference: float | None = Field(default=None, description="P(video_a better) from the model's distribution")
    distribution: dict[str, float] | None = Field(default=None, description="'0', '1', '2' -> p of the OA value")
    turns: int = 0
    tool_calls: int = 0
    agreement: bool | None = None
    dimension_agreement: dict[str, bool] | None = None
    cached: bool = False
    trace: list[TraceTurnOut] = Field(default_factory=list, description="with trace=true: the model's turns")
    orders: list[VerdictOut] = Field(default_factory=list, description="with trace=true: the single-order verdicts")


class CompareResponse(BaseModel):
    verdicts: list[VerdictOut]
    judge_calls: int
    seconds: float


class GroupScoresOut(BaseModel):
    """Scores of one group (``None``: no scorable comparison) with the comparisons behind them."""

    scores: list[float | None] = Field(description="OA score per video, on [0, 1]")
    dimensions: dict[str, list[float | None]] = Field(description="TA, VQ, MQ, OA -> score per video")
    mode: str
    orders: str
    pairs: list[list[int]] = Field(description="(first, second) per verdict; -1 - r: reference video r")
    verdicts: list[VerdictOut]
    judge_calls: int
    generate_calls: int
    seconds: float
    unscorable: dict[str, list[str]] = Field(description="video index -> reasons of its unscorable comparisons")
    first_position_share: float | None = Field(description="share of comparisons won by the first video (0.5: none)")
    order_effect: float | None = Field(description="fitted first-position log-odds (round_robin, sparse)")


class ScoreGroupResponse(BaseModel):
    groups: list[GroupScoresOut]
    seconds: float


class HealthResponse(BaseModel):
    status: Literal["ok", "down"]
    model: str
    settings_key: str
    queue_depth: int
    uptime_s: float


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where in the body: e.g. ['body', 'items', 0, 'prompt']")
    msg: str
    type: str
    input_excerpt: str | None = Field(default=None, description="the start of the offending value (bounded)")


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer: ``detail`` is a message, or the list of invalid fields (422)."""

    detail: str | list[FieldError]


ERRORS = {status: {"model": ErrorResponse} for status in (403, 404, 413, 422, 429, 500, 503, 504)}
