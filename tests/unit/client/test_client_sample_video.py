"""The generated sample video of the jpeg_stream example."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tritonlite.client import sample_video


def test_frames_are_a_pure_function_of_their_number() -> None:
    first = sample_video.render_frame(17)
    assert first.shape == (480, 640, 3)
    assert first.dtype == np.uint8
    assert np.array_equal(first, sample_video.render_frame(17))
    assert not np.array_equal(first, sample_video.render_frame(18))


def test_generate_a_small_video(tmp_path: Path) -> None:
    path = sample_video.generate_sample_video(tmp_path / "s.mp4", frames=5, size=(80, 60))
    assert path.suffix in {".mp4", ".avi"}
    capture = cv2.VideoCapture(str(path))
    shapes = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        shapes.append(frame.shape)
    capture.release()
    assert shapes == [(60, 80, 3)] * 5


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = sample_video.generate_sample_video(tmp_path / "a.mp4", frames=4, size=(80, 60))
    b = sample_video.generate_sample_video(tmp_path / "b.mp4", frames=4, size=(80, 60))
    assert a.read_bytes() == b.read_bytes()


def test_bundled_sample_ships_with_the_example() -> None:
    path = sample_video.bundled_sample_path(generate=False)
    assert path.name in {"sample.mp4", "sample.avi"}
    assert path.parent.name == "jpeg_stream"
    assert path.is_file()
    assert path.stat().st_size < 3_000_000
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == sample_video.SAMPLE_FRAMES
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640
    assert int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 480
    capture.release()


def test_missing_sample_is_generated_in_the_cache(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sample_video, "_EXAMPLE_DIR", tmp_path / "not-a-checkout")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sample_video, "SAMPLE_FRAMES", 3)
    monkeypatch.setattr(
        sample_video.generate_sample_video,
        "__kwdefaults__",
        {**sample_video.generate_sample_video.__kwdefaults__, "frames": 3},
    )
    assert not sample_video.bundled_sample_path(generate=False).exists()
    path = sample_video.bundled_sample_path()
    assert path.parent == tmp_path / "cache" / "tritonlite"
    assert path.is_file()
    assert sample_video.bundled_sample_path(generate=False) == path
