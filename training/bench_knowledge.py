"""Knowledge-base retrieval benchmark: answer recall@1 / @3 on held-out caller phrasings, speed, build time.

    python -m training.bench_knowledge [--eval data/knowledge/eval_phrasings.jsonl] [--kb data/knowledge/answers.yaml]
                                       [--model models/default]

The evaluation phrasings are written apart from the entries' variants, by someone other than the answers'
writer, and are never indexed; the BM25 settings, synonyms and reranking weights were chosen on held-out
variants and on `dev_phrasings.jsonl`, which is reported too so the gap between the two shows.

Each set is searched twice: on the words alone (what `GET /v1/knowledge?q=` does), and with the unit and
topic the heads of a model bundle predict for the phrasing (what a suggestion's `answers` get through
`with_answers`). The model is `--model`, else the registry's current one, else models/default; without
one (or with `--model ''`) only the first row is printed. Time per query is the search alone.

With a model, `--calls` also scores whole calls as the product answers them (`training.evaluate.answer_scores`:
of the accepted consultations, how many get an answer from a unit that handles the question among the top 3),
on every set of consultation calls written apart from the knowledge base and never read to shape it (the
frozen test split, the 240-call probe, the three blind routing probes, the blind file in the corpus's register;
`UNSEEN_CALLS`), each with its 95% interval and pooled, and on the development files whose misses' themes were
answered (`DEVELOPMENT_CALLS`: fitted, shown apart).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage.errors import DataFileError, TriageError
from triage.knowledge_base import EVAL_FILE, KNOWLEDGE_DIR, KNOWLEDGE_FILE, Context, KnowledgeBase, load_knowledge_base
from triage.resources import DEFAULT_MODEL_DIR

DEV_FILE = KNOWLEDGE_DIR / "dev_phrasings.jsonl"
UNSEEN_CALLS: tuple[str, ...] = (
    "data/knowledge/probe_consultations.jsonl",
    "data/probes/routing_calls.jsonl",
    "data/probes/routing_calls_2.jsonl",
    "data/probes/routing_calls_3.jsonl",
    "data/knowledge/corpus_consultations_blind.jsonl",
)
"""Consultation calls never read to write or tune an answer (beside the frozen test split), relative to the repository."""
DEVELOPMENT_CALLS = "data/knowledge/corpus_consultations_*.jsonl"
"""Consultations in the corpus's register whose misses' themes were given to answer writers (but those in `UNSEEN_CALLS`)."""


@dataclass(frozen=True)
class Recall:
    """Answer recall of one phrasing set: how often the right answer is first, and in the top 3."""

    n: int
    at1: float
    at3: float
    queries_per_second: float
    missed: tuple[str, ...]

    @property
    def ms_per_query(self) -> float:
        return 1000.0 / self.queries_per_second if self.queries_per_second else 0.0


def read_phrasings(path: str | Path) -> list[dict[str, str]]:
    """`{"id", "text", "answer_id"}` lines; a malformed line is refused with its file and line number."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append({"id": str(row["id"]), "text": str(row["text"]), "answer_id": str(row["answer_id"])})
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataFileError(
                path, f"expected a JSON object with id, text and answer_id ({exc})", line=number
            ) from exc
    return rows


def recall(kb: KnowledgeBase, rows: list[dict[str, str]], contexts: Mapping[str, Context] | None = None) -> Recall:
    """Recall@1 and @3 of `kb.search` (no score threshold: this measures ranking) and its throughput; with
    `contexts` (by phrasing id: what the heads predict for it), the search reranks with them."""
    unknown = sorted({r["answer_id"] for r in rows} - {e.id for e in kb})
    if unknown:
        raise ValueError(f"phrasings point at entries the knowledge base lacks: {', '.join(unknown[:5])}")
    at1 = at3 = 0
    missed = []
    started = time.perf_counter()
    for row in rows:
        context = contexts.get(row["id"]) if contexts is not None else None
        ids = [hit.id for hit in kb.search(row["text"], k=3, min_score=0.0, context=context)]
        at1 += ids[:1] == [row["answer_id"]]
        at3 += row["answer_id"] in ids
        if row["answer_id"] not in ids:
            missed.append(row["id"])
    elapsed = time.perf_counter() - started
    n = len(rows)
    return Recall(n, at1 / n, at3 / n, n / elapsed if elapsed else float("inf"), tuple(missed))


def predicted_contexts(pipeline: object, rows: list[dict[str, str]]) -> dict[str, Context]:
    """By phrasing id, the unit and topic probabilities a pipeline's heads give it (as `with_answers` uses)."""
    suggestions = pipeline.suggest_many([r["text"] for r in rows])  # type: ignore[attr-defined]
    return {row["id"]: Context.of(s) for row, s in zip(rows, suggestions, strict=True)}


def _model_path(given: str | None) -> Path | None:
    if given is not None:
        return Path(given) if given else None
    from triage.registry import Registry

    promoted = Registry.load().current_path()
    if promoted is not None:
        return promoted
    return DEFAULT_MODEL_DIR if (DEFAULT_MODEL_DIR / "manifest.json").is_file() else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", default=str(KNOWLEDGE_FILE), help="knowledge base YAML")
    parser.add_argument("--eval", default=str(EVAL_FILE), help="held-out phrasings (JSONL)")
    parser.add_argument("--dev", default=str(DEV_FILE), help="development phrasings (JSONL); '' to skip")
    parser.add_argument(
        "--model",
        default=None,
        help="model bundle whose heads rerank (default: current or models/default; '' for none)",
    )
    parser.add_argument("--calls", action="store_true", help="also score whole consultation calls (needs a model)")
    args = parser.parse_args(argv)

    kb = load_knowledge_base(args.kb)  # the first build also loads the segmenter and OpenCC
    started = time.perf_counter()
    kb = KnowledgeBase(list(kb), source=args.kb)
    build = time.perf_counter() - started
    variants = sum(len(e.variants) for e in kb)
    print(f"knowledge base: {len(kb)} entries, {variants} variants; index build {build * 1000:.0f} ms")
    pipeline = None
    model = _model_path(args.model)
    if model is not None:
        from triage.bundle import load_bundle

        try:
            pipeline = load_bundle(model)
        except (TriageError, ValueError) as exc:
            print(f"no reranking by the heads: {exc}")
    else:
        print("no model bundle: searching on the words alone (train one with `triage train`, or give --model)")
    sets = [("eval", args.eval)] + ([("dev", args.dev)] if args.dev and Path(args.dev).exists() else [])
    for name, path in sets:
        rows = read_phrasings(path)
        runs: list[tuple[str, Mapping[str, Context] | None]] = [("words only", None)]
        if pipeline is not None:
            runs.append((f"with heads of {model}", predicted_contexts(pipeline, rows)))
        for how, contexts in runs:
            result = recall(kb, rows, contexts)
            print(
                f"{name:4s} (n={result.n}, {how}): recall@1 {result.at1:.3f}  recall@3 {result.at3:.3f}  "
                f"{result.ms_per_query:.2f} ms/query ({result.queries_per_second:,.0f} queries/s)"
            )
    print("goal: eval recall@3 >= 0.95 (with the heads)")
    if args.calls and pipeline is not None:
        print_call_scores(pipeline)


def call_scores(pipeline: object) -> list[tuple[str, dict[str, Any]]]:
    """(set name, `answer_scores`) for the frozen test split and each of `UNSEEN_CALLS`, then each development file."""
    from training.datasets import corpus_split, read_labelled
    from training.evaluate import answer_scores, predict_all
    from triage.resources import PROJECT_ROOT
    from triage.units import default_catalogue

    catalogue = default_catalogue()
    root = PROJECT_ROOT
    sets = [("frozen test split", corpus_split(catalogue)[1])]
    sets += [(Path(name).stem, read_labelled(root / name, catalogue=catalogue)) for name in UNSEEN_CALLS]
    unseen = {root / name for name in UNSEEN_CALLS}
    sets += [
        (f"{path.stem} (development)", read_labelled(path, catalogue=catalogue))
        for path in sorted(root.glob(DEVELOPMENT_CALLS)) if path not in unseen
    ]
    scored = []
    for name, data in sets:
        scores = answer_scores(data.records, predict_all(pipeline, data), catalogue)  # type: ignore[arg-type]
        if scores is not None:
            scored.append((name, scores))
    return scored


def print_call_scores(pipeline: object) -> None:
    from training.tuning import wilson_interval

    right = n = 0
    for name, scores in call_scores(pipeline):
        low, high = scores["right_unit_top3_ci95"]
        print(f"calls {name:44s} {scores['right']:4d} of {scores['n']:4d}: {scores['right_unit_top3']:.1%} ({low:.1%}-{high:.1%})")
        if not name.endswith("(development)"):
            right, n = right + scores["right"], n + scores["n"]
    low, high = wilson_interval(right, n, z=1.96)
    print(f"calls {'unseen, pooled':44s} {right:4d} of {n:4d}: {right / n:.1%} ({low:.1%}-{high:.1%})")
    print("goal: unseen consultation calls answered from a unit that handles the question (top 3) >= 90%")


if __name__ == "__main__":
    main()
