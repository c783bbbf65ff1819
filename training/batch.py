"""`triage predict --input`: a file of transcripts streamed through the model on every core, in input order.

Why it is built this way:
- Memory stays flat whatever the file's length: lines are read in chunks, at most a few chunks are in flight,
  and each chunk's output lines are written as soon as every chunk before it is written. No row is kept.
- Segmentation is pure Python and holds the GIL (two threads ran slower than one), so a large file is shared
  between worker *processes*. Each worker loads the bundle itself: its arrays are memory-mapped, so the workers
  share one copy of the weights in the page cache instead of unpickling a copy shipped to each of them. The
  main process only reads, orders and writes, and never loads the model in that mode.
- A small file (under MIN_ROWS_FOR_WORKERS rows) runs in this process: starting workers costs more than it saves.
- Every chunk, here or in a worker, goes through the same function (`suggest_chunk`), so the output does not
  depend on the number of workers, row for row.
- A bad line gives the same error as `training.datasets.read_labelled` (file and line named), written in its
  place in the output (`{"id": null, "error": ...}`), whichever process found it.
"""

from __future__ import annotations

import collections
import csv
import functools
import gc
import json
import os
import resource
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from triage.collector import collection_paused
from triage.errors import DataFileError, InvalidTranscriptError, TriageError

CHUNK_ROWS = 256
"""Rows per chunk: one feature pass per chunk (as `suggest_many` batches), small enough to keep memory flat."""
MIN_ROWS_FOR_WORKERS = 2_000
"""Below this many rows a file is suggested in this process: worker processes take seconds to start."""
IN_FLIGHT_PER_WORKER = 3
"""Chunks queued per worker: enough to keep each one busy while the main process writes, and no more."""

Item = tuple[int, bytes | dict[str, Any] | None, str | None]
"""One input line: its number, the raw JSONL line (parsed by whoever suggests it) or a CSV row, or a problem."""


class BatchError(TriageError):
    """The batch cannot go on (a worker could not load the model): the message says why."""


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk gives back: its output lines joined, counts, the problems to report, and who did it."""

    text: str
    rows: int
    good: int
    bad: int
    skipped: list[str]
    pid: int
    peak_rss_kb: int
    fatal: str | None = None


@dataclass
class BatchSummary:
    """Totals of a run, for the closing line and the benchmarks."""

    rows: int = 0
    good: int = 0
    bad: int = 0
    workers: int = 1
    peak_rss_kb: int = 0
    """This process's peak resident set."""
    worker_peak_rss_kb: dict[int, int] = field(default_factory=dict)
    """Each worker's peak resident set (by pid), as it reported with its last chunk."""


def default_workers() -> int:
    """The cores this process may run on (the affinity mask, not the machine's count, where the OS says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------- reading


def items(path: Path) -> Iterator[Item]:
    """The file's lines one at a time (JSONL: raw; CSV: parsed rows), numbered as `read_labelled` numbers them."""
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise DataFileError(path, "file not found") from exc
    except IsADirectoryError as exc:
        raise DataFileError(path, "is a folder, expected a JSONL or CSV file") from exc
    with handle:
        if path.suffix.lower() == ".csv":
            yield from _csv_items(path, handle)
            return
        for number, raw in enumerate(handle, start=1):
            if raw.strip():  # an ASCII-blank line is blank in any decoding; the rest is judged where it is parsed
                yield number, raw, None


def _csv_items(path: Path, handle: IO[bytes]) -> Iterator[Item]:
    """CSV rows as `training.datasets` reads them: lines decoded one by one (a bad one reported and left out),
    the rest parsed as one CSV, the k-th row numbered as the k-th good line after the header."""
    numbers: collections.deque[int] = collections.deque()
    problems: list[Item] = []

    def good_lines() -> Iterator[str]:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\n").rstrip("\r")
            except UnicodeDecodeError as exc:
                problems.append((number, None, f"not valid UTF-8 (byte {exc.start})"))
                continue
            numbers.append(number)
            yield line + "\n"

    reader = csv.reader(good_lines())
    header = next(reader, None)
    yield from _drain(problems)
    if header is None:
        return
    header_line = numbers.popleft() if numbers else 1
    if not header or "text" not in header:
        raise DataFileError(path, "CSV needs a header row with a `text` column", line=header_line)
    for values in reader:
        yield from _drain(problems)
        number = numbers.popleft()
        if len(values) != len(header):
            yield number, None, f"{len(values)} fields, header has {len(header)}"
        else:
            yield number, {k: (v if v != "" else None) for k, v in zip(header, values, strict=True)}, None
    yield from _drain(problems)


def _drain(problems: list[Item]) -> Iterator[Item]:
    while problems:
        yield problems.pop(0)


def _parsed(item: Item) -> tuple[dict[str, Any] | None, str | None]:
    """A JSONL line as `training.datasets._rows` reads it: (object, None), (None, problem), or (None, None) if blank."""
    _, raw, problem = item
    if problem is not None or not isinstance(raw, bytes):
        return raw, problem  # type: ignore[return-value]
    try:
        line = raw.decode("utf-8").rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte {exc.start})"
    if not line.strip():
        return None, None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg})"
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, got {type(obj).__name__}"
    return obj, None


def _record(obj: dict[str, Any], number: int, stem: str) -> tuple[str, str] | str:
    """(id, text) of a row, or the problem with it: `read_labelled`'s checks (no catalogue, not strict), so that a
    line refused there is refused here with the same words."""
    from training.datasets import CONFIDENCES, FIELD_ALIASES, LABEL_FIELDS, _unit_names
    from triage.labels import KNOWN_LABELS
    from triage.normalise import validate_transcript, with_title

    for alias, name in FIELD_ALIASES.items():
        if alias in obj and name not in obj:
            obj[name] = obj[alias]
    if "text" not in obj:
        return "no `text` field"
    text = obj.get("text")
    try:
        validate_transcript(text)
    except InvalidTranscriptError as exc:
        return f"`text`: {exc}"
    confidence = obj.get("confidence")
    if confidence is not None and confidence not in CONFIDENCES:
        return f"unknown confidence {confidence!r}; expected one of {', '.join(CONFIDENCES)}"
    for name in LABEL_FIELDS:
        value = obj.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"`{name}` must be a string, got {type(value).__name__}"
        known = KNOWN_LABELS.get(name)
        if known is not None and value.strip() not in known:
            return f"unknown {name} {value.strip()!r}; expected one of {', '.join(known)}"
    if obj.get("units_ok") is not None and isinstance(names := _unit_names(obj["units_ok"]), str):
        return names
    return str(obj.get("id") or f"{stem}-{number}"), with_title(obj.get("title"), text) if isinstance(text, str) else ""


def read_item(item: Item, source: str, stem: str) -> tuple[str, str] | str | None:
    """(id, text) to suggest, the problem with the line (file and line named), or None for a blank line."""
    obj, problem = _parsed(item)
    if obj is None and problem is None:
        return None
    record = _record(obj, item[0], stem) if obj is not None else str(problem)
    return f"{source}:{item[0]}: {record}" if isinstance(record, str) else record


def _chunks(stream: Iterator[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in stream:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --------------------------------------------------------------------------------------------- suggesting


@functools.cache
def _knowledge_base() -> Any:
    """The knowledge base, loaded on the first consultation only, and once per process."""
    from triage.knowledge_base import load_knowledge_base

    return load_knowledge_base()


def answered(suggestion: Any) -> Any:
    """The suggestion with the knowledge base's answers where it wants them (a consultation), as the API gives
    it: one call, a file in this process and a file in workers all answer through here."""
    from triage.knowledge_base import wants_answers, with_answers

    return with_answers(suggestion, _knowledge_base()) if wants_answers(suggestion) else suggestion


def suggest_chunk(pipeline: Any, chunk: list[Item], source: str, stem: str, register: str = "spoken") -> ChunkResult:
    """One chunk's output lines, in its input order: a suggestion, a suggestion's error, or a bad line's problem."""
    slots: list[tuple[str, str] | str] = []  # (id, text) to suggest, or a problem line already written out
    skipped: list[str] = []
    for item in chunk:
        record = read_item(item, source, stem)
        if record is None:
            continue  # a blank line
        if isinstance(record, str):
            skipped.append(record)
            slots.append(json.dumps({"id": None, "error": record}, ensure_ascii=False))
        else:
            slots.append(record)
    records = [s for s in slots if isinstance(s, tuple)]
    results: list[Any]
    try:  # the fast path: one feature pass for the whole chunk
        results = pipeline.suggest_many([text for _, text in records], ids=[id for id, _ in records], register=register) if records else []
    except TriageError:  # a bad transcript in the chunk: one by one, to name it
        results = []
        for id, text in records:
            try:
                results.append(pipeline.suggest(text, id=id, register=register))
            except TriageError as exc:
                results.append(exc)
    lines: list[str] = []
    good = bad = 0
    outcomes = iter(results)
    for slot in slots:
        if isinstance(slot, str):
            lines.append(slot)
            continue
        result = next(outcomes)
        if isinstance(result, TriageError):
            lines.append(json.dumps({"id": slot[0], "error": str(result)}, ensure_ascii=False))
            bad += 1
        else:
            lines.append(json.dumps(answered(result).to_json_dict(), ensure_ascii=False))
            good += 1
    text = "".join(line + "\n" for line in lines)
    return ChunkResult(text, len(slots), good, bad + len(skipped), skipped, os.getpid(), _peak_rss_kb())


def _peak_rss_kb() -> int:
    """This process's peak resident set in KiB: VmHWM where Linux gives it, since `ru_maxrss` survives exec and
    so counts the parent's pages a child had between fork and exec; `ru_maxrss` elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


_worker: dict[str, Any] = {}
"""A worker process's pipeline (or why it could not load one), set once by `_start_worker`."""


def _start_worker(bundle_dir: str) -> None:
    """Load the bundle once per worker process; a failure is kept and reported with the first chunk."""
    try:
        from triage.bundle import load_bundle
        from triage.segment import default_segmenter

        _worker["pipeline"] = load_bundle(bundle_dir)
        default_segmenter().prepare_batch()  # jieba-rs (or the whole dictionary) now, while the main process reads
        gc.freeze()  # what loading made lives as long as the worker: the collector need not walk it again and again
    except (TriageError, ValueError, OSError) as exc:  # what `triage predict` reports as a one-line error
        _worker["error"] = str(exc)


def _worker_chunk(chunk: list[Item], source: str, stem: str, register: str = "spoken") -> ChunkResult:
    if "pipeline" not in _worker:
        return ChunkResult("", 0, 0, 0, [], os.getpid(), _peak_rss_kb(), fatal=_worker.get("error", "the worker has no model"))
    with collection_paused():  # a chunk frees what it makes (a few cycles a thousand rows): collect between chunks
        return suggest_chunk(_worker["pipeline"], chunk, source, stem, register)


class _OneThreadBLAS:
    """Workers inherit this environment at spawn: one BLAS thread each, so that N workers use N cores, not N²."""

    VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

    def __enter__(self) -> None:
        self.saved = {v: os.environ.get(v) for v in self.VARIABLES}
        for variable in self.VARIABLES:
            os.environ.setdefault(variable, "1")

    def __exit__(self, *exc: object) -> None:
        for variable, value in self.saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def predict_file(
    bundle_dir: Path,
    input: Path,
    sink: IO[str],
    *,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_skipped: Callable[[str], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    min_rows_for_workers: int = MIN_ROWS_FOR_WORKERS,
    register: str = "spoken",
) -> BatchSummary:
    """Suggest every line of `input` into `sink`, one output line per non-blank input line, in input order.

    `workers`: processes for a large file (default: one per core; 1 runs everything here; this process loads
    the model only when it suggests). `on_progress(rows, lines_done)` is called after each chunk is written
    (`count_lines` gives the total); `on_skipped` gets each bad line's message. Raises DataFileError for an
    unreadable file and BatchError when a worker cannot load the model or dies. `register` (spoken or written: what
    the file holds) picks the review thresholds.
    """
    import multiprocessing

    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    source, stem = str(input), input.stem
    lines = items(input)
    # read ahead as far as the threshold: a file that ends before it is suggested here, without starting workers
    ahead: list[Item] = []
    if workers > 1:
        for item in lines:
            ahead.append(item)
            if len(ahead) >= min_rows_for_workers:
                break
    parallel = workers > 1 and len(ahead) >= min_rows_for_workers
    chunks = _chunks(_chained(ahead, lines), chunk_rows)
    summary = BatchSummary(workers=workers if parallel else 1)

    def consume(result: ChunkResult, last_line: int) -> None:
        if result.fatal is not None:
            raise BatchError(result.fatal)
        sink.write(result.text)
        summary.rows += result.rows
        summary.good += result.good
        summary.bad += result.bad
        if result.pid != os.getpid():
            summary.worker_peak_rss_kb[result.pid] = max(result.peak_rss_kb, summary.worker_peak_rss_kb.get(result.pid, 0))
        for message in result.skipped:
            if on_skipped is not None:
                on_skipped(message)
        if on_progress is not None:
            on_progress(summary.rows, last_line)

    if not parallel:
        from triage.bundle import load_bundle

        pipeline = load_bundle(bundle_dir)
        for chunk in chunks:
            with collection_paused():
                result = suggest_chunk(pipeline, chunk, source, stem, register)
            consume(result, chunk[-1][0])
    else:
        with _OneThreadBLAS():
            pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),  # never fork: the progress bar runs a thread
                initializer=_start_worker,
                initargs=(str(bundle_dir),),
            )
        try:
            pending: collections.deque[tuple[Future[ChunkResult], int]] = collections.deque()
            for chunk in chunks:
                pending.append((pool.submit(_worker_chunk, chunk, source, stem, register), chunk[-1][0]))
                if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                    future, last = pending.popleft()
                    consume(future.result(), last)
            while pending:
                future, last = pending.popleft()
                consume(future.result(), last)
        except BrokenProcessPool as exc:  # a worker killed (out of memory, a signal): say so, not a traceback
            raise BatchError(f"a worker process died ({exc}); rerun with --workers 1 to suggest in one process") from exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    summary.peak_rss_kb = _peak_rss_kb()
    return summary


def _chained(first: list[Item], rest: Iterator[Item]) -> Iterator[Item]:
    yield from first
    yield from rest


def check_input(path: Path) -> None:
    """Refuse a missing input, or a folder, before anything is written (the same words as `read_labelled`)."""
    if path.is_dir():
        raise DataFileError(path, "is a folder, expected a JSONL or CSV file")
    if not path.exists():
        raise DataFileError(path, "file not found")


def count_lines(path: Path) -> int | None:
    """Lines in a regular file (the progress bar's total), counted in blocks without keeping any; None for a
    pipe or anything else that cannot be read twice."""
    if not path.is_file():
        return None
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")
