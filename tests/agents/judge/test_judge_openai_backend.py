"""The judge over an OpenAI-compatible backend (as with ``vllm serve``): a scripted server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from agents.backends.openai_http import OpenAIChatBackend
from agents.judge.judge import Judge, JudgeConfig

ANSWER = "<Snapshot>s</Snapshot><Think>t</Think><Answer>TA=2, VQ=1, MQ=0, OA=1</Answer>"


@pytest.fixture
def chat_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            choice = {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
            payload = json.dumps({"id": "x", "choices": [choice]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_judge_over_an_openai_compatible_server(chat_url: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = chat_url
    backend = OpenAIChatBackend("served-judge", url, api_key="", max_workers=2, backoff=0.0)
    judge = Judge(backend, JudgeConfig(max_new_tokens=64, env={"frames_per_video": 16}), model_id="served-judge")
    frames = np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    verdict = judge.compare(frames, frames[::-1].copy(), "a kite", both_orders=True)
    assert verdict.ok and verdict.distribution is None and verdict.preference is None
    # The server always says OA=1: position-dependent, so the combined overall is a tie.
    assert verdict.agreement is False and verdict.overall == 0 and verdict.winners["MQ"] == 0
    assert len(seen) == 2 and all(body["temperature"] == 0 and body["max_tokens"] == 64 for body in seen)
    judge.close()
