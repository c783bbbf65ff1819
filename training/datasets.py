"""Labelled data: read (JSONL or CSV), validate, merge extra labels, split. Raw files are never modified.

Every bad line is reported with its file and line number and the rest carry on; nothing is dropped
without a word. A unit name missing from the catalogue (and not `属地`) stops training with the file, the
line and the name (`unknown_units="error"`); evaluation reports it and leaves that unit label out. Label files
merged by id are read strictly in training (`merge_labels(..., strict=True)`): a bad line or an id that matches
no record stops it.

`units_ok` lists every unit a dispatcher would accept, best first (JSONL list, or `;`-joined in CSV); `unit`
is its first entry. `属地` stands for "the district where the problem is" when no district is named.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from triage.datafile import read_yaml
from triage.elements import CALLER_STATES
from triage.errors import DataFileError, InvalidTranscriptError
from triage.labels import KNOWN_LABELS
from triage.normalise import validate_transcript, with_title
from triage.resources import CORPUS_DIR, PROBES_DIR, SHARED_DATA_DIR
from triage.units import LOCAL, Catalogue, canonical_district, default_catalogue

logger = logging.getLogger(__name__)

LABEL_FIELDS = ("category", "topic", "unit", "district", "scope", "deadline", "redirect")
FIELD_ALIASES = {"domain": "topic"}
"""Other datasets' names for our fields: tipdm2020c calls the topic `domain`."""
TIPDM_DIR = SHARED_DATA_DIR / "tipdm2020c"
TEST_FRACTION = 0.2
TEST_SALT = "frozen-test-v1"
"""The own corpus's test split is fixed by this salt and fraction, not by a training seed: nothing tunes on it."""
UnknownUnits = Literal["error", "skip"]
ORIGINS = ("calls", "messages", "orders")
CATEGORY_LABEL_FILES = ("category_labels_train.jsonl", "category_labels_train_extra.jsonl")
CATEGORY_LABEL_TEST = "category_labels_test.jsonl"
CATEGORY_LABEL_TEST_SECOND = "category_labels_test_rater2.jsonl"
"""The same test messages labelled by a second, independent annotator: only to report the ceiling and the agreement."""
LOW_CONFIDENCE_WEIGHT = 0.5
"""How much a label marked `confidence: low` counts in training (out-of-fold accuracy preferred it to 1 and to 0)."""
CONFIDENCES = ("high", "low")


@dataclass
class Record:
    id: str
    text: str
    labels: dict[str, str | None] = field(default_factory=dict)
    source: str = ""
    units_ok: tuple[str, ...] = ()
    """Every unit a dispatcher would accept, best first (`unit` is the first); empty when unknown."""
    origin: str = "orders"
    """Where it comes from, and so its register: `calls` (the own corpus) and `probes` (its development probes) are
    spoken, `messages` (real written messages) written, `orders` (a file) spoken."""
    weights: dict[str, float] = field(default_factory=dict)
    """Per head, how much the label counts in training (1 when absent): a label its annotator marked low-confidence less."""
    line: int | None = None
    """The line of its file it was read from."""

    def label(self, name: str) -> str | None:
        return self.labels.get(name)

    def acceptable_units(self) -> tuple[str, ...]:
        """`units_ok`, or the one `unit` when only that is known."""
        if self.units_ok:
            return self.units_ok
        unit = self.labels.get("unit")
        return (unit,) if unit else ()


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


def _unit_names(value: object) -> list[str] | str:
    """`units_ok` as a list of names: a JSON list, or `;`-joined text (CSV); a problem as a string."""
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[;；]", value) if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    return f"`units_ok` must be a list of unit names or `;`-joined text, got {type(value).__name__}"


def read_labelled(
    path: str | Path,
    *,
    catalogue: Catalogue | None = None,
    require_text: bool = True,
    unknown_units: UnknownUnits = "skip",
    strict: bool = False,
) -> Dataset:
    """Read a labelled JSONL or CSV file: fields `text` (required), `id`, `title`, `confidence` and any label fields.

    With a catalogue, unit names are resolved through its aliases (a renamed unit keeps its old name as an
    alias). An unknown unit name raises DataFileError naming the file, line and name when `unknown_units` is
    "error" (training); with "skip" it is reported and that unit label left out (evaluation). With `strict`
    every bad line raises DataFileError with the file, the line and the value instead of being reported.

    A non-empty `title` goes in front of the text (`triage.normalise.with_title`): a letter's title is part of
    what its writer wrote. `confidence: low` (more than one answer is defensible) makes every label on the line
    count LOW_CONFIDENCE_WEIGHT in training (`Record.weights`); `high` or no `confidence` counts fully.
    """
    path = Path(path)
    data = Dataset()

    def report(number: int, reason: str) -> None:
        if strict:
            raise DataFileError(path, reason, line=number)
        data.problems.append(f"{path}:{number}: {reason}")

    for number, obj, problem in _rows(path):
        if problem or obj is None:
            report(number, str(problem))
            continue
        for alias, name in FIELD_ALIASES.items():
            if alias in obj and name not in obj:
                obj[name] = obj[alias]
        text = obj.get("text")
        if require_text:
            if "text" not in obj:
                report(number, "no `text` field")
                continue
            try:
                validate_transcript(text)
            except InvalidTranscriptError as exc:
                report(number, f"`text`: {exc}")
                continue
        elif not obj.get("id"):
            report(number, "no `id` field: a label line names the record it labels by its id")
            continue
        labels: dict[str, str | None] = {}
        bad = None
        confidence = obj.get("confidence")
        if confidence is not None and confidence not in CONFIDENCES:
            bad = f"unknown confidence {confidence!r}; expected one of {', '.join(CONFIDENCES)}"
        for name in LABEL_FIELDS:
            value = obj.get(name)
            if value is None or bad:
                continue
            if not isinstance(value, str):
                bad = f"`{name}` must be a string, got {type(value).__name__}"
                break
            value = value.strip()
            if name == "district":
                value = canonical_district(value, catalogue) or value  # a former name (宁乡县) is today's label
            known = KNOWN_LABELS.get(name)
            if known is not None and value not in known:
                bad = f"unknown {name} {value!r}; expected one of {', '.join(known)}"
                break
            if name == "unit" and catalogue is not None:
                canonical = _resolve_unit(value, catalogue, path, number, "error" if strict else unknown_units, data)
                if canonical is None:
                    continue
                value = canonical
            labels[name] = value
        units_ok: list[str] = []
        if bad is None and obj.get("units_ok") is not None:
            names = _unit_names(obj["units_ok"])
            if isinstance(names, str):
                bad = names
            else:
                for value in names:
                    canonical = (
                        _resolve_unit(value, catalogue, path, number, "error" if strict else unknown_units, data) if catalogue else value
                    )
                    if canonical is not None and canonical not in units_ok:
                        units_ok.append(canonical)
        if bad:
            report(number, bad)
            continue
        unit = labels.get("unit")
        if unit and units_ok and units_ok[0] != unit:
            units_ok = [unit, *(u for u in units_ok if u != unit)]
        elif units_ok and not unit:
            labels["unit"] = units_ok[0]
        weights = dict.fromkeys(labels, LOW_CONFIDENCE_WEIGHT) if confidence == "low" else {}
        record_id = str(obj.get("id") or f"{path.stem}-{number}")
        origin = obj.get("origin") if obj.get("origin") in ORIGINS else "orders"  # a merged file keeps each row's register
        text = with_title(obj.get("title"), text) if isinstance(text, str) else ""
        data.records.append(
            Record(record_id, text, labels, source=f"{path}:{number}", units_ok=tuple(units_ok), origin=origin, weights=weights, line=number)
        )
    return data


def _resolve_unit(
    value: str, catalogue: Catalogue | None, path: Path, line: int, unknown_units: UnknownUnits, data: Dataset
) -> str | None:
    """A unit label's catalogue name (`属地` stays as it is); None, reported, when unknown and skipped."""
    if value == LOCAL or catalogue is None:
        return value
    canonical = catalogue.resolve(value)
    if canonical is not None:
        return canonical
    if unknown_units == "error":
        raise DataFileError(path, f"unit {value!r} is not in the catalogue (data/units.yaml) nor {LOCAL}", line=line)
    data.problems.append(f"{path}:{line}: unit {value!r} is not in the catalogue; its unit label is left out")
    return None


def merge_labels(
    data: Dataset,
    label_file: str | Path,
    *,
    catalogue: Catalogue | None = None,
    unknown_units: UnknownUnits = "skip",
    strict: bool = False,
) -> int:
    """Add labels from a JSONL of `{"id", <label fields>, "confidence"?}` to the records with that id; returns how
    many records matched. A label replaces the record's own for its field, with its weight (`confidence: low`
    counts LOW_CONFIDENCE_WEIGHT in training).

    `strict` (training): a bad line (an unknown category or other label value, no id, not JSON) or an id that
    matches no record raises DataFileError naming the file, the line and the value. Otherwise (evaluation) each
    is reported in `data.problems` and the rest is used.

    An id given twice in the file with different labels is reported with both line numbers and resolved by one
    rule: a line not marked `confidence: low` wins over one that is; between two equally confident lines the
    first wins.
    """
    label_file = Path(label_file)
    extra = read_labelled(label_file, require_text=False, catalogue=catalogue, unknown_units=unknown_units, strict=strict)
    data.problems.extend(extra.problems)
    by_id: dict[str, Record] = {}
    for line in extra.records:
        kept = by_id.get(line.id)
        if kept is None:
            by_id[line.id] = line
            continue
        winner = line if _is_low(kept) and not _is_low(line) else kept
        if (kept.labels, kept.units_ok) != (line.labels, line.units_ok):
            data.problems.append(
                f"{label_file}:{kept.line} and line {line.line}: id {line.id!r} has different labels ({_describe(kept)};"
                f" {_describe(line)}); line {winner.line}'s are used (a confident label wins, otherwise the first)"
            )
        by_id[line.id] = winner
    matched: set[str] = set()
    for record in data.records:
        found = by_id.get(record.id)
        if found is None:
            continue
        record.labels.update(found.labels)
        if found.units_ok:
            record.units_ok = found.units_ok
        for name in found.labels:
            record.weights.pop(name, None)
        record.weights.update(found.weights)
        matched.add(record.id)
    for line in by_id.values():
        if line.id not in matched:
            reason = f"id {line.id!r} matches no record"
            if strict:
                raise DataFileError(label_file, reason, line=line.line)
            data.problems.append(f"{label_file}:{line.line}: {reason}; its labels are not used")
    return sum(record.id in matched for record in data.records)


def labels_by_id(data: Dataset, label_file: str | Path, name: str = "category") -> dict[str, str]:
    """Another annotator's `name` labels of `data`'s records, by id, leaving `data`'s own labels as they are: the
    file is read like any label file, leniently (its problems added to `data.problems`)."""
    shadow = Dataset([Record(r.id, r.text) for r in data.records])
    merge_labels(shadow, label_file)
    data.problems.extend(shadow.problems)
    return {r.id: value for r in shadow.records if (value := r.label(name))}


def tipdm_annotated_test() -> tuple[Dataset, dict[str, str]]:
    """tipdm2020c's test messages that both request-type annotators labelled, with the first's categories, and
    the second's by id. Read only to report the ceiling (model card); never trained or tuned on."""
    files = [TIPDM_DIR / name for name in ("test.jsonl", CATEGORY_LABEL_TEST, CATEGORY_LABEL_TEST_SECOND)]
    if not all(f.is_file() for f in files):
        return Dataset(), {}
    test = read_labelled(TIPDM_DIR / "test.jsonl")
    merge_labels(test, TIPDM_DIR / CATEGORY_LABEL_TEST)
    second = labels_by_id(test, TIPDM_DIR / CATEGORY_LABEL_TEST_SECOND)
    test.records = [r for r in test.records if r.label("category") and r.id in second]
    return test, second


def _is_low(record: Record) -> bool:
    return any(weight < 1 for weight in record.weights.values())


def _describe(record: Record) -> str:
    """A label line's labels as a reader would say them: `category 投诉 (low)`."""
    parts = [f"{name} {value}" for name, value in record.labels.items() if not (name == "unit" and record.units_ok)]
    if record.units_ok:
        parts.append(f"units_ok {'/'.join(record.units_ok)}")
    return ", ".join(parts or ["no label"]) + (" (low)" if _is_low(record) else "")


def is_dev(record_id: str, fraction: float, seed: int = 0) -> bool:
    """Deterministic split by id hash: the same record is always on the same side."""
    digest = hashlib.sha256(f"{seed}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def is_test(record_id: str) -> bool:
    """Whether a call of the own corpus is in its frozen test split (fixed salt: no seed moves it)."""
    digest = hashlib.sha256(f"{TEST_SALT}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < TEST_FRACTION


def corpus_split(catalogue: Catalogue | None = None) -> tuple[Dataset, Dataset]:
    """The own corpus as (training pool, frozen test split). Only reports read the test split."""
    data = own_corpus(catalogue)
    pool, test = Dataset(problems=list(data.problems)), Dataset()
    for record in data.records:
        (test if is_test(record.id) else pool).records.append(record)
    return pool, test


def split(data: Dataset, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    train, dev = Dataset(problems=list(data.problems)), Dataset()
    for record in data.records:
        (dev if is_dev(record.id, fraction, seed) else train).records.append(record)
    return train, dev


def corpus_files(corpus_dir: Path = CORPUS_DIR) -> list[Path]:
    files = sorted(corpus_dir.glob("calls_*.jsonl"))
    if not files:
        raise DataFileError(corpus_dir, "no *.jsonl call corpus found")
    return files


def read_many(
    paths: Iterable[str | Path], *, catalogue: Catalogue | None = None, unknown_units: UnknownUnits = "skip", strict: bool = False
) -> Dataset:
    data = Dataset()
    for path in paths:
        data.extend(read_labelled(path, catalogue=catalogue, unknown_units=unknown_units, strict=strict))
    return data


def own_corpus(catalogue: Catalogue | None = None) -> Dataset:
    """The project's own labelled call corpus (data/corpus/calls_*.jsonl); unknown unit names stop it."""
    data = read_many(corpus_files(), catalogue=catalogue, unknown_units="error")
    for record in data.records:
        record.origin = "calls"
    return data


PROBE_STATUSES = ("development", "blind")


def probe_files(status: str, probes_dir: Path = PROBES_DIR) -> list[Path]:
    """The probe files of one status in `probes.yaml`: `development` ones train, `blind` ones are only scored."""
    if status not in PROBE_STATUSES:
        raise ValueError(f"status must be one of {PROBE_STATUSES}, not {status!r}")
    manifest = probes_dir / "probes.yaml"
    listed = (read_yaml(manifest) or {}).get("files") or {}
    for name, value in listed.items():
        if value not in PROBE_STATUSES:
            raise DataFileError(manifest, f"{name}: status {value!r} is not one of {', '.join(PROBE_STATUSES)}")
        if not (probes_dir / name).is_file():
            raise DataFileError(manifest, f"{name} is listed but missing")
    unlisted = sorted(p.name for p in probes_dir.glob("*.jsonl") if p.name not in listed)
    if unlisted:  # a new file is blind or development by a decision, never by default
        raise DataFileError(manifest, f"give a status to {', '.join(unlisted)}")
    return [probes_dir / name for name, value in sorted(listed.items()) if value == status]


def development_probes(catalogue: Catalogue | None = None, frozen: Iterable[Record] = ()) -> Dataset:
    """Outside writers' calls that were read for fixes or written to train (data/probes): they train beside the corpus;
    blind ones never. A call repeating one of `frozen` (the evaluation calls) is left out."""
    data = read_many(probe_files("development"), catalogue=catalogue, unknown_units="error", strict=True)
    repeats = call_keys(frozen)
    data.records = [r for r in data.records if same_call_key(r.text) not in repeats]
    for record in data.records:
        record.origin = "probes"
    return data


def tipdm_train(catalogue: Catalogue | None = None) -> Dataset:
    """tipdm2020c's training split as the product trains on it: every message but the held-out unit-labelled ones."""
    return tipdm_split(catalogue)[0]


def tipdm_held_out(catalogue: Catalogue | None = None) -> Dataset:
    """The unit-labelled messages of tipdm2020c's training split held out like the calls' test split (the same
    fixed salt and fraction): never trained or tuned on, scored to report the unit head on real messages."""
    return tipdm_split(catalogue)[1]


def tipdm_split(catalogue: Catalogue | None = None) -> tuple[Dataset, Dataset]:
    """tipdm2020c's training split with its request-category and acceptable-unit annotations; all in scope.

    Every message has a category (the first 560 annotated first, the rest later by the same conventions) and its
    title in front of its text; a label its annotator marked `low` (more than one is defensible: categories and
    acceptable units alike) counts LOW_CONFIDENCE_WEIGHT in training (for the category, out-of-fold accuracy
    preferred it to counting it fully or leaving it out). A message's `units_ok` names catalogue units or `属地` (its places are
    masked, so no district is named). The annotation files are read strictly: a bad line or an id that matches
    no message stops training with the file, the line and the value.
    """
    train_file = TIPDM_DIR / "train.jsonl"
    if not train_file.is_file():
        raise DataFileError(train_file, "shared dataset not found; the `full` preset needs ../shared/data")
    data = read_labelled(train_file)
    for name in CATEGORY_LABEL_FILES:
        if (TIPDM_DIR / name).is_file():
            merge_labels(data, TIPDM_DIR / name, strict=True)
    units = TIPDM_DIR / "unit_labels_train.jsonl"
    if units.is_file():
        merge_labels(data, units, catalogue=catalogue or default_catalogue(), strict=True)
    train, held_out = Dataset(problems=list(data.problems)), Dataset()
    for record in data.records:
        record.labels.setdefault("scope", "accepted")
        record.origin = "messages"
        (held_out if record.units_ok and is_test(record.id) else train).records.append(record)
    return train, held_out


def catalogue_rows(catalogue: Catalogue) -> Dataset:
    """The catalogue's knowledge as unit-labelled rows: each unit's name, aliases and duty phrases (a phrase
    that several districts share once, as `属地`). They teach the unit head what the duty lists say, in the
    words of the lists, and are never scored: they train in every fold."""
    data = Dataset()
    seen: set[tuple[str, str]] = set()
    for unit in catalogue:
        target = LOCAL if unit.is_local else unit.name
        for phrase in (unit.name, *unit.aliases, *unit.duties):
            if (phrase, target) in seen:
                continue
            seen.add((phrase, target))
            data.records.append(Record(f"catalogue:{unit.name}:{phrase}", phrase, {}, source=str(catalogue.source), units_ok=(target,), origin="catalogue"))
    return data


def fingerprint(data: Dataset) -> dict[str, Any]:
    """A content hash and the label counts: enough to tell later whether two models saw the same data."""
    digest = hashlib.sha256()
    for record in data.records:
        digest.update(record.id.encode())
        digest.update(b"\0")
        digest.update(record.text.encode())
        digest.update(json.dumps(record.labels, sort_keys=True, ensure_ascii=False).encode())
        if record.units_ok:
            digest.update(json.dumps(record.units_ok, ensure_ascii=False).encode())
        if record.weights:
            digest.update(json.dumps(record.weights, sort_keys=True).encode())
    return {
        "rows": len(data),
        "sha256": digest.hexdigest(),
        "labels": {name: dict(data.counts(name)) for name in LABEL_FIELDS if data.counts(name)},
    }


@lru_cache(maxsize=65536)
def same_call_key(text: str) -> str:
    """The text two records must share to be "the same call": normalised (so PII-masked), punctuation and spaces dropped.

    Cached: a learning curve or a retrain compares the same base rows with every draw of local rows."""
    from triage.normalise import normalise

    try:
        text = normalise(text)
    except Exception:  # an unreadable line cannot collide with anything
        pass
    return re.sub(r"[\W_]+", "", text)


def call_keys(records: Iterable[Record]) -> set[str]:
    """`same_call_key` of every record: the set a repeat of one of them is looked up in."""
    return {same_call_key(r.text) for r in records}


@dataclass
class LocalMerge:
    """What putting a hotline's own rows beside a preset's did: the counts a model card and a retrain report show."""

    local_rows: int = 0
    local_used: int = 0
    local_duplicate_text: int = 0
    local_held_out_frozen: int = 0
    base_rows: int = 0
    base_replaced: int = 0
    base_contradicted: int = 0


def outrank(base: Dataset, local: Dataset, frozen: Iterable[Record] = ()) -> tuple[list[Record], list[Record], LocalMerge]:
    """(base rows kept, local rows used, counts): a local row outranks every base row with the same normalised text
    (a hotline's decision wins over the label it contradicts); of local rows repeating a call, the last wins; local
    rows that repeat a frozen evaluation call are held out, so that the evaluation stays clean."""
    stats = LocalMerge(local_rows=len(local), base_rows=len(base))
    frozen_keys = call_keys(frozen)
    by_key: dict[str, Record] = {}
    for record in local.records:
        key = same_call_key(record.text)
        if key in frozen_keys:
            stats.local_held_out_frozen += 1
            continue
        if key in by_key:
            stats.local_duplicate_text += 1
            del by_key[key]  # keep the later decision, in the later position
        by_key[key] = record
    kept = []
    for record in base.records:
        winner = by_key.get(same_call_key(record.text))
        if winner is None:
            kept.append(record)
            continue
        stats.base_replaced += 1
        if any(record.label(f) and winner.label(f) and record.label(f) != winner.label(f) for f in winner.labels):
            stats.base_contradicted += 1
    used = list(by_key.values())
    stats.local_used = len(used)
    return kept, used, stats


ELEMENTS_DIR = CORPUS_DIR / "elements"
STATES_WRITTEN = ELEMENTS_DIR / "caller_state_written.jsonl"
"""Calls two outside writers wrote for their caller state alone (people in danger now, and look-alikes): development."""
STATES_WRITTEN_GLOB = "caller_state_written*.jsonl"
"""Every file of calls written for their caller state alone (`STATES_WRITTEN` and those written after it): all train."""
STATES_BLIND = ELEMENTS_DIR / "caller_state_blind.jsonl"
"""A third writer's calls of the same kind, on situations the others' did not all cover: scored, never trained on."""
STATES_BLIND_2 = ELEMENTS_DIR / "caller_state_blind_2.jsonl"
"""A fourth writer's 150 calls over all four states (55 求救 for every emergency number): scored, never trained on."""


def read_states(path: Path) -> list[dict[str, str]]:
    """A file of calls labelled with their caller's state only (`{"id", "text", "caller_state"}` per line)."""
    from training.corpus import read_jsonl  # here: `triage predict` imports this module, and not scikit-learn

    rows = []
    for line, row, problem in read_jsonl(path):
        if row is None:
            raise DataFileError(path, str(problem), line=line)
        state, text, rid = row.get("caller_state"), row.get("text"), row.get("id")
        if state not in CALLER_STATES:
            raise DataFileError(path, f"caller_state {state!r} is not one of {', '.join(CALLER_STATES)}", line=line)
        if not isinstance(text, str) or not text.strip() or not isinstance(rid, str) or not rid:
            raise DataFileError(path, "every line needs an id and a text", line=line)
        rows.append({"id": rid, "text": text, "caller_state": state})
    return rows


def caller_state_rows(probes: bool = True, probes_dir: Path = PROBES_DIR) -> list[dict[str, str]]:
    """Labelled caller states of the training pool, never of the frozen test split: the adjudicated reference
    (`elements/final.jsonl`) first, then the extractor author's labels and other labellers' of the other pool calls
    (`caller_state_author.jsonl`, `caller_state_pool.jsonl`, `caller_state_pool_2.jsonl`; see elements/README.md), then, with `probes`, the
    states outside writers gave their own development calls (data/probes, and `STATES_WRITTEN_GLOB`, calls written
    for their state alone; a repeat of a frozen call left out).
    Each row says its `origin`: `calls` or `probes`, and its `scope` where the call has one (else "")."""
    corpus = read_many(corpus_files()).records
    texts = {r.id: r.text for r in corpus}
    scopes = {r.id: str(r.labels.get("scope") or "") for r in corpus}
    rows: dict[str, dict[str, str]] = {}
    for name in ("final.jsonl", "caller_state_author.jsonl", "caller_state_pool.jsonl", "caller_state_pool_2.jsonl"):
        path = ELEMENTS_DIR / name
        if not path.is_file():
            continue
        with path.open(encoding="utf-8") as handle:
            for row in map(json.loads, filter(str.strip, handle)):
                rid = row.get("id")
                if not rid or is_test(rid) or rid in rows or rid not in texts or not row.get("caller_state"):
                    continue
                rows[rid] = {"id": rid, "text": texts[rid], "caller_state": row["caller_state"], "origin": "calls", "scope": scopes[rid]}
    if probes:
        frozen = call_keys(r for r in corpus if is_test(r.id))
        for path in sorted(ELEMENTS_DIR.glob(STATES_WRITTEN_GLOB)):
            for row in read_states(path):
                if row["id"] not in rows and same_call_key(row["text"]) not in frozen:
                    rows[row["id"]] = {**row, "origin": "probes", "scope": ""}
        for path in probe_files("development", probes_dir):
            for row in probe_states(path):
                if row["id"] not in rows and same_call_key(row["text"]) not in frozen:
                    rows[row["id"]] = {**row, "origin": "probes"}
    return list(rows.values())


def probe_states(path: Path) -> list[dict[str, str]]:
    """The calls of a probe file whose writer gave them a caller state, as {id, text, caller_state, scope} (the id
    `stem:line` where the line has none); a state that is not one of `CALLER_STATES` stops with the file and line."""
    rows = []
    for line, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        row = json.loads(raw)  # the file's lines were checked when its calls were read (`read_many`)
        state = row.get("caller_state")
        if state is None:
            continue
        if state not in CALLER_STATES:
            raise DataFileError(path, f"caller_state {state!r} is not one of {', '.join(CALLER_STATES)}", line=line)
        rid, text = str(row.get("id") or f"{path.stem}:{line}"), str(row.get("text") or "")
        if text:
            rows.append({"id": rid, "text": text, "caller_state": state, "scope": str(row.get("scope") or "")})
    return rows
