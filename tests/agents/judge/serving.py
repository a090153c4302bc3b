"""Serving the judge app on a free loopback port in a thread, and raw HTTP helpers, for the server tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agents.judge.config import ServeConfig
from agents.judge.server import serve_in_thread


@contextmanager
def running(judge: Any, **config: Any) -> Iterator[str]:
    """Serve ``judge`` on a free loopback port in a thread; yields the base URL."""
    with serve_in_thread(judge, ServeConfig(**config), start_timeout=30) as url:
        yield url


def post_raw(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
