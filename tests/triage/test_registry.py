"""The registry: register, promote, roll back, and refuse what cannot be done (unknown, tampered, nothing to go back to)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.training.bundles import clone_bundle
from training import cli
from triage.registry import Registry, RegistryError, ensure_registered

runner = CliRunner()


@pytest.fixture()
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRIAGE_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


@pytest.fixture()
def two(default_bundle: Path, root: Path) -> tuple[Path, Path]:
    return clone_bundle(default_bundle, root / "v1", "v1"), clone_bundle(default_bundle, root / "v2", "v2")


def test_register_promote_rollback(two: tuple[Path, Path], root: Path) -> None:
    v1, v2 = two
    assert ensure_registered(v1) == "v1"  # the first one becomes current
    with Registry.edit() as registry:
        registry.register(v2)
        registry.promote("v2")
    registry = Registry.load()
    assert (registry.current, registry.previous) == ("v2", "v1")
    entry = registry.versions["v2"]
    assert entry["path"] == "v2" and entry["data"]["own_corpus"]["train"]["sha256"]
    assert entry["metrics"]["unit_top3"] is not None
    assert registry.current_path() == root / "v2"
    with Registry.edit() as registry:
        assert registry.rollback() == "v1"
    registry = Registry.load()
    assert (registry.current, registry.previous, registry.history if hasattr(registry, "history") else registry.data["history"]) == ("v1", None, ["v1"])
    with pytest.raises(RegistryError, match="nothing to roll back"), Registry.edit() as registry:
        registry.rollback()


def test_refuses_unknown_and_tampered_versions_and_saves_nothing(two: tuple[Path, Path], root: Path) -> None:
    v1, v2 = two
    ensure_registered(v1)
    with Registry.edit() as registry:
        registry.register(v2)
    before = (root / "registry.json").read_text(encoding="utf-8")
    with pytest.raises(RegistryError, match="no version 'v9'"), Registry.edit() as registry:
        registry.promote("v9")
    (v2 / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(Exception, match="checksum mismatch"), Registry.edit() as registry:
        registry.promote("v2")
    assert (root / "registry.json").read_text(encoding="utf-8") == before
    assert Registry.load().current == "v1"


def test_models_commands(two: tuple[Path, Path]) -> None:
    v1, v2 = two
    for bundle in (v1, v2):
        assert runner.invoke(cli.app, ["models", "register", str(bundle)]).exit_code == 0
    result = runner.invoke(cli.app, ["models", "promote", "v2"])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli.app, ["models", "list"])
    assert listed.exit_code == 0 and "v2" in listed.stdout and "*" in listed.stdout
    assert runner.invoke(cli.app, ["models", "rollback"]).exit_code == 0
    assert Registry.load().current == "v1"
    result = runner.invoke(cli.app, ["models", "rollback"])
    assert result.exit_code == 2 and "nothing to roll back" in result.stderr
    assert json.loads((Path(v1).parent / "registry.json").read_text(encoding="utf-8"))["current"] == "v1"
