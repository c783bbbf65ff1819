"""Copies of a trained bundle under another version: registry and reload tests need several models, not several trainings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from triage.bundle import CONFIG_FILE, MANIFEST, sha256_file


def clone_bundle(source: Path, out: Path, version: str) -> Path:
    """The same weights under `version`, with the manifest's checksums brought up to date."""
    shutil.copytree(source, out)
    config = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
    config["version"] = version
    (out / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    manifest["version"] = version
    manifest.pop("signature", None)
    manifest["files"][CONFIG_FILE] = sha256_file(out / CONFIG_FILE)
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return out
