"""Settings of the judge and of its HTTP service: dataclasses whose field help also drives the CLI flags.

Kept free of heavy imports (no torch, no FastAPI) so ``vr-env`` can build its parser from them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from agents.backends.base import GenerationSettings


@dataclass(frozen=True)
class JudgeConfig:
    """How the judge plays a comparison. Defaults: the paper's evaluation (greedy, one order)."""

    max_new_tokens: int = field(default=2048, metadata={"help": "token limit of one judge turn"})
    both_orders: bool = field(
        default=False, metadata={"help": "judge every pair in both orders and combine them (position bias)"}
    )
    probability: bool = field(
        default=True,
        metadata={"help": "compute the overall answer's value distribution (one extra forward pass; transformers)"},
    )
    max_batch_size: int | None = field(
        default=None, metadata={"help": "most episodes in one generation batch (none: all active episodes)"}
    )
    env: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "VRJudge-v0 options (EnvConfig fields, e.g. frames_per_video)"}
    )

    def settings(self) -> GenerationSettings:
        return GenerationSettings.greedy(max_new_tokens=self.max_new_tokens)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ServeConfig:
    """Server settings (``vr-env serve`` flags)."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to bind (loopback by default)"})
    port: int = field(default=8000, metadata={"help": "TCP port"})
    video_root: str | None = field(
        default=None, metadata={"help": "folder whose videos may be named by path (none: only inline videos are taken)"}
    )
    max_inline_bytes: int = field(default=64 << 20, metadata={"help": "largest inline (base64) video, in bytes"})
    max_request_bytes: int = field(default=256 << 20, metadata={"help": "largest request body, in bytes"})
    max_queue: int = field(
        default=512,
        metadata={"help": "backlog bound: a request is admitted while fewer comparisons wait (else 429)"},
    )
    max_batch: int = field(default=32, metadata={"help": "comparisons in one judge batch at most"})
    batch_wait_ms: float = field(default=20.0, metadata={"help": "how long a batch waits for more requests"})
    request_timeout_s: float = field(default=600.0, metadata={"help": "per-request time limit (504 after)"})
    cache_entries: int = field(default=65536, metadata={"help": "verdicts kept in the cache (0: no cache)"})
    threads: int | None = field(
        default=None,
        metadata={"help": "torch CPU threads of the judge (none: torch's default; 1 is fastest on a busy CPU)"},
    )
