"""The model's own distribution over the values of one answer key, from one extra forward pass.

Greedy decoding keeps only the chosen token's log-prob, so the final turn is re-scored: at the
position where the answer's ``OA`` value was written, the three variants ``OA=0``, ``OA=1``,
``OA=2`` are appended to the recorded prompt and completion prefix, and one batched forward pass
(:func:`agents.backends.transformers_backend.forward_logprobs`) gives each variant's log-probability;
normalized over the three, they are ``p(OA = v | everything the judge wrote before it)``. With
single-token digits (Qwen tokenizers) this is the softmax of the next-token logits restricted to the
digits "0", "1", "2". Needs a backend holding the model (``model`` and ``processor``: transformers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agents.records import TurnRecord, turn_model_inputs
from vr_env.protocol.tags import scan_tags

VALUES: tuple[int, ...] = (0, 1, 2)
#: One ``KEY=value`` of an answer body, as :func:`vr_env.protocol.parsing.parse_answer` reads it.
_KEY_VALUE = re.compile(r"\b(TA|VQ|MQ|OA|CF)\s*[=:]\s*([+-]?\w+)", re.IGNORECASE)


def supports_distribution(backend: Any) -> bool:
    """Whether ``backend`` holds a model this module can run a forward pass on."""
    return hasattr(backend, "model") and hasattr(backend, "processor") and hasattr(backend, "stop_token_ids")


def value_span(text: str, key: str = "OA") -> tuple[int, int] | None:
    """Character span of ``key``'s value in the last final answer of ``text`` (the one the env scored).

    Final-answer blocks are found with the parser's own tag scanner and paired as
    ``TagBlocks.bodies`` pairs them; within the last body the last ``key=value`` counts.

    >>> text = "<Think>x</Think><Answer>TA=1, OA=2</Answer>"
    >>> start, end = value_span(text)
    >>> text[start:end]
    '2'
    """
    blocks = scan_tags(text)
    spans: list[tuple[int, int]] = []
    body_start: int | None = None
    for is_close, start, end in blocks.tokens.get("final", ()):
        if body_start is None:
            if not is_close:
                body_start = end
        elif is_close:
            spans.append((body_start, start))
            body_start = None
    if not spans:
        return None
    low, high = spans[-1]
    pairs = [m for m in _KEY_VALUE.finditer(text, low, high) if m.group(1).upper() == key]
    if not pairs:
        return None
    return pairs[-1].start(2), pairs[-1].end(2)


def _decoded_length(tokenizer: Any, ids: Sequence[int]) -> int:
    return len(tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False))


def variant_rows(turn: TurnRecord, tokenizer: Any, stop_ids: Sequence[int], key: str = "OA") -> list[TurnRecord] | None:
    """Three copies of ``turn`` whose completions end with ``key=0``, ``=1``, ``=2`` (or ``None``).

    The completion is cut at the token holding the value; each variant is that token's text with
    the value replaced, re-encoded. ``None`` when the turn has no ids or no such value.
    """
    if turn.completion_ids is None or turn.prompt_ids is None:
        return None
    ids = list(turn.completion_ids)
    if ids and ids[-1] in set(stop_ids):
        ids = ids[:-1]
    text = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    span = value_span(text, key)
    if span is None or not re.fullmatch(r"[+]?[012]", text[span[0] : span[1]]):
        return None
    start, end = span
    low, high = 0, len(ids) - 1  # first k with decoded length of ids[: k + 1] > start
    while low < high:
        mid = (low + high) // 2
        if _decoded_length(tokenizer, ids[: mid + 1]) > start:
            high = mid
        else:
            low = mid + 1
    k = low
    before = tokenizer.decode(ids[:k], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    through = tokenizer.decode(ids[: k + 1], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    if not text.startswith(through) or len(before) > start or len(through) < end:
        return None  # the value is not inside one token at a clean decode boundary
    piece = through[len(before) :]
    rows = []
    for value in VALUES:
        variant = piece[: start - len(before)] + str(value) + piece[end - len(before) :]
        tail = tokenizer.encode(variant, add_special_tokens=False)
        rows.append(replace(turn, completion_ids=ids[:k] + list(tail)))
    return rows


def answer_distributions(
    backend: Any, turns: Sequence[TurnRecord | None], key: str = "OA", max_batch_size: int | None = None
) -> list[dict[int, float] | None]:
    """``{0, 1, 2} -> p(key = v)`` for each final turn (``None`` entries and unreadable turns give ``None``).

    When the three variants differ in one last token (digits are single tokens), one row per turn
    suffices: the next-token distribution after the shared prefix. Otherwise each variant is a row
    and its continuation log-probs are summed.
    """
    out: list[dict[int, float] | None] = [None] * len(turns)
    if not supports_distribution(backend):
        return out
    single: list[tuple[int, list[TurnRecord]]] = []
    multi: list[tuple[int, list[TurnRecord]]] = []
    for index, turn in enumerate(turns):
        rows = None if turn is None else variant_rows(turn, backend.tokenizer, backend.stop_token_ids, key)
        if rows is not None:
            shared = _shared(rows)
            one_token = all(len(r.completion_ids or ()) == shared + 1 for r in rows)
            (single if one_token else multi).append((index, rows))
    size = max(1, max_batch_size or 8)
    for first in range(0, len(single), size):
        chunk = single[first : first + size]
        rows = [job_rows[0] for _, job_rows in chunk]
        logps = _last_position_logprobs(backend, rows)
        for (index, job_rows), row_logps in zip(chunk, logps, strict=True):
            totals = [float(row_logps[int((r.completion_ids or [0])[-1])]) for r in job_rows]
            out[index] = _normalize(totals)
    per_chunk = max(1, size // len(VALUES))
    for first in range(0, len(multi), per_chunk):
        chunk = multi[first : first + per_chunk]
        rows = [row for _, job_rows in chunk for row in job_rows]
        lengths = [len(row.completion_ids or ()) - _shared(job_rows) for _, job_rows in chunk for row in job_rows]
        scores = _continuation_logprobs(backend, rows, lengths)
        for n, (index, _) in enumerate(chunk):
            out[index] = _normalize([sum(scores[n * len(VALUES) + v]) for v in range(len(VALUES))])
    return out


def _normalize(log_scores: Sequence[float]) -> dict[int, float]:
    top = max(log_scores)
    weights = [math.exp(t - top) for t in log_scores]
    norm = sum(weights)
    return {value: w / norm for value, w in zip(VALUES, weights, strict=True)}


def _inputs(backend: Any, rows: Sequence[TurnRecord]) -> dict[str, Any]:
    return turn_model_inputs(rows, backend.processor, device=backend.model.device, dtype=backend.model.dtype)


def _last_position_logprobs(backend: Any, rows: Sequence[TurnRecord]) -> Any:
    """Log-softmax of the logits predicting each row's last id (rows are left-padded: column -2)."""
    import torch

    inputs = _inputs(backend, rows)
    with torch.inference_mode():
        logits = backend.model(**inputs, logits_to_keep=2).logits[:, -2].float()
    return torch.log_softmax(logits, dim=-1).cpu()


def _continuation_logprobs(backend: Any, rows: Sequence[TurnRecord], lengths: Sequence[int]) -> list[list[float]]:
    from agents.backends.transformers_backend import forward_logprobs

    return forward_logprobs(backend.model, _inputs(backend, rows), lengths, temperature=1.0)


def _shared(rows: Sequence[TurnRecord]) -> int:
    """Length of the completion prefix all ``rows`` share."""
    seqs = [list(r.completion_ids or ()) for r in rows]
    n = 0
    while all(len(s) > n for s in seqs) and len({s[n] for s in seqs}) == 1:
        n += 1
    return n
