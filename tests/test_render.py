from __future__ import annotations

import numpy as np
from PIL import Image

from vr_env.env import VRJudgeEnv
from vr_env.render import episode_sheet, frame_grid, letterbox, save_episode_sheet


def test_letterbox_keeps_aspect_and_size() -> None:
    image = np.full((50, 100, 3), 200, np.uint8)
    out = letterbox(image, (64, 64))
    assert out.shape == (64, 64, 3)
    assert out[0, 32].sum() == 0 and out[32, 32].mean() > 150  # padded top, image in the middle


def test_letterbox_is_pils_bilinear_within_one_grey_level(monkeypatch) -> None:
    import vr_env.video.resize as resize

    image = np.random.default_rng(0).integers(0, 256, (448, 840, 3), dtype=np.uint8)
    pil = Image.fromarray(image).resize((112, 60), Image.Resampling.BILINEAR)
    expected = np.zeros((112, 112, 3), np.uint8)
    expected[26:86] = np.asarray(pil)
    for method in ("torchvision", "pil"):
        monkeypatch.setattr(resize, "RESIZE_METHOD", method)
        out = letterbox(image, (112, 112)).astype(int)
        assert np.abs(out - expected).max() <= (1 if method == "torchvision" else 0)
        assert (out[:26] == 0).all() and (out[86:] == 0).all()


def test_episode_sheet_shows_every_turn(pairs, tmp_path) -> None:
    env = VRJudgeEnv(dataset=pairs, render_mode="rgb_array")
    env.reset(seed=0)
    call = '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [1, 50]}}</tool_call>'
    for _ in range(2):
        env.step(
            "<Snapshot>a</Snapshot><Think>b</Think><Recommend Answer>TA=1,VQ=1,MQ=1,OA=1,CF=1</Recommend Answer>" + call
        )
    sheet = episode_sheet(env.context)
    grid = frame_grid(env.context.visible_frames())
    assert sheet.shape[0] > grid.shape[0] and sheet.dtype == np.uint8
    path = save_episode_sheet(env.context, tmp_path / "episode.png")
    assert Image.open(path).size == (sheet.shape[1], sheet.shape[0])
    assert env.render().shape[2] == 3
