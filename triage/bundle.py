"""A saved model is an auditable folder: weights, config, knowledge, checksums, data fingerprints, metrics, card.

The model is two files: `classifier.pkl`, the objects (a pickle, protocol 5), and `arrays.bin`, every large
array they hold (weights, IDF, sparse matrices) as raw bytes. Loading maps `arrays.bin` into memory instead of
reading and decompressing it, and the C unpickler rebuilds the objects around those arrays: a worker starts in
a fraction of a second and N workers share one copy of the weights. A pickle executes code when loaded, so
every file's SHA-256 is checked against `manifest.json` before anything is unpickled, and a mismatch is
refused with the file named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import mmap
import pickle
import platform
import shutil
import subprocess
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from triage.deadlines import WorkingCalendar, default_calendar
from triage.elements import ELEMENTS_FILE, load_element_rules
from triage.errors import BundleError
from triage.pipeline import Knowledge, TriagePipeline
from triage.places import load_gazetteer
from triage.resources import PLACES_FILE, PROJECT_ROOT, RULES_FILE, UNITS_FILE
from triage.routing import RankingWeights
from triage.rules import load_rules
from triage.suggest import ReviewThresholds
from triage.units import load_catalogue

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CLASSIFIER_FILE = "classifier.pkl"
ARRAYS_FILE = "arrays.bin"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
KNOWLEDGE = {"units.yaml": UNITS_FILE, "places.yaml": PLACES_FILE, "rules.yaml": RULES_FILE, "elements.yaml": ELEMENTS_FILE}
TRANSFORMER_DIR = "transformer"
FORMAT_VERSION = 2
"""2: objects pickled with their arrays out of band in `arrays.bin`, mapped at load. 1: one compressed joblib."""
_ALIGN = 64
"""Each array starts at a multiple of this in `arrays.bin`, so that the mapped arrays are aligned for numpy."""
_PACKAGES = (
    "hotline-triage", "scikit-learn", "numpy", "scipy", "jieba", "opencc", "chinesecalendar", "joblib",
    "torch", "transformers", "onnxruntime", "tokenizers",
)


def _copy_transformer(source: Path, target: Path) -> None:
    """The files serving needs (weights, heads, tokenizer, ONNX, cards), not training checkpoints.

    With an int8 ONNX file present the fp32 export stays behind: serving prefers int8 and the torch weights
    remain as the fallback where onnxruntime is missing.
    """
    target.mkdir()
    has_int8 = (source / "model.int8.onnx").is_file()
    for path in sorted(source.iterdir()):
        if path.is_file() and not (has_int8 and path.name == "model.onnx"):
            shutil.copyfile(path, target / path.name)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def save_bundle(
    pipeline: TriagePipeline,
    out_dir: str | Path,
    *,
    training: dict[str, Any],
    metrics: dict[str, Any],
    card: str,
    knowledge_files: dict[str, Path] | None = None,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write the bundle atomically: into a temporary sibling folder, then renamed into place."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "knowledge").mkdir(parents=True)
    layout = _dump_model({"classifier": pipeline.classifier, "caller_state": pipeline.caller_state, **pipeline.precomputed()}, tmp)
    for name, source in (knowledge_files or KNOWLEDGE).items():
        shutil.copyfile(source, tmp / "knowledge" / name)
    if pipeline.transformer is not None:
        _copy_transformer(Path(pipeline.transformer.folder), tmp / TRANSFORMER_DIR)
    config = {
        "format_version": FORMAT_VERSION,
        "version": pipeline.version,
        "heads": pipeline.heads,
        "labels": {h: [str(c) for c in pipeline.classifier.classes_[h]] for h in pipeline.heads},
        "thresholds": asdict(pipeline.thresholds),
        "ranking_weights": asdict(pipeline.ranker.weights),
        "refusal_threshold": pipeline.scope.refusal_threshold,
        "members": ["linear"] + (["transformer"] if pipeline.transformer is not None else []),
        "blend": pipeline.blend if pipeline.transformer is not None else {},
        "arrays": layout,
    }
    (tmp / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    (tmp / CARD_FILE).write_text(card, encoding="utf-8")
    for name, content in (extra_files or {}).items():
        (tmp / name).write_text(content, encoding="utf-8")
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    manifest = {
        "format_version": FORMAT_VERSION,
        "version": pipeline.version,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "packages": _versions(),
        "labels": config["labels"],
        "training": training,
        "metrics": metrics,
        "files": {p.relative_to(tmp).as_posix(): sha256_file(p) for p in files},
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    logger.info("saved model %s to %s", pipeline.version, out_dir)
    return out_dir


def _dump_model(payload: dict[str, Any], folder: Path) -> list[list[int]]:
    """Pickle `payload` to CLASSIFIER_FILE with every array out of band in ARRAYS_FILE; returns the arrays'
    (offset, length) in that file, in the order the pickle asks for them."""
    buffers: list[pickle.PickleBuffer] = []
    objects = pickle.dumps(payload, protocol=5, buffer_callback=buffers.append)
    (folder / CLASSIFIER_FILE).write_bytes(objects)
    layout: list[list[int]] = []
    with (folder / ARRAYS_FILE).open("wb") as out:
        for buffer in buffers:
            raw = buffer.raw()
            out.write(b"\0" * (-out.tell() % _ALIGN))
            layout.append([out.tell(), raw.nbytes])
            out.write(raw)
    return layout


def _load_model(bundle_dir: Path, layout: list[list[int]]) -> dict[str, Any]:
    """The payload `_dump_model` wrote, its arrays read-only views of the mapped ARRAYS_FILE (pages are read
    when first touched, and shared between processes that map the same file)."""
    path = bundle_dir / ARRAYS_FILE
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else b""
    view = memoryview(mapped)
    if any(offset + length > len(view) for offset, length in layout):
        raise BundleError(f"{path}: shorter than its layout in {CONFIG_FILE}")
    buffers = [view[offset : offset + length] for offset, length in layout]
    try:
        return pickle.loads((bundle_dir / CLASSIFIER_FILE).read_bytes(), buffers=buffers)
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
        raise BundleError(f"{bundle_dir / CLASSIFIER_FILE}: does not load ({exc})") from exc


def read_manifest(bundle_dir: str | Path) -> dict[str, Any]:
    path = Path(bundle_dir) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{bundle_dir}: no {MANIFEST}; not a model bundle (train one with `triage train`)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: unreadable manifest ({exc})") from exc


def verify_bundle(bundle_dir: str | Path) -> dict[str, Any]:
    """Check every file against the manifest; raise BundleError naming the first file that differs."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    files: dict[str, str] = manifest.get("files", {})
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _old_format(bundle_dir, manifest.get("format_version"))
    for required in (CLASSIFIER_FILE, ARRAYS_FILE, CONFIG_FILE):
        if required not in files:
            raise BundleError(f"{bundle_dir}: manifest lists no {required}")
    for name, expected in files.items():
        path = bundle_dir / name
        if not path.is_file():
            raise BundleError(f"{path}: listed in the manifest but missing")
        if sha256_file(path) != expected:
            raise BundleError(f"{path}: checksum mismatch (the file was changed or truncated after training)")
    extra = sorted(
        p.relative_to(bundle_dir).as_posix()
        for p in bundle_dir.rglob("*")
        if p.is_file() and p.name != MANIFEST and p.relative_to(bundle_dir).as_posix() not in files
    )
    if any(name.endswith((".joblib", ".pkl", ".pickle", ".bin")) for name in extra):
        raise BundleError(f"{bundle_dir}: unlisted code-bearing file {extra[0]}; refusing to load")
    return manifest


def _old_format(bundle_dir: Path, version: object) -> BundleError:
    """The error for a bundle of another format: which, and the command that rebuilds it."""
    args = bundle_dir / "training_args.json"
    how = f"`triage train --config {args}`" if args.is_file() else f"`triage train --out {bundle_dir}` with the data it was trained on"
    return BundleError(
        f"{bundle_dir}: bundle format {version} is not {FORMAT_VERSION}, which this version of triage loads; rebuild it with {how}"
    )


def load_bundle(bundle_dir: str | Path, *, calendar: WorkingCalendar | None = None) -> TriagePipeline:
    """Verify, then load a bundle into a ready pipeline."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: no such model folder")
    verify_bundle(bundle_dir)
    config = json.loads((bundle_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    if config.get("format_version") != FORMAT_VERSION:
        raise _old_format(bundle_dir, config.get("format_version"))
    knowledge_dir = bundle_dir / "knowledge"
    knowledge = Knowledge(
        catalogue=load_catalogue(knowledge_dir / "units.yaml"),
        gazetteer=load_gazetteer(knowledge_dir / "places.yaml"),
        rules=load_rules(knowledge_dir / "rules.yaml"),
        calendar=calendar or default_calendar(),
        elements=load_element_rules(knowledge_dir / "elements.yaml") if (knowledge_dir / "elements.yaml").is_file() else None,
    )
    payload = _load_model(bundle_dir, config.get("arrays", []))
    classifier = payload.pop("classifier")
    caller_state = payload.pop("caller_state", None)
    transformer = None
    if "transformer" in config.get("members", []):
        from triage.transformer import TransformerHeads

        try:
            transformer = TransformerHeads.load(bundle_dir / TRANSFORMER_DIR)
        except (OSError, ValueError, ImportError) as exc:
            raise BundleError(f"{bundle_dir / TRANSFORMER_DIR}: the transformer member does not load ({exc})") from exc
    return TriagePipeline(
        classifier,
        knowledge,
        thresholds=ReviewThresholds(**config["thresholds"]),
        weights=RankingWeights(**config["ranking_weights"]),
        refusal_threshold=config["refusal_threshold"],
        version=config["version"],
        transformer=transformer,
        blend=config.get("blend"),
        precomputed=payload,
        caller_state=caller_state,
    )
