"""The tritonlite-stream CLI: arguments, exit codes, and a full run against a fake server."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import cv2
import pytest
from _client_fakes import FakeTritonClient

from tritonlite.client import video
from tritonlite.client.sample_video import generate_sample_video

FRAMES = 6
SIZE = (64, 48)


@pytest.fixture(scope="module")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = generate_sample_video(
        tmp_path_factory.mktemp("video") / "v.mp4", frames=FRAMES, size=SIZE
    )
    return str(path)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _summary_ok(out: str, frames: int) -> None:
    assert re.search(rf"frames: {frames}\b", out), out
    assert re.search(r"fps: \d+\.\d", out), out
    for name in ("p50", "p95", "p99"):
        assert re.search(rf"{name} \d+\.\d\d ms", out), out


# -- arguments ---------------------------------------------------------------------------


def test_defaults() -> None:
    args = video.build_parser().parse_args([])
    assert args.url == "localhost:8001"
    assert args.model == "jpg_model"
    assert args.video is None
    assert args.mode == "stream"
    assert args.inflight == 8
    assert args.sequence_id is None
    assert args.jpeg_quality == 90
    assert not args.display and not args.quiet
    assert args.output is None and args.max_frames is None


def test_sequence_id_int_or_str() -> None:
    parse = video.build_parser().parse_args
    assert parse(["--sequence-id", "42"]).sequence_id == 42
    assert parse(["--sequence-id", "cam-1"]).sequence_id == "cam-1"


@pytest.mark.parametrize(
    "argv",
    [
        ["--mode", "rest"],
        ["--inflight", "0"],
        ["--max-frames", "-3"],
        ["--jpeg-quality", "101"],
        ["--sequence-id", "0"],
        ["--timeout", "0"],
        ["--bogus"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert video.main(argv) == video.EXIT_USAGE == 2
    assert "usage:" in capsys.readouterr().err


def test_help_lists_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert video.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in video.EXIT_CODES:
        assert re.search(rf"^\s+{code}\s", out, re.MULTILINE), code


def test_exit_codes_are_distinct() -> None:
    assert len(set(video.EXIT_CODES)) == len(video.EXIT_CODES)


# -- exit codes --------------------------------------------------------------------------


def test_missing_video_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = video.main(["--video", str(tmp_path / "nope.mp4"), "--url", "localhost:1"])
    assert code == video.EXIT_VIDEO == 3
    assert "cannot open video" in capsys.readouterr().err


def test_unreadable_video_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    assert video.main(["--video", str(junk), "--url", "localhost:1", "--quiet"]) == 3
    assert "cannot open video" in capsys.readouterr().err


def test_unwritable_output_exits_3(small_video: str, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.mp4"
    assert video.main(["--video", small_video, "--output", str(out), "--quiet"]) == 3


def test_closed_port_exits_4(
    small_video: str, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = video.main(["--video", small_video, "--url", f"127.0.0.1:{closed_port}", "--quiet"])
    assert code == video.EXIT_UNREACHABLE == 4
    assert f"127.0.0.1:{closed_port}" in capsys.readouterr().err


def test_server_not_live_exits_4(small_video: str, fake_triton: FakeTritonClient) -> None:
    fake_triton.live = False
    assert video.main(["--video", small_video, "--quiet"]) == 4


def test_missing_model_exits_5(
    small_video: str, fake_triton: FakeTritonClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert video.main(["--video", small_video, "--model", "nope", "--quiet"]) == 5
    assert "Request for unknown model: 'nope' is not found" in capsys.readouterr().err


def test_model_not_ready_exits_5(small_video: str, fake_triton: FakeTritonClient) -> None:
    fake_triton.models["jpg_model"] = False
    assert video.main(["--video", small_video, "--quiet"]) == 5


@pytest.mark.parametrize("mode", ["unary", "stream"])
def test_error_for_a_frame_exits_6(
    small_video: str, fake_triton: FakeTritonClient, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_triton.fail_items = {2}
    assert video.main(["--video", small_video, "--mode", mode, "--quiet"]) == 6
    assert "item 2: bad frame 2" in capsys.readouterr().err
    assert fake_triton.sent[-1].end  # the sequence was still ended


def test_undecodable_output_exits_6(
    small_video: str, fake_triton: FakeTritonClient, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_triton.corrupt_items = {1}
    assert video.main(["--video", small_video, "--quiet"]) == 6
    assert "frame 1: the returned image does not decode" in capsys.readouterr().err


def test_no_response_exits_7(small_video: str, fake_triton: FakeTritonClient) -> None:
    fake_triton.hold = 1000  # the fake stream answers items only when END flushes it
    assert video.main(["--video", small_video, "--timeout", "0.2", "--quiet"]) == 7
    assert fake_triton.stream_stops == [True]  # abandoned: requests cancelled, no END


# -- full runs against the fake server ----------------------------------------------------


@pytest.mark.parametrize("mode", ["unary", "stream"])
def test_full_run_writes_the_video_and_prints_a_summary(
    small_video: str,
    fake_triton: FakeTritonClient,
    tmp_path: Path,
    mode: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_triton.hold = 3
    out = tmp_path / "out.mp4"
    argv = ["--video", small_video, "--mode", mode, "--inflight", "3", "--output", str(out)]
    assert video.main([*argv, "--sequence-id", "cam-1", "--quiet"]) == 0
    captured = capsys.readouterr()
    _summary_ok(captured.out, FRAMES)
    assert "sequence_id=cam-1" in captured.out
    assert captured.err == ""
    assert [s.request_id for s in fake_triton.sent] == [
        "start",
        *[str(i) for i in range(FRAMES)],
        "end",
    ]
    capture = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == FRAMES
    assert frames[0].shape == (SIZE[1], SIZE[0], 3)


def test_max_frames_and_progress_bar(
    small_video: str, fake_triton: FakeTritonClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert video.main(["--video", small_video, "--max-frames", "4"]) == 0
    captured = capsys.readouterr()
    _summary_ok(captured.out, 4)
    assert "4/4" in captured.err  # tqdm on stderr
    assert len(fake_triton.sent) == 4 + 2


def test_display_on_a_headless_build_degrades(
    small_video: str, fake_triton: FakeTritonClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert video.main(["--video", small_video, "--display", "--max-frames", "2", "--quiet"]) == 0
    captured = capsys.readouterr()
    _summary_ok(captured.out, 2)


def test_package_imports_without_opencv_or_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    import tritonlite

    monkeypatch.setattr(tritonlite, "client", tritonlite.client)  # restored afterwards
    for name in list(sys.modules):
        if name.startswith("tritonlite.client"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    monkeypatch.setitem(sys.modules, "tqdm", None)
    import tritonlite.client
    import tritonlite.client.video as fresh_video

    assert tritonlite.client.SequenceClient is not None
    assert fresh_video.main(["--video", "x.mp4"]) == fresh_video.EXIT_FAILURE
