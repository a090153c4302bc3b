"""ASGI middleware refusing request bodies over a byte limit with 413 (declared or streamed)."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

#: An oversize body is read and discarded up to this many times the limit before the 413.
DRAIN_FACTOR = 8


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413 (declared or streamed)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        over, received = False, 0
        more = True
        # Read the whole body (discarding it once over the limit, up to DRAIN_FACTOR x the limit) so the
        # client, still sending, gets the 413 instead of a reset connection.
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            if not over:
                body.extend(chunk)
                if len(body) > self.limit:
                    over, received = True, len(body)
                    body = bytearray()
            else:
                received += len(chunk)
                if received > DRAIN_FACTOR * self.limit:
                    break
        if over:
            payload = json.dumps({"detail": f"request body is over the limit of {self.limit} bytes"}).encode()
            headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
