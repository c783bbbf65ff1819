"""Same suggestions before and after a change: dump a bundle's suggestions, or compare two dumps.

Run: `python -m training.bench_equality dump --model models/full --out after.jsonl` (and the same with the code
and bundle before the change, e.g. in a `git worktree` of the older commit), then
`python -m training.bench_equality compare before.jsonl after.jsonl`.

Run the older dump from inside the worktree's folder (`--model` an absolute path), not with PYTHONPATH from this
one: `python -m` puts the current folder first on the path, and `triage` is a namespace package, so the current
folder's code would be the one measured twice.

The texts are the corpus's training calls and the tipdm2020c test split (the frozen calls are left out: this
checks code, it scores nothing), each suggested as spoken and as written text. Fields that change by themselves
are dropped: the model version (named after the folder and time) and the deadline's due time (counted from the
moment of suggesting). `compare` prints one JSON object: rows, identical rows and, per differing field, how
many rows differ and the first example; its exit status is 1 when any row differs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

VOLATILE = ("model_version",)


def dump(model: Path, out: Path) -> dict[str, Any]:
    from training.datasets import TIPDM_DIR, corpus_split, read_labelled
    from triage.bundle import load_bundle

    train, _ = corpus_split()
    texts = [r.text for r in train.records]
    if (TIPDM_DIR / "test.jsonl").is_file():
        texts += [r.text for r in read_labelled(TIPDM_DIR / "test.jsonl").records]
    else:  # no shared folder: the corpus alone still checks the code
        print(f"{TIPDM_DIR / 'test.jsonl'} not found; dumping the corpus's calls only", file=sys.stderr)
    pipeline = load_bundle(model)
    started = time.perf_counter()
    with out.open("w", encoding="utf-8") as sink:
        for register in ("spoken", "written"):
            for suggestion in pipeline.suggest_many(texts, register=register):  # type: ignore[arg-type]
                row = suggestion.model_dump(mode="json")
                for name in VOLATILE:
                    row.pop(name, None)
                row.get("deadline", {}).pop("due_at", None)
                sink.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return {"texts": len(texts), "rows": 2 * len(texts), "seconds": round(time.perf_counter() - started, 1), "out": str(out)}


def _differences(a: Any, b: Any, path: str, found: Counter[str], examples: dict[str, Any]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            _differences(a.get(key), b.get(key), f"{path}.{key}" if path else key, found, examples)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for x, y in zip(a, b, strict=True):
            _differences(x, y, f"{path}[]", found, examples)
    elif a != b:
        found[path] += 1
        examples.setdefault(path, [a, b])


def compare(before: Path, after: Path) -> dict[str, Any]:
    left = before.read_text(encoding="utf-8").splitlines()
    right = after.read_text(encoding="utf-8").splitlines()
    if len(left) != len(right):
        return {"rows": [len(left), len(right)], "identical": False, "why": "different numbers of rows"}
    found: Counter[str] = Counter()
    examples: dict[str, Any] = {}
    same = 0
    for a, b in zip(left, right, strict=True):
        if a == b:
            same += 1
            continue
        _differences(json.loads(a), json.loads(b), "", found, examples)
    return {
        "rows": len(left),
        "identical_rows": same,
        "identical": same == len(left),
        "differences": {path: {"rows": n, "example": examples[path]} for path, n in found.most_common()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dumping = commands.add_parser("dump", help="write a bundle's suggestions")
    dumping.add_argument("--model", type=Path, default=Path("models/full"))
    dumping.add_argument("--out", type=Path, required=True)
    comparing = commands.add_parser("compare", help="compare two dumps")
    comparing.add_argument("before", type=Path)
    comparing.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "dump":
        print(json.dumps(dump(args.model, args.out), ensure_ascii=False))
        return 0
    result = compare(args.before, args.after)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
