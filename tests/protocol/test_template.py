"""Protocol templates: the default reproduces today's messages; another template and the structural
switches reproduce a different framing exactly; bad templates are rejected naming what is wrong."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from vr_env.config import EnvConfig
from vr_env.env import VRJudgeEnv
from vr_env.protocol.template import TEXTS, TemplateError, builtin_template, load_template

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import make_pairs
from protocol.episodes import SMALL, VALUES, broken_turns, small_config, three_tool_calls

DATA = Path(__file__).parent / "data"
AUTHORS_STYLE = DATA / "authors_style.toml"
#: The structural switches set as the authors' released code has them.
AUTHORS_SWITCHES = {
    "initial_frame_rule": "stride_from_first",
    "frame_labels": False,
    "initial_frames_input": "video",
    "initial_frames_position": "before_text",
    "eviction": "silent",
}


def test_default_template_reproduces_todays_messages_exactly() -> None:
    golden = json.loads((DATA / "default_messages.json").read_text(encoding="utf-8"))
    env = VRJudgeEnv(dataset=make_pairs())
    assert three_tool_calls(env) == golden["three_tool_calls"]
    assert broken_turns(env) == golden["broken_turns"]
    assert small_config(VRJudgeEnv(dataset=make_pairs(), **SMALL)) == golden["small_config"]


def text(t: str) -> dict:
    return {"type": "text", "text": t}


def image(pixel: int) -> dict:
    return {"type": "image", "pixel": pixel, "size": [84, 56]}


def turn(role: str, *blocks: dict) -> dict:
    return {"role": role, "content": list(blocks)}


SCHEMA = {
    "type": "function",
    "function": {
        "name": "select_frames",
        "description": "Pick frames of the two videos to inspect.",
        "parameters": {
            "type": "object",
            "properties": {
                "target_frames": {
                    "type": "array",
                    "description": "Frame numbers, at most 8.",
                    "items": {"type": "integer", "description": "A number from 1 to 96."},
                }
            },
            "required": ["target_frames"],
        },
    },
}
SYSTEM = (
    "You are an assistant.\n\n# Tools\n\nFunction signatures are inside <tools></tools>:\n<tools>\n"
    + json.dumps(SCHEMA)
    + "\n</tools>\n\nWrite each call as JSON inside <tool_call></tool_call>:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)
USER = (
    "Task: compare two videos made from one prompt. The first 4 frames above are video 1, the next 4 are video 2.\n"
    "The prompt: A test scene number 0.\n\n"
    "Dimensions:\n"
    "1. **Prompt Match (TA)**: Does the video show what the prompt asks for?\n"
    "2. **Picture Quality (VQ)**: Sharpness and cleanliness of each frame.\n"
    "3. **Movement Quality (MQ)**: Natural, steady motion.\n\n"
    "Format: <synthesis>, <think>, then <recommend answer> with CF and a call, or <final answer>. 96 frames in all."
)
CALL = '<tool_call>{{"name": "select_frames", "arguments": {{"target_frames": {}}}}}</tool_call>'


def assistant_call(snapshot: str, think: str, cf: int, frames: list[int]) -> dict:
    return turn(
        "assistant",
        text(
            f"<Snapshot>{snapshot}</Snapshot>\n<Think>{think}</Think>\n"
            f"<Recommend Answer>TA=1, VQ=2, MQ=0, OA=1, CF={cf}</Recommend Answer>\n" + CALL.format(frames)
        ),
    )


def test_authors_framing_reproduces_a_three_call_episode_exactly() -> None:
    env = VRJudgeEnv(dataset=make_pairs(), protocol_template=str(AUTHORS_STYLE), **AUTHORS_SWITCHES)
    # Test clips are flat images: frame position p of video 1 shows brightness 2p + 1, of video 2 100 + 2p + 1.
    expected = [
        turn("system", text(SYSTEM)),
        # Frames 1, 13, ..., 85 as ONE unlabelled video input, before the text.
        turn("user", {"type": "video", "pixels": [1, 25, 49, 73, 101, 125, 149, 173]}, text(USER)),
        assistant_call("v1 sharp", "check the start", 2, [1, 2, 60]),
        turn("user", text("\nSelected frames follow.")),  # its images (1, 2, 60) were evicted silently
        assistant_call("v2 blurs", "check the middle", 2, [50, 60]),
        turn("user", text("\nSelected frames follow.")),  # evicted by the third call
        assistant_call("v2 jitters", "one more", 1, [5]),
        turn("user", text("\nSelected frames follow."), image(9)),  # unlabelled image of frame 5
        turn(
            "assistant",
            text("<Snapshot>v1 wins</Snapshot>\n<Think>done</Think>\n<Answer>TA=1, VQ=2, MQ=0, OA=1</Answer>"),
        ),
    ]
    assert three_tool_calls(env) == expected


def test_authors_framing_error_texts() -> None:
    env = VRJudgeEnv(dataset=make_pairs(), protocol_template=str(AUTHORS_STYLE), **AUTHORS_SWITCHES)
    users = [m["content"] for m in broken_turns(env)[2:] if m["role"] == "user"]
    assert users == [
        [text("Tool said:\nThere are 96 frames, numbered 1 to 96; that selection is out of range.")],
        [text("Tool said:\nYou chose 9 frames; choose at most 8.")],
        [text("Tool said:\nBad format.")],
        [text("Tool said:\nIncomplete answer.")],
    ]


def test_switches_one_at_a_time_keep_the_default_texts() -> None:
    base = three_tool_calls(VRJudgeEnv(dataset=make_pairs()))
    unlabelled = three_tool_calls(VRJudgeEnv(dataset=make_pairs(), frame_labels=False))
    first_user = unlabelled[1]["content"]
    assert first_user[0] == base[1]["content"][0] and [b["type"] for b in first_user[1:]] == ["image"] * 8
    silent = three_tool_calls(VRJudgeEnv(dataset=make_pairs(), eviction="silent"))
    assert silent[3]["content"] == base[3]["content"][:1]  # the tool-result text stays, the eviction lines go
    before = three_tool_calls(VRJudgeEnv(dataset=make_pairs(), initial_frames_position="before_text"))
    assert before[1]["content"] == base[1]["content"][1:] + base[1]["content"][:1]


def test_the_frame_rule_reaches_agents_through_info_protocol() -> None:
    env = VRJudgeEnv(dataset=make_pairs(), initial_frame_rule="stride_from_first")
    obs, info = env.reset(seed=0, options={"pair_index": 0})
    assert info["protocol"].initial_frame_ids() == (1, 13, 25, 37, 49, 61, 73, 85)
    assert obs["frame_ids"][:8].tolist() == [1, 13, 25, 37, 49, 61, 73, 85]


def test_video_input_context_lists_images_and_videos_apart() -> None:
    env = VRJudgeEnv(dataset=make_pairs(), initial_frames_input="video")
    env.reset(seed=0, options={"pair_index": 0})
    env.step(tool_turn_for([2, 3]))
    context = env.context
    assert len(context.videos()) == 1 and len(context.videos()[0]) == 8
    assert len(context.images()) == 2


def tool_turn_for(frames: list[int]) -> str:
    from vr_env.protocol.writers import tool_turn

    return tool_turn("s", "t", VALUES, 2, frames)


# ---------------------------------------------------------------------- rejected templates
def write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "t.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("texts", "fragments"),
    [
        ('user = "Compare the videos on $dimensions."', ["text 'user'", "must use placeholder $prompt"]),
        (
            'tool_result = "Frames $frame_ids; $frames_left left."',
            ["text 'tool_result'", "unknown placeholder $frames_left"],
        ),
        ('error = "Bad: $reason ${calls}"', ["text 'error'", "unknown placeholder $calls"]),
        ('system = "Rules only."', ["text 'system'", "must use placeholder $tools"]),
        ('frame_label = "Frame"', ["text 'frame_label'", "must use placeholder $frame_id"]),
        ('final = "Costs 5$."', ["text 'final'", "starts no placeholder"]),
        ('greeting = "hello"', ["unknown text(s) greeting"]),
    ],
)
def test_bad_templates_are_rejected_naming_the_placeholder(tmp_path: Path, texts: str, fragments: list[str]) -> None:
    path = write(tmp_path, f'name = "broken"\nextends = "default"\n[texts]\n{texts}\n')
    with pytest.raises(TemplateError) as caught:
        load_template(path)
    for fragment in fragments:
        assert fragment in str(caught.value)
    with pytest.raises(ValueError, match="broken"):  # the env config says the same
        EnvConfig(protocol_template=path)


def test_incomplete_template_without_extends_names_the_missing_texts(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"missing text.*tools"):
        load_template(write(tmp_path, '[texts]\nsystem = "$tools"\n'))


def test_tool_schema_must_be_json_naming_the_tool(tmp_path: Path) -> None:
    path = write(tmp_path, 'extends = "default"\n[texts]\ntool_schema = "{$tool_name: $tool_argument}"\n')
    with pytest.raises(TemplateError, match=r"tool_schema.*not valid JSON"):
        VRJudgeEnv(dataset=make_pairs(), protocol_template=path)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [("nonesuch", "neither a built-in"), ("missing.toml", "does not exist")],
)
def test_unknown_template_names(spec: str, fragment: str) -> None:
    with pytest.raises(TemplateError, match=fragment):
        load_template(spec)


def test_bad_switch_values_are_named() -> None:
    with pytest.raises(ValueError, match="eviction must be one of text, silent"):
        EnvConfig(eviction="quiet")
    with pytest.raises(ValueError, match="initial_frame_rule"):
        EnvConfig(initial_frame_rule="random")


def test_every_text_has_a_default_and_a_help() -> None:
    default = builtin_template("default")
    assert set(default.texts) == set(TEXTS) and all(spec.help for spec in TEXTS.values())


def test_protocol_flag_selects_the_template() -> None:
    import argparse

    from vr_env.commands.evaluate import add_dataset_arguments, env_kwargs_from

    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    args = parser.parse_args(["--protocol", str(AUTHORS_STYLE), "--env-arg", "eviction=silent"])
    kwargs = env_kwargs_from(args)
    assert kwargs["protocol_template"] == str(AUTHORS_STYLE) and kwargs["eviction"] == "silent"
    assert "protocol_template" not in env_kwargs_from(parser.parse_args([]))


def test_docs_list_every_text_and_switch() -> None:
    from vr_env.config import SWITCHES

    page = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    for name in [*TEXTS, *SWITCHES]:
        assert f"`{name}`" in page, name


def test_an_edited_template_file_does_not_resume_into_old_results(tmp_path: Path) -> None:
    from vr_env.eval.results import EvalConfigError
    from vr_env.eval.runner import evaluate

    template = tmp_path / "mine.toml"
    template.write_text('extends = "default"\n[texts]\nfinal = "Thanks."\n', encoding="utf-8")
    kwargs = {"dataset": make_pairs(2), "protocol_template": str(template)}
    run = {"limit": 1, "out_dir": tmp_path / "run", "plots": False, "progress": False}
    evaluate("answer-now", kwargs, **run)
    evaluate("answer-now", kwargs, **run)  # unchanged: resumes
    template.write_text('extends = "default"\n[texts]\nfinal = "Thank you."\n', encoding="utf-8")
    with pytest.raises(EvalConfigError, match="protocol_sha256"):
        evaluate("answer-now", kwargs, **run)


def test_a_file_that_is_not_toml_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not valid TOML"):
        load_template(write(tmp_path, "[texts\nsystem = 1"))
