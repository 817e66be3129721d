"""Repository discovery (rules observed on the reference Triton 2.51, see loader.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc.model_config_pb2 import ModelConfig, ModelVersionPolicy

from tritonlite.core.errors import ErrorKind
from tritonlite.repository.errors import ConfigError
from tritonlite.repository.loader import (
    DUPLICATE_MODEL_REASON,
    discover,
    find_version_dirs,
    read_model_source,
    select_versions,
)

CONFIG = 'backend: "python"\nmax_batch_size: {mbs}\n'


def _model(root: Path, name: str, config: str | None = "", versions: tuple[str, ...] = ("1",),
           ) -> Path:
    model_dir = root / name
    model_dir.mkdir(parents=True)
    if config is not None:
        (model_dir / "config.pbtxt").write_text(config)
    for version in versions:
        (model_dir / version).mkdir()
        (model_dir / version / "model.py").write_text("")
    return model_dir


def test_every_visible_directory_is_a_model(tmp_path: Path) -> None:
    _model(tmp_path, "b", CONFIG.format(mbs=2))
    _model(tmp_path, "a", None)
    _model(tmp_path, "empty", "")
    _model(tmp_path, ".ipynb_checkpoints", None)  # the reference would try to load it
    (tmp_path / "README.md").write_text("not a model")

    result = discover([tmp_path])
    assert [m.name for m in result.models] == ["a", "b", "empty"]
    assert result.failures == []
    a, b, empty = result.models
    assert a.config == ModelConfig(name="a") and a.config_path is None
    assert empty.config == ModelConfig() and empty.config_path == tmp_path / "empty/config.pbtxt"
    assert b.config.max_batch_size == 2  # parsed, not normalized:
    assert not b.config.HasField("version_policy") and not b.config.instance_group
    assert (b.repository, b.model_dir, b.versions) == (tmp_path, tmp_path / "b", (1,))
    assert result.get("b") is b and result.get("zzz") is None


def test_version_directories(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model_dir = _model(tmp_path, "m", None,
                       versions=("0", "1", "2", "10", "03", "abc", "1abc", "configs", "warmup"))
    (model_dir / "7").write_text("a file, not a version")
    with caplog.at_level(logging.WARNING):
        found = find_version_dirs(model_dir)
    assert found == {v: model_dir / str(v) for v in (0, 1, 2, 10)}
    assert list(found) == [0, 1, 2, 10]
    text = caplog.text
    assert "ignore version directory '03' which contains leading zeros" in text
    assert "ignore version directory 'abc' which fails to convert to integral number" in text
    assert "'configs'" not in text and "'warmup'" not in text  # skipped silently


def _policy(text: str) -> ModelVersionPolicy:
    policy = ModelVersionPolicy()
    text_format.Parse(text, policy)
    return policy


@pytest.mark.parametrize(("policy", "expected"), [
    ("", (10,)),                                 # unset = latest 1
    ("latest { num_versions: 1 }", (10,)),
    ("latest { num_versions: 2 }", (3, 10)),     # numeric order, not text order
    ("latest { num_versions: 9 }", (1, 2, 3, 10)),
    ("latest { }", ()),                          # reference: no version -> model fails
    ("all { }", (1, 2, 3, 10)),
    ("specific { versions: [ 3, 1 ] }", (1, 3)),
    ("specific { versions: [ 5, 2 ] }", (2,)),   # missing ones are logged and skipped
])
def test_select_versions(policy: str, expected: tuple[int, ...]) -> None:
    assert select_versions(_policy(policy), [2, 10, 1, 3], model_name="m") == expected


def test_versions_follow_the_policy_and_model_file(tmp_path: Path) -> None:
    _model(tmp_path, "m", 'version_policy { all { } }\ndefault_model_filename: "other.py"\n',
           versions=("1", "2"))
    _model(tmp_path, "p", 'version_policy { specific { versions: [ 2 ] } }\n',
           versions=("1", "2"))
    m, p = discover([tmp_path]).models
    assert m.versions == (1, 2)
    assert m.model_file(2) == tmp_path / "m/2/other.py"
    assert p.versions == (2,) and set(p.version_dirs) == {1, 2}
    assert p.model_file(2) == tmp_path / "p/2/model.py"


def test_no_version_left_is_a_failure(tmp_path: Path) -> None:
    _model(tmp_path, "none", "", versions=())
    _model(tmp_path, "gone", "version_policy { specific { versions: [ 5 ] } }", versions=("1",))
    result = discover([tmp_path])
    assert result.models == []
    assert [(f.name, f.reason) for f in result.failures] == [
        ("gone", "at least one version must be available under the version policy of "
                 "model 'gone'"),
        ("none", "at least one version must be available under the version policy of "
                 "model 'none'"),
    ]


def test_duplicate_names_fail_in_every_repository(tmp_path: Path) -> None:
    first, second = tmp_path / "r1", tmp_path / "r2"
    _model(first, "dup", "")
    _model(second, "dup", CONFIG.format(mbs=2))
    _model(second, "only", "")
    result = discover([first, second])
    assert [m.name for m in result.models] == ["only"]
    assert [(f.name, f.reason) for f in result.failures] == [("dup", DUPLICATE_MODEL_REASON)]
    assert DUPLICATE_MODEL_REASON == "model appears in two or more repositories"


def test_model_config_name(tmp_path: Path) -> None:
    both = _model(tmp_path, "both", CONFIG.format(mbs=1))
    (both / "configs").mkdir()
    (both / "configs" / "alt.pbtxt").write_text(CONFIG.format(mbs=3))
    alt_only = _model(tmp_path, "alt_only", None)
    (alt_only / "configs").mkdir()
    (alt_only / "configs" / "alt.pbtxt").write_text(CONFIG.format(mbs=5))
    other = _model(tmp_path, "other", CONFIG.format(mbs=7))
    (other / "configs").mkdir()
    (other / "configs" / "x.pbtxt").write_text(CONFIG.format(mbs=9))

    found = {m.name: m for m in discover([tmp_path], model_config_name="alt").models}
    assert {name: m.config.max_batch_size for name, m in found.items()} == {
        "both": 3, "alt_only": 5, "other": 7}  # the reference served exactly these
    assert found["both"].config_path == both / "configs" / "alt.pbtxt"
    assert found["other"].config_path == other / "config.pbtxt"
    plain = {m.name: m.config.max_batch_size for m in discover([tmp_path]).models}
    assert plain == {"both": 1, "alt_only": 0, "other": 7}


def test_unparsable_config_is_a_failure_naming_the_file(tmp_path: Path) -> None:
    _model(tmp_path, "bad", 'backend: "python"\nmax_batch_sise: 2\n')
    _model(tmp_path, "good", "")
    result = discover([tmp_path])
    assert [m.name for m in result.models] == ["good"]
    [failure] = result.failures
    assert failure.name == "bad" and failure.model_dir == tmp_path / "bad"
    assert failure.reason == (f"{tmp_path}/bad/config.pbtxt:2:1: unknown field "
                              "'max_batch_sise' in ModelConfig")


def test_read_one_model_and_missing_paths(tmp_path: Path) -> None:
    _model(tmp_path, "m", CONFIG.format(mbs=4))
    assert read_model_source(tmp_path, "m").config.max_batch_size == 4
    with pytest.raises(ConfigError, match=r"^failed to stat file .*/nope$") as info:
        read_model_source(tmp_path, "nope")
    assert info.value.kind is ErrorKind.INTERNAL
    # The reference: "error: creating server: Internal - failed to stat file <path>".
    with pytest.raises(ConfigError, match=r"^failed to stat file .*/missing$"):
        discover([tmp_path / "missing"])
