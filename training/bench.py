"""Benchmark of the served model on 2 cores: training seconds, suggestion latency (p50/p99), batch throughput.

Run: `python -m training.bench [--preset full|default] [--model DIR]`. Prints figures; asserts nothing.
Speed goals (foundation issue): training < 60 s, p50 < 5 ms, batch > 2,000 transcripts/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from training.args import DataArguments, ModelArguments, RunArguments, TrainingArguments
from training.datasets import TIPDM_DIR, own_corpus, read_labelled, split
from training.train import train
from triage.bundle import load_bundle
from triage.units import default_catalogue


def calls_for_latency(own_calls: list[str], limit: int = 2000) -> list[str]:
    """The project's own held-out calls, then tipdm test messages when present."""
    texts = list(own_calls)
    test_file = TIPDM_DIR / "test.jsonl"
    if test_file.is_file():
        texts += read_labelled(test_file).texts()
    return texts[:limit]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q * 100))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="full", choices=["default", "full"])
    parser.add_argument("--model", type=Path, help="benchmark this bundle instead of training one")
    parser.add_argument("--n", type=int, default=1000, help="transcripts for latency and throughput")
    args = parser.parse_args()

    figures: dict[str, object] = {}
    if args.model is None:
        out = Path(tempfile.mkdtemp()) / args.preset
        run = RunArguments(DataArguments(preset=args.preset), ModelArguments(), TrainingArguments(output_dir=str(out)))  # type: ignore[arg-type]
        started = time.perf_counter()
        _, metrics = train(run)
        figures["train_seconds_total"] = round(time.perf_counter() - started, 2)
        figures["fit_seconds"] = metrics["fit_seconds"]
        model_dir = out
    else:
        model_dir = args.model
    pipeline = load_bundle(model_dir)
    own = split(own_corpus(default_catalogue()), 0.2)[1].texts()
    texts = calls_for_latency(own, args.n)
    for text in texts[:50]:  # warm up caches (jieba, OpenCC)
        pipeline.suggest(text)
    latencies = []
    for text in texts:
        started = time.perf_counter()
        pipeline.suggest(text)
        latencies.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    for start in range(0, len(texts), 256):
        pipeline.suggest_many(texts[start : start + 256])
    batch_seconds = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.suggest_many(own)
    call_rate = len(own) / (time.perf_counter() - started)
    figures.update(
        {
            "model": str(model_dir),
            "n_transcripts": len(texts),
            "mean_chars": round(statistics.mean(len(t) for t in texts), 1),
            "single_latency_ms_p50": round(percentile(latencies, 0.5), 2),
            "single_latency_ms_p99": round(percentile(latencies, 0.99), 2),
            "batch_transcripts_per_s": round(len(texts) / batch_seconds, 1),
            "batch_call_transcripts_per_s": round(call_rate, 1),
        }
    )
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
