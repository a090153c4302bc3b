"""A small client for the judge service (standard library HTTP only).

    client = JudgeClient("http://127.0.0.1:8000")
    client.compare("a.mp4", "b.mp4", "a cat jumps").overall  # 1, 2 or 0 (tie)

Videos: a ``str`` is a path on the SERVER (under its video root); ``bytes`` are a video file sent
inline; a numpy array is sent inline as ``npy``. 429 and 503 answers are retried with backoff
(``retries`` times); other errors raise :class:`JudgeServiceError` with the server's message.
"""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.judge.verdict import Verdict


class JudgeServiceError(RuntimeError):
    """The service answered with an error; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def video_payload(video: Any, fmt: str | None = None) -> dict[str, Any]:
    """The JSON form of one video: ``{"path"}``, or ``{"data", "format"}`` for bytes and arrays."""
    if isinstance(video, (str, Path)):
        return {"path": str(video)}
    if isinstance(video, (bytes, bytearray)):
        return {"data": base64.b64encode(bytes(video)).decode("ascii"), "format": fmt or "mp4"}
    if hasattr(video, "detach"):
        video = video.detach().cpu().numpy()
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(video), allow_pickle=False)
    return {"data": base64.b64encode(buffer.getvalue()).decode("ascii"), "format": "npy"}


class JudgeClient:
    """Talks to ``vr-env serve`` at ``base_url``."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", timeout: float = 600.0, retries: int = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries

    # ------------------------------------------------------------------ transport
    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call; JSON in and out. 429/503 are retried (``Retry-After`` or exponential backoff)."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.base_url + path, data=data, method=method)
            if data is not None:
                req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as response:
                    raw = response.read()
                    kind = response.headers.get("Content-Type", "")
                    return json.loads(raw) if "json" in kind else raw.decode()
            except urllib.error.HTTPError as error:
                text = error.read().decode(errors="replace")
                if error.code in (429, 503) and attempt < self.retries:
                    wait = float(error.headers.get("Retry-After") or 0.5 * 2**attempt)
                    time.sleep(min(wait, 30.0))
                    continue
                try:
                    message = json.loads(text).get("detail", text)
                except ValueError:
                    message = text
                raise JudgeServiceError(
                    error.code, message if isinstance(message, str) else json.dumps(message)
                ) from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ API
    def health(self) -> dict[str, Any]:
        return dict(self.request("GET", "/health"))

    def metrics(self) -> dict[str, float]:
        """``/metrics`` parsed into ``{"name{labels}": value}``."""
        out = {}
        for line in str(self.request("GET", "/metrics")).splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def compare_batch(
        self, items: Sequence[tuple[Any, Any, str]], *, both_orders: bool | None = None, trace: bool = False
    ) -> list[Verdict]:
        body = {
            "items": [{"video_a": video_payload(a), "video_b": video_payload(b), "prompt": p} for a, b, p in items],
            "both_orders": both_orders,
            "trace": trace,
        }
        return [Verdict.from_dict(v) for v in self.request("POST", "/v1/compare", body)["verdicts"]]

    def compare(self, video_a: Any, video_b: Any, prompt: str, **kwargs: Any) -> Verdict:
        return self.compare_batch([(video_a, video_b, prompt)], **kwargs)[0]

    def score_groups(
        self,
        groups: Sequence[tuple[str, Sequence[Any]]],
        *,
        mode: str = "round_robin",
        anchors: Sequence[Any] | None = None,
        soft: bool = False,
        both_orders: bool | None = None,
        orders: str = "balanced",
        k: int = 4,
    ) -> list[dict[str, Any]]:
        """Each group's ``{"scores", "dimensions", "pairs", "verdicts", "judge_calls", "unscorable", ...}``.

        ``anchors[g]`` (anchor mode): an index into group ``g``, a reference video, or a list of them.
        """
        payload = []
        for g, (prompt, videos) in enumerate(groups):
            entry: dict[str, Any] = {"prompt": prompt, "videos": [video_payload(v) for v in videos]}
            anchor = None if anchors is None else anchors[g]
            if isinstance(anchor, int):
                entry["anchor"] = anchor
            elif isinstance(anchor, (list, tuple)):
                entry["anchor"] = [video_payload(v) for v in anchor]
            elif anchor is not None:
                entry["anchor"] = video_payload(anchor)
            payload.append(entry)
        body = {"groups": payload, "mode": mode, "soft": soft, "both_orders": both_orders, "orders": orders, "k": k}
        return list(self.request("POST", "/v1/score_group", body)["groups"])

    def score_group(self, prompt: str, videos: Sequence[Any], **kwargs: Any) -> dict[str, Any]:
        anchor = kwargs.pop("anchor", None)
        return self.score_groups([(prompt, videos)], anchors=[anchor], **kwargs)[0]
