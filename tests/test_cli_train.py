"""``vr-env build-coldstart`` and ``vr-env train sft|rs`` end to end on the tiny model."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from vr_env.cli import main

SMALL = ["--dataset-arg", "n=8", "--env-arg", "frames_per_video=16", "--env-arg", "max_tool_calls=2"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    assert main(["make-tiny-model", "--out", str(out)]) == 0
    return out


def test_build_coldstart_then_sft(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traces = tmp_path / "traces"
    assert (
        main(["build-coldstart", "--teacher", "scanner", *SMALL, "--limit", "3", "--out", str(traces), "--no-progress"])
        == 0
    )
    assert "wrote 3 traces" in capsys.readouterr().out
    ckpt = tmp_path / "sft"
    code = main(["train", "sft", "--model", str(tiny), "--traces", str(traces), "--out", str(ckpt),
                 "--max-steps", "2", "--gradient-accumulation-steps", "2", "--learning-rate", "1e-3"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "trained on 9 turns from 3 episodes" in out and "learning_rate = 0.001" in out
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "processor_config.json").is_file()
    saved = json.loads((ckpt / "train_config.json").read_text())["sft"]
    assert saved["warmup_ratio"] == 0.2 and saved["effective_batch_size"] == 2


def test_train_names_a_missing_model_before_loading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["train", "sft", "--model", str(tmp_path / "nope"), "--traces", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert code == 2 and "does not exist" in capsys.readouterr().err
    code = main(["train", "rs", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o" / "rs_config.json").exists()


def test_train_rs_reports_when_nothing_is_accepted(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", "rs", "--model", str(tiny), "--out", str(tmp_path), *SMALL, "--limit", "1",
                 "--samples-per-pair", "2", "--max-new-tokens", "4", "--device", "cpu"])  # fmt: skip
    assert code == 2 and "no sample was accepted" in capsys.readouterr().err
    assert json.loads((tmp_path / "samples" / "rs_report.json").read_text())["samples"] == 2


class _Failing(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        _Failing.calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if _Failing.calls > 1:
            time.sleep(2.0)  # the second request times out
        try:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b'{"error": "overloaded"}')
        except BrokenPipeError:  # the client gave up (timeout)
            pass

    def log_message(self, *args: Any) -> None:
        pass


def test_an_erroring_teacher_endpoint_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        code = main(["build-coldstart", "--teacher", "openai", "--model", "judge", "--base-url", url, *SMALL,
                     "--limit", "2", "--out", str(tmp_path), "--no-progress", "--agent-arg", "max_retries=0"])  # fmt: skip
        captured = capsys.readouterr()
        assert code == 1 and "HTTP 503" in captured.err and "rerun to resume" in captured.err
        teacher_error = json.loads((tmp_path / "report.json").read_text())["teacher_error"]
        assert teacher_error.count("HTTP 503") == 1  # "503" alone may also be in the port number
        # The second request hangs past --timeout.
        code = main(["build-coldstart", "--teacher", "openai", "--model", "judge", "--base-url", url, *SMALL,
                     "--limit", "1", "--out", str(tmp_path / "slow"), "--no-progress", "--timeout", "0.5",
                     "--agent-arg", "max_retries=0"])  # fmt: skip
        assert code == 1 and "timed out" in capsys.readouterr().err
    finally:
        server.shutdown()
    # An unreachable endpoint is named too.
    code = main(["build-coldstart", "--teacher", "openai", "--model", "judge", "--base-url", "http://127.0.0.1:9/v1",
                 *SMALL, "--limit", "1", "--out", str(tmp_path / "down"), "--no-progress",
                 "--agent-arg", "max_retries=0"])  # fmt: skip
    assert code == 1 and "cannot reach http://127.0.0.1:9/v1" in capsys.readouterr().err
    assert main(["build-coldstart", "--teacher", "openai", "--out", str(tmp_path / "x")]) == 2
