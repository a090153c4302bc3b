"""``make_agent``: built-in names, the lazy ``hf`` factory and users' ``module:attr`` agents."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from agents.baselines import AnswerNowAgent, RandomAgent, ScannerAgent
from agents.human import HumanAgent
from vr_env.agent_registry import ENTRY_POINT_GROUP, agent_names, make_agent, register_agent

FINAL = "<Snapshot>-</Snapshot><Think>-</Think><Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>"


def test_builtin_names() -> None:
    assert {"random", "answer-now", "scanner", "human", "hf"} <= set(agent_names())
    assert isinstance(make_agent("random", seed=3), RandomAgent) and make_agent("random", seed=3).seed == 3
    assert isinstance(make_agent("answer-now", seed=3), AnswerNowAgent)
    assert isinstance(make_agent("scanner"), ScannerAgent)
    assert isinstance(make_agent("human", out_dir="x"), HumanAgent)
    with pytest.raises(ValueError, match="unknown agent 'nope'"):
        make_agent("nope")


def test_hf_is_loaded_lazily_with_the_model_path(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="--model"):
        make_agent("hf")
    import agents.hf

    seen: dict[str, Any] = {}

    def fake(model_path: str, **kw: Any) -> Any:
        seen.update(model_path=model_path, **kw)
        return lambda observation: FINAL

    monkeypatch.setattr(agents.hf, "make_hf_agent", fake)
    agent = make_agent("hf", model_path="/models/judge", seed=1, backend="vllm")
    assert seen == {"model_path": "/models/judge", "seed": 1, "backend": "vllm"}
    assert agent.act({}, {}) == FINAL


def test_user_agents_by_module_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = """
FINAL = "<Snapshot>-</Snapshot><Think>-</Think><Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>"

def judge(observation):
    return FINAL

class Judge:
    def __init__(self, bias=0):
        self.bias = bias
    def act(self, observation, info):
        return FINAL

def build(bias=0):
    return Judge(bias=bias)
"""
    (tmp_path / "my_judges.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_judges", raising=False)
    plain = make_agent("my_judges:judge", seed=4)  # seed is dropped where not accepted
    assert plain.act({"text": ""}, {}) == FINAL and hasattr(plain, "reset")
    assert make_agent("my_judges:Judge", bias=2, seed=1).bias == 2
    assert make_agent("my_judges:build()", bias=5).bias == 5
    assert make_agent(f"{tmp_path / 'my_judges.py'}:judge").act({}, {}) == FINAL
    with pytest.raises(TypeError, match="takes no options"):
        make_agent("my_judges:judge", bias=1)
    with pytest.raises(ValueError, match="no attribute"):
        make_agent("my_judges:missing")
    with pytest.raises(ValueError, match="cannot import"):
        make_agent("no_such_module_xyz:thing")


def test_other_packages_add_agents_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third-party distribution declares an agent in its metadata; no file of ours changes."""
    (tmp_path / "third_party_judge.py").write_text(f"def make(seed=0):\n    return lambda obs: {FINAL!r}\n")
    dist = tmp_path / "third_party_judge-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: third-party-judge\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nthird-party = third_party_judge:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "third-party" in agent_names()
    assert make_agent("third-party", seed=1).act({}, {}) == FINAL


def test_register_agent_in_process() -> None:
    register_agent("always-tie-test", lambda: lambda obs: FINAL)
    assert make_agent("always-tie-test", seed=3).act({}, {}) == FINAL
    with pytest.raises(ValueError, match="cannot contain"):
        register_agent("a:b", lambda: None)
