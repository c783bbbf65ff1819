"""Labelled data: read (JSONL or CSV), validate, merge extra labels, split. Raw files are never modified.

Every bad line is reported with its file and line number and the rest carry on; nothing is dropped
without a word. A unit missing from the catalogue is reported and its unit label left out.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.errors import DataFileError, InvalidTranscriptError
from triage.labels import KNOWN_LABELS
from triage.normalise import validate_transcript
from triage.resources import CORPUS_DIR, SHARED_DATA_DIR
from triage.units import Catalogue

logger = logging.getLogger(__name__)

LABEL_FIELDS = ("category", "topic", "unit", "district", "scope", "deadline", "redirect")
FIELD_ALIASES = {"domain": "topic"}
"""Other datasets' names for our fields: tipdm2020c calls the topic `domain`."""
TIPDM_DIR = SHARED_DATA_DIR / "tipdm2020c"


@dataclass
class Record:
    id: str
    text: str
    labels: dict[str, str | None] = field(default_factory=dict)
    source: str = ""

    def label(self, name: str) -> str | None:
        return self.labels.get(name)


@dataclass
class Dataset:
    records: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def extend(self, other: Dataset) -> None:
        self.records.extend(other.records)
        self.problems.extend(other.problems)

    def labels(self, name: str) -> list[str | None]:
        return [r.label(name) for r in self.records]

    def texts(self) -> list[str]:
        return [r.text for r in self.records]

    def counts(self, name: str) -> Counter[str]:
        return Counter(v for v in self.labels(name) if v is not None)


def _lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text or None, problem or None) for each line, decoding each line on its own."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataFileError(path, "file not found") from exc
    except IsADirectoryError as exc:
        raise DataFileError(path, "is a folder, expected a JSONL or CSV file") from exc
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            yield number, chunk.decode("utf-8").rstrip("\r"), None
        except UnicodeDecodeError as exc:
            yield number, None, f"not valid UTF-8 (byte {exc.start})"


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    if path.suffix.lower() == ".csv":
        good_lines = []
        for number, line, problem in _lines(path):
            if problem:
                yield number, None, problem
            elif line is not None:
                good_lines.append((number, line))
        if not good_lines:
            return
        reader = csv.reader(io.StringIO("\n".join(line for _, line in good_lines)))
        header = next(reader, None)
        if not header or "text" not in header:
            raise DataFileError(path, "CSV needs a header row with a `text` column", line=good_lines[0][0])
        for (number, _), values in zip(good_lines[1:], reader, strict=False):
            if len(values) != len(header):
                yield number, None, f"{len(values)} fields, header has {len(header)}"
                continue
            yield number, {k: (v if v != "" else None) for k, v in zip(header, values, strict=True)}, None
        return
    for number, line, problem in _lines(path):
        if problem:
            yield number, None, problem
            continue
        if line is None or not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"not valid JSON ({exc.msg})"
            continue
        if not isinstance(obj, dict):
            yield number, None, f"expected a JSON object, got {type(obj).__name__}"
            continue
        yield number, obj, None


def read_labelled(path: str | Path, *, catalogue: Catalogue | None = None, require_text: bool = True) -> Dataset:
    """Read a labelled JSONL or CSV file: fields `text` (required), `id`, and any label fields."""
    path = Path(path)
    data = Dataset()
    for number, obj, problem in _rows(path):
        where = f"{path}:{number}"
        if problem or obj is None:
            data.problems.append(f"{where}: {problem}")
            continue
        for alias, name in FIELD_ALIASES.items():
            if alias in obj and name not in obj:
                obj[name] = obj[alias]
        text = obj.get("text")
        if require_text:
            if "text" not in obj:
                data.problems.append(f"{where}: no `text` field")
                continue
            try:
                validate_transcript(text)
            except InvalidTranscriptError as exc:
                data.problems.append(f"{where}: `text`: {exc}")
                continue
        labels: dict[str, str | None] = {}
        bad = None
        for name in LABEL_FIELDS:
            value = obj.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                bad = f"`{name}` must be a string, got {type(value).__name__}"
                break
            value = value.strip()
            known = KNOWN_LABELS.get(name)
            if known is not None and value not in known:
                bad = f"unknown {name} {value!r}; expected one of {', '.join(known)}"
                break
            if name == "unit" and catalogue is not None:
                canonical = catalogue.resolve(value)
                if canonical is None:
                    data.problems.append(f"{where}: unit {value!r} is not in the catalogue; its unit label is left out")
                    continue
                value = canonical
            labels[name] = value
        if bad:
            data.problems.append(f"{where}: {bad}")
            continue
        record_id = str(obj.get("id") or f"{path.stem}-{number}")
        data.records.append(Record(record_id, text if isinstance(text, str) else "", labels, source=where))
    return data


def merge_labels(data: Dataset, label_file: str | Path) -> int:
    """Add labels from a JSONL of `{"id", <label fields>}` to records with that id; returns how many matched."""
    extra = read_labelled(label_file, require_text=False)
    data.problems.extend(extra.problems)
    by_id = {r.id: r for r in extra.records}
    matched = 0
    for record in data.records:
        if record.id in by_id:
            record.labels.update(by_id[record.id].labels)
            matched += 1
    return matched


def is_dev(record_id: str, fraction: float, seed: int = 0) -> bool:
    """Deterministic split by id hash: the same record is always on the same side."""
    digest = hashlib.sha256(f"{seed}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split(data: Dataset, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    train, dev = Dataset(problems=list(data.problems)), Dataset()
    for record in data.records:
        (dev if is_dev(record.id, fraction, seed) else train).records.append(record)
    return train, dev


def corpus_files(corpus_dir: Path = CORPUS_DIR) -> list[Path]:
    files = sorted(corpus_dir.glob("*.jsonl"))
    if not files:
        raise DataFileError(corpus_dir, "no *.jsonl call corpus found")
    return files


def read_many(paths: Iterable[str | Path], *, catalogue: Catalogue | None = None) -> Dataset:
    data = Dataset()
    for path in paths:
        data.extend(read_labelled(path, catalogue=catalogue))
    return data


def own_corpus(catalogue: Catalogue | None = None) -> Dataset:
    """The project's own labelled call corpus (data/corpus)."""
    return read_many(corpus_files(), catalogue=catalogue)


def tipdm_train() -> Dataset:
    """tipdm2020c's training split with its request-category annotations merged in; all in scope."""
    train_file = TIPDM_DIR / "train.jsonl"
    if not train_file.is_file():
        raise DataFileError(train_file, "shared dataset not found; the `full` preset needs ../shared/data")
    data = read_labelled(train_file)
    labels = TIPDM_DIR / "category_labels_train.jsonl"
    if labels.is_file():
        merge_labels(data, labels)
    for record in data.records:
        record.labels.setdefault("scope", "accepted")
    return data


def fingerprint(data: Dataset) -> dict[str, Any]:
    """A content hash and the label counts: enough to tell later whether two models saw the same data."""
    digest = hashlib.sha256()
    for record in data.records:
        digest.update(record.id.encode())
        digest.update(b"\0")
        digest.update(record.text.encode())
        digest.update(json.dumps(record.labels, sort_keys=True, ensure_ascii=False).encode())
    return {
        "rows": len(data),
        "sha256": digest.hexdigest(),
        "labels": {name: dict(data.counts(name)) for name in LABEL_FIELDS if data.counts(name)},
    }
