"""A saved model is an auditable folder: weights, config, knowledge, checksums, data fingerprints, metrics, card.

The model is served in its compiled form (triage/classifiers/compiled.py: arrays, labels and a few numbers) as
two files: `arrays.bin`, every array as raw bytes, and `model.json`, the objects' structure naming the arrays
(offset, dtype, shape). Loading maps `arrays.bin` instead of reading it and imports neither scikit-learn nor a
pickle: a worker starts in a fraction of a second, and N workers share one copy of the weights. Only the types
listed in `SERVED_TYPES` can be built from `model.json`. Every file's SHA-256 is still checked against
`manifest.json` before use, and a mismatch is refused with the file named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import mmap
import os
import platform
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, fields, is_dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from triage import regex_cache
from triage.caller_state import StateScorer
from triage.classifiers.compiled import (
    CompiledClassifier,
    CompiledFeaturizer,
    CompiledHead,
    CompiledTfidf,
    Recalibration,
    ScoreMaps,
)
from triage.collector import collection_paused
from triage.deadlines import WorkingCalendar, default_calendar
from triage.elements import ELEMENTS_FILE, load_element_rules
from triage.errors import BundleError
from triage.pipeline import Knowledge, TriagePipeline
from triage.places import load_gazetteer
from triage.resources import PLACES_FILE, PROJECT_ROOT, RULES_FILE, UNITS_FILE
from triage.routing import RankingWeights
from triage.rules import load_rules
from triage.segment import default_segmenter
from triage.suggest import ReviewThresholds
from triage.units import load_catalogue

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MODEL_FILE = "model.json"
ARRAYS_FILE = "arrays.bin"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
KNOWLEDGE = {"units.yaml": UNITS_FILE, "places.yaml": PLACES_FILE, "rules.yaml": RULES_FILE, "elements.yaml": ELEMENTS_FILE}
TRANSFORMER_DIR = "transformer"
FORMAT_VERSION = 3
"""3: the compiled model, `model.json` naming arrays in `arrays.bin` (mapped at load); no pickle.
2: objects pickled with their arrays out of band in `arrays.bin`. 1: one compressed joblib."""
SERVED_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (CompiledClassifier, CompiledFeaturizer, CompiledTfidf, CompiledHead, ScoreMaps, Recalibration, StateScorer)
}
"""The only objects `model.json` may describe: loading builds nothing else."""
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
    """The file's SHA-256, hashed from a map of it in one call: hashlib then releases the GIL for the whole file,
    so another thread (loading the segmenter) runs meanwhile."""
    with path.open("rb") as handle:
        if not os.fstat(handle.fileno()).st_size:
            return hashlib.sha256().hexdigest()
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return hashlib.sha256(mapped).hexdigest()


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
    served = {"classifier": pipeline.classifier.compiled(), "caller_state": pipeline.caller_state.compiled(), **pipeline.precomputed()}
    _dump_model(served, tmp)
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


def _dump_model(payload: dict[str, Any], folder: Path) -> None:
    """Write `payload` as MODEL_FILE (its structure) and ARRAYS_FILE (its arrays, each aligned, back to back)."""
    arrays: dict[str, np.ndarray] = {}
    structure = _encode(payload, arrays, "model")
    layout: dict[str, list[Any]] = {}
    with (folder / ARRAYS_FILE).open("wb") as out:
        for name, array in arrays.items():
            out.write(b"\0" * (-out.tell() % _ALIGN))
            layout[name] = [out.tell(), array.nbytes, array.dtype.str, list(array.shape)]
            out.write(np.ascontiguousarray(array).tobytes())
    document = {"arrays": layout, "model": structure}
    (folder / MODEL_FILE).write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _encode(value: Any, arrays: dict[str, np.ndarray], path: str) -> Any:
    """JSON for `value`; its arrays go to `arrays` under their path in the structure."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError(f"{path}: an array of Python objects cannot be stored; store a list of strings")
        arrays[path] = value
        return {"array": path}
    if sp.issparse(value):
        csr = sp.csr_matrix(value)
        return {"csr": {part: _encode(getattr(csr, part), arrays, f"{path}.{part}") for part in ("data", "indices", "indptr")}, "shape": list(csr.shape)}
    if is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if SERVED_TYPES.get(name) is not type(value):
            raise TypeError(f"{path}: {name} is not a served type")
        return {"object": name, "fields": {f.name: _encode(getattr(value, f.name), arrays, f"{path}.{f.name}") for f in fields(value)}}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{path}: only string keys can be stored")
        return {"dict": {k: _encode(v, arrays, f"{path}.{k}") for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"list": [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise TypeError(f"{path}: cannot store a {type(value).__name__}")


def _decode(value: Any, arrays: dict[str, np.ndarray], where: Path) -> Any:
    if not isinstance(value, dict):
        return value
    if "array" in value:
        if value["array"] not in arrays:
            raise BundleError(f"{where}: names an array {value['array']!r} that {ARRAYS_FILE} does not hold")
        return arrays[value["array"]]
    if "csr" in value:
        parts = {k: _decode(v, arrays, where) for k, v in value["csr"].items()}
        return sp.csr_matrix((parts["data"], parts["indices"], parts["indptr"]), shape=tuple(value["shape"]), copy=False)
    if "object" in value:
        cls = SERVED_TYPES.get(value["object"])
        if cls is None:
            raise BundleError(f"{where}: describes a {value['object']!r}, which is not a served type; refusing to load")
        return cls(**{k: _decode(v, arrays, where) for k, v in value["fields"].items()})
    if "dict" in value:
        return {k: _decode(v, arrays, where) for k, v in value["dict"].items()}
    if "list" in value:
        return [_decode(v, arrays, where) for v in value["list"]]
    raise BundleError(f"{where}: unreadable entry {sorted(value)}")


def _load_model(bundle_dir: Path) -> dict[str, Any]:
    """The payload `_dump_model` wrote, its arrays read-only views of the mapped ARRAYS_FILE (pages are read
    when first touched, and shared between processes that map the same file)."""
    path = bundle_dir / ARRAYS_FILE
    where = bundle_dir / MODEL_FILE
    try:
        document = json.loads(where.read_text(encoding="utf-8"))
        layout = document["arrays"]
        structure = document["model"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BundleError(f"{where}: unreadable ({exc})") from exc
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else b""
    arrays: dict[str, np.ndarray] = {}
    for name, (offset, length, dtype, shape) in layout.items():
        kind = np.dtype(dtype)
        if kind.hasobject or offset + length > len(mapped) or length != kind.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise BundleError(f"{path}: does not match its layout in {MODEL_FILE} (array {name!r})")
        array = np.frombuffer(mapped, dtype=kind, count=length // kind.itemsize, offset=offset) if length else np.zeros(0, dtype=kind)
        arrays[name] = array.reshape(shape)
    try:
        return _decode(structure, arrays, where)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{where}: does not load ({exc})") from exc


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
    for required in (MODEL_FILE, ARRAYS_FILE, CONFIG_FILE):
        if required not in files:
            raise BundleError(f"{bundle_dir}: manifest lists no {required}")
    for name in files:
        if not (bundle_dir / name).is_file():
            raise BundleError(f"{bundle_dir / name}: listed in the manifest but missing")
    for name, expected in sorted(files.items(), key=lambda item: -(bundle_dir / item[0]).stat().st_size):
        path = bundle_dir / name  # the largest first: its hashing runs without the GIL while load_bundle goes on
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
    """Verify, then load a bundle into a ready pipeline.

    The checksums (most of them `arrays.bin`'s, hashed without the GIL) run on the other core while this one
    builds the pipeline: no pipeline is returned, and no error but the checksum's is raised, before every file
    has passed. Building reads the knowledge files and maps the arrays, none of which runs code from the bundle
    (`model.json` builds only `SERVED_TYPES`; a transformer member waits for the checksums), so a file that fails
    its checksum costs nothing but the work. The garbage collector waits until the pipeline is built (see
    `triage.collector`).
    """
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: no such model folder")
    with collection_paused(), ThreadPoolExecutor(max_workers=1) as pool:
        verified = pool.submit(verify_bundle, bundle_dir)
        try:
            pipeline = _build_pipeline(bundle_dir, calendar, verified)
        except BaseException:
            verified.result()  # a file that failed its checksum is the error to report, not what it broke
            raise
        verified.result()
    regex_cache.flush()  # the rules' compiled patterns, for the next process (only when this one compiled new ones)
    return pipeline


def _build_pipeline(bundle_dir: Path, calendar: WorkingCalendar | None, verified: Future[dict[str, Any]]) -> TriagePipeline:
    default_segmenter()  # not from the bundle: jieba's dictionary loads (holding the GIL) while the checksums run
    try:
        config = json.loads((bundle_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{bundle_dir / CONFIG_FILE}: unreadable ({exc})") from exc
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
    payload = _load_model(bundle_dir)
    classifier = payload.pop("classifier")
    caller_state = payload.pop("caller_state", None)
    transformer = None
    if "transformer" in config.get("members", []):
        from triage.transformer import TransformerHeads

        verified.result()  # torch's weights may hold a pickle: nothing of them is read before the checksums pass

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
