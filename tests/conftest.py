"""Shared fixtures: the project's knowledge files, and one small model trained once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.args import DataArguments, ModelArguments, RunArguments, TrainingArguments
from training.train import train
from triage.bundle import load_bundle
from triage.pipeline import TriagePipeline

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def default_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default preset trained into a temporary folder (what `triage serve` would build on first start)."""
    out = tmp_path_factory.mktemp("models") / "default"
    run = RunArguments(DataArguments(preset="default"), ModelArguments(), TrainingArguments(output_dir=str(out), version="test-default"))
    bundle, _ = train(run)
    return bundle


@pytest.fixture(scope="session")
def pipeline(default_bundle: Path) -> TriagePipeline:
    return load_bundle(default_bundle)


@pytest.fixture()
def write_jsonl(tmp_path: Path):
    """Write rows (dicts, or raw strings/bytes for broken lines) to a JSONL file and return its path."""

    def _write(rows: list[object], name: str = "data.jsonl") -> Path:
        path = tmp_path / name
        with path.open("wb") as handle:
            for row in rows:
                if isinstance(row, bytes):
                    handle.write(row + b"\n")
                elif isinstance(row, str):
                    handle.write(row.encode() + b"\n")
                else:
                    handle.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        return path

    return _write
