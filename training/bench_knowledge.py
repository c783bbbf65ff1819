"""Knowledge-base retrieval benchmark: answer recall@1 / @3 on held-out caller phrasings, speed, build time.

    python -m training.bench_knowledge [--eval data/knowledge/eval_phrasings.jsonl] [--kb data/knowledge/answers.yaml]

The evaluation phrasings are written apart from the entries' variants and are never indexed; the BM25
settings and synonyms were chosen on held-out variants and on `dev_phrasings.jsonl`, which is reported
too so the gap between the two shows.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from triage.errors import DataFileError
from triage.knowledge_base import EVAL_FILE, KNOWLEDGE_DIR, KNOWLEDGE_FILE, KnowledgeBase, load_knowledge_base

DEV_FILE = KNOWLEDGE_DIR / "dev_phrasings.jsonl"


@dataclass(frozen=True)
class Recall:
    """Answer recall of one phrasing set: how often the right answer is first, and in the top 3."""

    n: int
    at1: float
    at3: float
    queries_per_second: float
    missed: tuple[str, ...]


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


def recall(kb: KnowledgeBase, rows: list[dict[str, str]]) -> Recall:
    """Recall@1 and @3 of `kb.search` (no score threshold: this measures ranking) and its throughput."""
    unknown = sorted({r["answer_id"] for r in rows} - {e.id for e in kb})
    if unknown:
        raise ValueError(f"phrasings point at entries the knowledge base lacks: {', '.join(unknown[:5])}")
    at1 = at3 = 0
    missed = []
    started = time.perf_counter()
    for row in rows:
        ids = [hit.id for hit in kb.search(row["text"], k=3, min_score=0.0)]
        at1 += ids[:1] == [row["answer_id"]]
        at3 += row["answer_id"] in ids
        if row["answer_id"] not in ids:
            missed.append(row["id"])
    elapsed = time.perf_counter() - started
    n = len(rows)
    return Recall(n, at1 / n, at3 / n, n / elapsed if elapsed else float("inf"), tuple(missed))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", default=str(KNOWLEDGE_FILE), help="knowledge base YAML")
    parser.add_argument("--eval", default=str(EVAL_FILE), help="held-out phrasings (JSONL)")
    parser.add_argument("--dev", default=str(DEV_FILE), help="development phrasings (JSONL); '' to skip")
    args = parser.parse_args(argv)

    kb = load_knowledge_base(args.kb)  # the first build also loads the segmenter and OpenCC
    started = time.perf_counter()
    kb = KnowledgeBase(list(kb), source=args.kb)
    build = time.perf_counter() - started
    variants = sum(len(e.variants) for e in kb)
    print(f"knowledge base: {len(kb)} entries, {variants} variants; index build {build * 1000:.0f} ms")
    sets = [("eval", args.eval)] + ([("dev", args.dev)] if args.dev and Path(args.dev).exists() else [])
    for name, path in sets:
        result = recall(kb, read_phrasings(path))
        print(
            f"{name:4s} ({result.n} phrasings, {path}): recall@1 {result.at1:.3f}  recall@3 {result.at3:.3f}  "
            f"{result.queries_per_second:,.0f} queries/s"
        )
    print("goal: eval recall@3 >= 0.90")


if __name__ == "__main__":
    main()
