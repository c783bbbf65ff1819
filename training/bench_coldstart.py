"""Cold start and batch runs of `triage predict`, as a user meets them: whole processes, bundle load included.

Run: `python -m training.bench_coldstart [--model models/full] [--runs 3] [--memory-lines 1000000]`.
Prints one JSON object; asserts nothing. Goals (cold-start issue, 2 cores): one call <= 1.0 s wall and <= 6x
`triage --help`; a file of 6,240 tipdm messages >= 1,000 rows/s whole process (>= 0.65x the bare char TF-IDF +
LinearSVC peer's in-process rate); a worker's peak RSS no higher than one `triage predict` before (~585 MB).

- `help`, `one_call`: wall seconds of `triage --help` and of `triage predict "<a consultation>"` (median and
  min of `--runs`, after one unmeasured run that warms the page cache and the derived-data cache), with the
  one call's peak RSS; `one_call_cold_cache`: the same once with an empty TRIAGE_CACHE_DIR (a first run ever).
- `stages`: one fresh process (the collector paused after `training.cli`, as the command pauses it) split into
  import, bundle load, jieba dictionary, first suggestion (the gazetteer's
  sound index included) and answers (the knowledge base), with the warm cache. The bundle load opens the
  dictionary itself, while the other core checks `arrays.bin`, so the dictionary's own stage is near zero.
- `batch`: `triage -v predict --input` on tipdm2020c's training messages, with one process and with one worker
  per core: wall, rows/s, peak RSS of the main process and of each worker, and whether both outputs are the
  same row for row (the due time, counted from the moment a row is suggested, left out); beside them the
  product's in-process rate (this process, one core, the same work per chunk) and the peer's.
- `memory`: peak RSS of the main process and of the workers on synthetic files of a tenth of `--memory-lines`
  and of all of them (1% real transcripts, the rest cheap bad lines, so it runs in minutes): flat means the
  same peak for both.

On a shared machine single runs vary a lot: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CONSULTATION = "我想问一下住房公积金怎么提取"
TIPDM_FILE = Path("../shared/data/tipdm2020c/train.jsonl")
"""tipdm2020c's training messages (6,235; the issue's 6,240), read by the relative path the benchmarks use."""

STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
import training.cli  # what the `triage` command imports before any command runs
from triage.collector import collection_paused
with collection_paused():  # as the one-call command runs
    from triage.bundle import load_bundle
    t1 = time.perf_counter()
    pipeline = load_bundle(sys.argv[1])
    t2 = time.perf_counter()
    from triage.segment import default_segmenter
    default_segmenter()
    t3 = time.perf_counter()
    suggestion = pipeline.suggest(sys.argv[2])
    t4 = time.perf_counter()
    from triage.knowledge_base import load_knowledge_base, wants_answers, with_answers
    if wants_answers(suggestion):
        with_answers(suggestion, load_knowledge_base())
    t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "segmenter": t3 - t2, "first_suggestion": t4 - t3,
                  "answers": t5 - t4, "in_process": t5 - t0}))
"""


def triage_command() -> list[str]:
    """The `triage` console script beside this interpreter, else `python -m training.cli` (the same thing)."""
    script = Path(sys.executable).parent / "triage"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "training.cli"]


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS in MB, stderr, CPU seconds) of one process run to its end.

    The peak RSS is the largest of the process and the children it waited for; the CPU seconds are theirs
    together (steadier than wall time on a shared machine)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        text = errors.read().decode("utf-8", "replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{text[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, text, usage.ru_utime + usage.ru_stime


def repeated(command: list[str], runs: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """Median and min wall seconds of `runs` runs after one unmeasured run, and the largest peak RSS."""
    measured(command, env)
    walls, peaks, cpus = [], [], []
    for _ in range(runs):
        wall, peak, _, cpu = measured(command, env)
        walls.append(wall)
        peaks.append(peak)
        cpus.append(cpu)
    return {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "cpu_s": round(statistics.median(cpus), 3), "peak_rss_mb": round(max(peaks), 1)}


def stages(model: Path, runs: int) -> dict[str, float]:
    """The median of each stage over `runs` fresh processes."""
    rows = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", STAGES, str(model), CONSULTATION], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {name: round(statistics.median(r[name] for r in rows), 3) for name in rows[0]}


def batch_run(model: Path, source: Path, output: Path, workers: int) -> dict[str, Any]:
    """One whole `triage -v predict --input` process: wall, rows/s and the figures it prints with -v."""
    command = [*triage_command(), "-v", "predict", "--model", str(model), "--input", str(source), "--output", str(output),
               "--workers", str(workers)]
    wall, _, errors, cpu = measured(command)
    line = next(line for line in errors.splitlines() if line.startswith("batch figures: "))
    figures = json.loads(line.removeprefix("batch figures: "))  # the main process's own peak, not a fork's copy
    return {"workers": workers, "processes": figures["processes"], "rows": figures["rows"], "wall_s": round(wall, 2),
            "rows_per_s": round(figures["rows"] / wall, 1), "cpu_s": round(cpu, 2),
            "peak_rss_mb": figures["peak_rss_mb"], "worker_peak_rss_mb": figures["worker_peak_rss_mb"]}


def same_rows(a: Path, b: Path) -> bool:
    """Whether two outputs hold the same lines, row for row, but for the due time (counted from the moment a row
    is suggested); read in step, so that this process stays small for the processes it starts after."""

    def rows(path: Path) -> Iterator[dict[str, Any]]:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if isinstance(row.get("deadline"), dict):
                    row["deadline"].pop("due_at", None)
                yield row

    return all(x == y for x, y in itertools.zip_longest(rows(a), rows(b)))


def in_process(model: Path, source: Path) -> dict[str, float]:
    """The product's rows/s in this process on one core (the work of a chunk: parse, suggest, answer, JSON), and
    the bare char TF-IDF + LinearSVC topic peer's, fitted on the same messages' topics."""
    from training.batch import CHUNK_ROWS, items, suggest_chunk
    from training.datasets import read_labelled
    from training.peers import char_tfidf_svc, throughput
    from triage.bundle import load_bundle

    pipeline = load_bundle(model)
    lines = list(items(source))
    chunks = [lines[i : i + CHUNK_ROWS] for i in range(0, len(lines), CHUNK_ROWS)]
    suggest_chunk(pipeline, chunks[0][:50], str(source), source.stem)  # warm: dictionary, sound index, answers
    started = time.perf_counter()
    for chunk in chunks:
        suggest_chunk(pipeline, chunk, str(source), source.stem)
    product = len(lines) / (time.perf_counter() - started)
    data = read_labelled(source)
    texts, topics = data.texts(), data.labels("topic")
    peer = char_tfidf_svc().fit(texts, topics)
    peer_rate = throughput(peer.predict, texts, repeats=3)
    return {"product_rows_per_s": round(product, 1), "peer_rows_per_s": peer_rate}


def synthetic(path: Path, lines: int, texts: list[str]) -> None:
    """`lines` JSONL lines: one in a hundred a real transcript, the others a line refused as having no Chinese."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            text = texts[(i // 100) % len(texts)] if i % 100 == 0 else "12345"
            out.write(json.dumps({"id": f"s{i}", "text": text}, ensure_ascii=False) + "\n")


def memory(model: Path, lines: int, texts: list[str], folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in (lines // 10, lines):
        source = folder / f"synthetic-{n}.jsonl"
        synthetic(source, n, texts)
        run = batch_run(model, source, Path(os.devnull), workers=_cores())
        out[f"{n}_lines"] = {k: run[k] for k in ("wall_s", "peak_rss_mb", "worker_peak_rss_mb")}
        source.unlink()
    return out


def _cores() -> int:
    from training.batch import default_workers

    return default_workers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/full"))
    parser.add_argument("--runs", type=int, default=3, help="measured runs per whole-process figure")
    parser.add_argument("--input", type=Path, default=TIPDM_FILE, help="JSONL for the batch figures")
    parser.add_argument("--memory-lines", type=int, default=1_000_000, help="0 skips the memory check")
    args = parser.parse_args()
    if not (args.model / "manifest.json").is_file():
        sys.exit(f"no model at {args.model}: run `triage train --preset full --out {args.model}` first")
    if not args.input.is_file():
        sys.exit(f"no {args.input}: the batch figures need ../shared/data")

    triage = triage_command()
    figures: dict[str, Any] = {"cpus": _cores(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "model": str(args.model)}
    figures["help"] = repeated([*triage, "--help"], args.runs)
    one_call = [*triage, "predict", "--model", str(args.model), CONSULTATION]
    figures["one_call"] = repeated(one_call, args.runs)
    figures["one_call"]["x_help"] = round(figures["one_call"]["median_s"] / figures["help"]["median_s"], 1)
    with tempfile.TemporaryDirectory() as empty:
        wall, peak, _, cpu = measured(one_call, {"TRIAGE_CACHE_DIR": empty})
        figures["one_call_cold_cache"] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_rss_mb": round(peak, 1)}
    figures["stages"] = stages(args.model, args.runs)

    with tempfile.TemporaryDirectory() as folder:
        alone, shared = Path(folder) / "one.jsonl", Path(folder) / "shared.jsonl"
        batch = {"one_process": batch_run(args.model, args.input, alone, workers=1),
                 "workers": batch_run(args.model, args.input, shared, workers=_cores())}
        batch["same_rows"] = same_rows(alone, shared)
        figures["batch"] = batch
        if args.memory_lines:
            from training.datasets import read_labelled

            figures["memory"] = memory(args.model, args.memory_lines, read_labelled(args.input).texts()[:500], Path(folder))
    # last: this process loads a model here, and a process started after it would start as a copy of it
    batch.update(in_process(args.model, args.input))
    batch["whole_process_x_peer"] = round(batch["workers"]["rows_per_s"] / batch["peer_rows_per_s"], 2)
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
