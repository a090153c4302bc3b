"""Generation through an OpenAI-compatible chat-completions HTTP API (standard library only).

For a hosted teacher (GPT-4o cold-start traces) or a model served by ``vllm serve``. Images travel
as base64 PNG data URLs in ``image_url`` content parts. Requests for a batch run concurrently on a
small thread pool; 429 and 5xx answers are retried with backoff. Hosted APIs expose neither prompt
ids nor sampled ids, so records from this backend carry text (and log-probs when asked for); a vLLM
server returns sampled ids too with ``token_ids=True`` (``return_tokens_as_token_ids``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from agents.backends.base import BackendUnavailableError, Conversation, Generation, GenerationSettings

OPENAI_BASE_URL = "https://api.openai.com/v1"


def image_data_url(image: Any) -> str:
    """A PIL image or uint8 array as a ``data:image/png;base64,...`` URL."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def openai_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """HF chat messages to OpenAI chat messages: text parts and ``image_url`` parts.

    System and assistant turns become plain strings (their text parts joined); user turns keep a
    list of parts in order.
    """
    out = []
    for message in conversation:
        content = message["content"]
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
            continue
        if message["role"] != "user":
            out.append({"role": message["role"], "content": "".join(b["text"] for b in content if b["type"] == "text")})
            continue
        parts: list[dict[str, Any]] = []
        for block in content:
            if block["type"] == "text":
                if parts and parts[-1]["type"] == "text":
                    parts[-1] = {"type": "text", "text": parts[-1]["text"] + block["text"]}
                else:
                    parts.append({"type": "text", "text": block["text"]})
            elif block["type"] == "image":
                parts.append({"type": "image_url", "image_url": {"url": image_data_url(block["image"])}})
            elif block["type"] == "video":
                raise ValueError("the OpenAI-compatible backend sends images only; set initial_frames_input='images'")
        out.append({"role": "user", "content": parts})
    return out


class OpenAIChatBackend:
    """:class:`~agents.backends.base.GenerationBackend` over ``POST {base_url}/chat/completions``.

    ``api_key`` defaults to ``$OPENAI_API_KEY`` (none sent if unset). ``send_top_k`` adds ``top_k``
    (vLLM servers accept it; OpenAI rejects it): default on unless the URL is OpenAI's. ``logprobs``
    asks for per-token log-probs; ``token_ids`` (vLLM servers) for sampled ids. ``extra_body`` is
    merged into every request.
    """

    def __init__(
        self,
        model: str,
        base_url: str = OPENAI_BASE_URL,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        max_workers: int = 8,
        max_retries: int = 3,
        backoff: float = 1.0,
        send_top_k: bool | None = None,
        logprobs: bool = False,
        token_ids: bool = False,
        max_tokens_field: str = "max_tokens",
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        self.max_workers = max_workers
        self.max_retries = max_retries
        self.backoff = backoff
        self.send_top_k = send_top_k if send_top_k is not None else "api.openai.com" not in self.base_url
        self.logprobs = logprobs
        self.token_ids = token_ids
        self.max_tokens_field = max_tokens_field
        self.extra_body = dict(extra_body or {})

    def payload(self, conversation: Conversation, settings: GenerationSettings) -> dict[str, Any]:
        """The JSON body of one request."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": openai_messages(conversation),
            self.max_tokens_field: settings.max_new_tokens,
        }
        if settings.do_sample:
            body.update(temperature=settings.temperature, top_p=settings.top_p)
            if self.send_top_k and settings.top_k:
                body["top_k"] = settings.top_k
        else:
            body["temperature"] = 0.0
        if settings.seed is not None:
            body["seed"] = settings.seed
        if self.logprobs or self.token_ids:
            body["logprobs"] = True
        if self.token_ids:
            body["return_tokens_as_token_ids"] = True
        body.update(self.extra_body)
        return body

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                detail = error.read().decode("utf-8", "replace")[:500]
                if (error.code == 429 or error.code >= 500) and attempt < self.max_retries:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                raise BackendUnavailableError(f"{url} answered HTTP {error.code}: {detail}") from error
            except urllib.error.URLError as error:
                if attempt < self.max_retries:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                raise BackendUnavailableError(f"cannot reach {url}: {error.reason}") from error
        raise AssertionError("unreachable")

    def _one(self, conversation: Conversation, settings: GenerationSettings) -> Generation:
        reply = self._post(self.payload(conversation, settings))
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as error:
            raise BackendUnavailableError(f"unexpected chat-completions reply: {str(reply)[:300]}") from error
        logprobs, ids = None, None
        content = (choice.get("logprobs") or {}).get("content")
        if content is not None:
            logprobs = [float(item["logprob"]) for item in content]
            if self.token_ids:
                ids = [int(str(item["token"]).removeprefix("token_id:")) for item in content]
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return Generation(
            text=text, token_ids=ids, logprobs=logprobs, finish_reason=finish, extra={"usage": reply.get("usage")}
        )

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings) -> list[Generation]:
        # One seed per row: identical prompts (a GRPO group) must not get identical samples.
        rows = [
            (c, settings if settings.seed is None else settings.with_seed(settings.seed + i))
            for i, c in enumerate(conversations)
        ]
        if len(rows) <= 1 or self.max_workers <= 1:
            return [self._one(c, s) for c, s in rows]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(rows))) as pool:
            return list(pool.map(lambda row: self._one(*row), rows))
