"""Generation backends: transformers (real tiny models), OpenAI-compatible HTTP (local server), vLLM (adapter)."""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from PIL import Image

from agents.backends import BackendUnavailableError, GenerationSettings, make_backend
from agents.backends.openai_http import OpenAIChatBackend, openai_messages
from agents.backends.transformers_backend import VISION_TOKENS, TransformersBackend
from tests.agents.conversations import conversation, replay_logprobs


# ---------------------------------------------------------------------- transformers
def test_batched_prompts_equal_unbatched(tiny_backend: TransformersBackend) -> None:
    convs = [conversation(1), conversation(3, "Another, longer prompt with more words in it.", seed=1)]
    generations = tiny_backend.generate(convs, GenerationSettings(max_new_tokens=6, seed=0))
    for conv, generation in zip(convs, generations, strict=True):
        alone = tiny_backend.encode([conv])
        assert generation.prompt_ids == alone["input_ids"][0].tolist()
        assert generation.image_grid_thw.tolist() == alone["image_grid_thw"].tolist()
        assert len(generation.token_ids) == len(generation.logprobs) == 6 and generation.finish_reason == "length"


@pytest.mark.parametrize("backend_fixture", ["tiny_backend", "tiny_qwen3_backend"])
def test_sampled_logprobs_match_a_forward_pass(backend_fixture: str, request: pytest.FixtureRequest) -> None:
    backend: TransformersBackend = request.getfixturevalue(backend_fixture)
    convs = [conversation(2), conversation(1, "Short.", seed=3), conversation(0, "No images at all here.")]
    settings = GenerationSettings(temperature=0.7, max_new_tokens=12, seed=1)
    for conv, generation in zip(convs, backend.generate(convs, settings), strict=True):
        # Recorded values are log_softmax(raw_logits / T) of the sampled ids: the forward pass agrees.
        at_t = replay_logprobs(backend, conv, generation.prompt_ids, generation.token_ids, temperature=0.7)
        np.testing.assert_allclose(at_t, generation.logprobs, atol=1e-5)
        at_1 = replay_logprobs(backend, conv, generation.prompt_ids, generation.token_ids)
        assert not np.allclose(at_1, generation.logprobs, atol=1e-3), "the temperature matters"


def test_forced_ids_stop_at_end_of_turn_and_stay_real(tiny_backend: TransformersBackend) -> None:
    text = '<Think>x</Think><tool_call>{"name": "select_frames", "arguments": {"target_frames": [1]}}</tool_call>'
    forced = tiny_backend.encode_completion(text)
    assert forced[-1] == tiny_backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    convs = [conversation(1), conversation(2, seed=4)]
    # The forced row runs its whole script even past max_new_tokens; the free row stops at the cap.
    generations = tiny_backend.generate(
        convs, GenerationSettings(max_new_tokens=5, seed=0), forced_token_ids=[forced, None]
    )
    assert generations[0].token_ids == forced and generations[0].text == text
    assert generations[0].finish_reason == "stop"
    assert len(generations[1].token_ids) == 5
    recomputed = replay_logprobs(tiny_backend, convs[0], generations[0].prompt_ids, forced)
    np.testing.assert_allclose(recomputed, generations[0].logprobs, atol=1e-5)
    assert max(generations[0].logprobs) < -1.0, "a random model gives forced tokens low probability"


def test_greedy_deterministic_and_seeded_sampling_reproducible(tiny_backend: TransformersBackend) -> None:
    import torch

    convs = [conversation(1), conversation(1)]
    greedy = tiny_backend.generate(convs, GenerationSettings.greedy(max_new_tokens=8))
    assert greedy[0].token_ids == greedy[1].token_ids
    state = torch.random.get_rng_state()
    first = tiny_backend.generate(convs, GenerationSettings(max_new_tokens=8, seed=7))
    second = tiny_backend.generate(convs, GenerationSettings(max_new_tokens=8, seed=7))
    assert torch.equal(state, torch.random.get_rng_state()), "the caller's RNG is left alone"
    assert [g.token_ids for g in first] == [g.token_ids for g in second]
    assert first[0].token_ids != first[1].token_ids, "two rows of one batch sample independently"


def test_synced_generation_is_explicit_and_one_process_is_plain(
    tiny_backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``synced_gpus`` always reaches ``generate`` explicitly (never transformers' ZeRO-3 guess); alone, synced
    generation samples as the plain path and draining makes no call."""
    import transformers.generation.utils as generation_utils

    passed: list[Any] = []
    generate = generation_utils.GenerationMixin.generate

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        passed.append(kwargs.get("synced_gpus", "unset"))
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(generation_utils.GenerationMixin, "generate", recording)
    synced = TransformersBackend(tiny_backend.model, tiny_backend.processor, synced_gpus=True)
    plain = TransformersBackend(tiny_backend.model, tiny_backend.processor, share_prefix=False)
    convs, settings = [conversation(1)] * 3, GenerationSettings(max_new_tokens=6, seed=4)
    assert [g.token_ids for g in synced.generate(convs, settings)] == [
        g.token_ids for g in plain.generate(convs, settings)
    ]
    assert passed == [False, False]  # no process group: nothing to synchronize
    assert synced.drain() == 0 and synced.gate is not None and synced.gate.calls == 1
    assert synced.share_prefix_disabled is not None and "synced" in synced.share_prefix_disabled


def test_vision_tokens_never_sampled(tiny_backend: TransformersBackend) -> None:
    vocab = tiny_backend.tokenizer.get_vocab()
    banned = {vocab[t] for t in VISION_TOKENS if t in vocab}
    assert len(banned) == 5
    generations = tiny_backend.generate(
        [conversation(1)] * 4, GenerationSettings(max_new_tokens=64, top_k=0, top_p=1.0, seed=3)
    )
    assert not banned & {t for g in generations for t in g.token_ids}


def test_temperature_after_first_turn() -> None:
    settings = GenerationSettings(temperature_after_first=0.9)
    assert settings.for_turn(0).temperature == 1.0 and settings.for_turn(2).temperature == 0.9
    assert GenerationSettings.greedy().logprob_temperature == 1.0
    with pytest.raises(ValueError, match="temperature"):
        GenerationSettings(temperature=0.0)


def test_make_backend_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        make_backend("tgi", "x")


# ---------------------------------------------------------------------- OpenAI-compatible HTTP
class ScriptedChatServer:
    """A chat-completions server on 127.0.0.1 that records requests and answers from a script."""

    def __init__(self, answers: list[dict[str, Any] | int]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    answer = server.answers.pop(0) if server.answers else {"content": "default"}
                if isinstance(answer, int):
                    self.send_response(answer)
                    self.end_headers()
                    self.wfile.write(b'{"error": "scripted failure"}')
                    return
                if self.path != "/v1/chat/completions":
                    self.send_response(404)
                    self.end_headers()
                    return
                choice: dict[str, Any] = {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer["content"]},
                    "finish_reason": answer.get("finish_reason", "stop"),
                }
                if "logprobs" in answer:
                    choice["logprobs"] = {"content": answer["logprobs"]}
                payload = json.dumps({"id": "x", "choices": [choice], "usage": {"completion_tokens": 3}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def chat_server() -> Iterator[type[ScriptedChatServer]]:
    yield ScriptedChatServer


def test_http_request_shape_and_answers(chat_server: type[ScriptedChatServer]) -> None:
    answers = [{"content": "first answer"}, {"content": "second answer", "finish_reason": "length"}]
    with chat_server(answers) as server:
        backend = OpenAIChatBackend("judge-model", server.url, api_key="sk-test", max_workers=1, backoff=0.0)
        settings = GenerationSettings(max_new_tokens=77, seed=10)
        out = backend.generate([conversation(2), conversation(0, "plain")], settings)
    assert [g.text for g in out] == ["first answer", "second answer"]
    assert [g.finish_reason for g in out] == ["stop", "length"]
    first, second = server.requests
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    assert first["model"] == "judge-model" and first["max_tokens"] == 77
    assert (first["temperature"], first["top_p"], first["top_k"]) == (1.0, 0.95, 40)
    assert (first["seed"], second["seed"]) == (10, 11), "one seed per row"
    system, user = first["messages"]
    assert system == {"role": "system", "content": "You judge videos."}
    kinds = [part["type"] for part in user["content"]]
    assert kinds == ["text", "image_url", "text", "image_url"]
    assert user["content"][0]["text"] == "Compare the frames.\nFrame 1:"
    url = user["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    original = np.asarray(conversation(2)[1]["content"][2]["image"])
    assert np.array_equal(decoded, original), "PNG data URLs are lossless"


def test_http_greedy_logprobs_token_ids_and_openai_defaults(chat_server: type[ScriptedChatServer]) -> None:
    logprobs = [{"token": "token_id:17", "logprob": -0.5}, {"token": "token_id:4", "logprob": -1.25}]
    with chat_server([{"content": "ok", "logprobs": logprobs}]) as server:
        backend = OpenAIChatBackend("m", server.url, api_key="", token_ids=True)
        (out,) = backend.generate([conversation(1)], GenerationSettings.greedy(max_new_tokens=5))
    assert out.token_ids == [17, 4] and out.logprobs == [-0.5, -1.25] and out.prompt_ids is None
    body = server.requests[0]
    assert body["temperature"] == 0.0 and "top_p" not in body and "seed" not in body
    assert body["logprobs"] is True and body["return_tokens_as_token_ids"] is True
    assert "Authorization" not in server.headers[0]
    assert not OpenAIChatBackend("gpt-4o").send_top_k, "OpenAI's API rejects top_k"


def test_http_retries_then_fails_clearly(chat_server: type[ScriptedChatServer]) -> None:
    with chat_server([503, {"content": "after retry"}, 400]) as server:
        backend = OpenAIChatBackend("m", server.url, max_retries=1, backoff=0.0)
        (out,) = backend.generate([conversation(0)], GenerationSettings(max_new_tokens=4))
        assert out.text == "after retry"
        with pytest.raises(BackendUnavailableError, match="HTTP 400"):
            backend.generate([conversation(0)], GenerationSettings(max_new_tokens=4))
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        OpenAIChatBackend("m", "http://127.0.0.1:9/v1", max_retries=0, timeout=2).generate(
            [conversation(0)], GenerationSettings(max_new_tokens=4)
        )


def test_http_concurrent_batch_keeps_order(chat_server: type[ScriptedChatServer]) -> None:
    with chat_server([{"content": "same"}] * 6) as server:
        backend = OpenAIChatBackend("m", server.url, max_workers=3)
        out = backend.generate([conversation(0, f"prompt {i}") for i in range(6)], GenerationSettings(seed=0))
    assert len(out) == 6 and len(server.requests) == 6
    assert sorted(r["seed"] for r in server.requests) == list(range(6))


def test_openai_messages_assistant_turn_is_text() -> None:
    conv = [*conversation(0), {"role": "assistant", "content": [{"type": "text", "text": "<Answer>..</Answer>"}]}]
    assert openai_messages(conv)[-1] == {"role": "assistant", "content": "<Answer>..</Answer>"}


# ---------------------------------------------------------------------- vLLM (no GPU here: adapter only)
def test_vllm_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    from agents.backends.vllm_backend import VLLMBackend

    with pytest.raises(BackendUnavailableError, match="pip install vllm"):
        VLLMBackend("some/model")


def test_vllm_adapter_against_the_documented_api(
    monkeypatch: pytest.MonkeyPatch, tiny_backend: TransformersBackend
) -> None:
    """A stand-in ``vllm`` module with the documented ``LLM.generate`` / ``SamplingParams`` surface."""
    calls: dict[str, Any] = {}

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            calls["llm"] = kwargs

        def generate(self, prompts: list[dict[str, Any]], params: list[Any], use_tqdm: bool = True) -> list[Any]:
            calls["prompts"], calls["params"] = prompts, params
            ns = types.SimpleNamespace
            logprob = [{5: ns(logprob=-0.1)}, {9: ns(logprob=-2.0)}]
            return [
                ns(
                    prompt_token_ids=[1, 2, 3],
                    outputs=[ns(text="hi", token_ids=[5, 9], logprobs=logprob, finish_reason="stop")],
                )
                for _ in prompts
            ]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    from agents.backends.vllm_backend import VLLMBackend

    backend = VLLMBackend("tiny", processor=tiny_backend.processor, max_images=16, gpu_memory_utilization=0.5)
    assert calls["llm"]["limit_mm_per_prompt"] == {"image": 16}
    assert calls["llm"]["logprobs_mode"] == "processed_logprobs" and calls["llm"]["model"] == "tiny"
    out = backend.generate([conversation(2), conversation(0)], GenerationSettings(max_new_tokens=9, seed=4))
    assert [(g.text, g.token_ids, g.logprobs, g.prompt_ids) for g in out] == [
        ("hi", [5, 9], [-0.1, -2.0], [1, 2, 3])
    ] * 2
    first = calls["prompts"][0]
    assert first["prompt"] == tiny_backend.render([conversation(2)])[0]
    assert len(first["multi_modal_data"]["image"]) == 2 and "multi_modal_data" not in calls["prompts"][1]
    kwargs = calls["params"][0].kwargs
    assert (kwargs["temperature"], kwargs["top_p"], kwargs["top_k"], kwargs["max_tokens"]) == (1.0, 0.95, 40, 9)
    assert kwargs["logprobs"] == 0 and [p.kwargs["seed"] for p in calls["params"]] == [4, 5]
    assert backend.sampling_params(GenerationSettings.greedy()).kwargs["temperature"] == 0.0
