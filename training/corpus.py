"""The call corpus's own bookkeeping: check a file against the labelling guide, measure the agreement of
two labellers, and apply adjudicated labels (data/corpus/GUIDE.md says how calls are labelled).

    python -m training.corpus check data/corpus/calls_d.jsonl
    python -m training.corpus agreement            # first labels against data/corpus/second/
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from triage.labels import CATEGORIES, DEADLINE_CLASSES, DISTRICTS, SCOPES, TOPICS
from triage.resources import CORPUS_DIR
from triage.units import LOCAL, Catalogue, default_catalogue

REDIRECTS = ("110", "119", "120", "122")
FIELDS = ("category", "topic", "unit", "units_ok", "district", "scope", "deadline", "redirect")


def _unit_ok(name: object, catalogue: Catalogue) -> bool:
    return isinstance(name, str) and (name == LOCAL or name in catalogue)


def check_call(obj: dict[str, Any], catalogue: Catalogue, *, needs_text: bool = True) -> list[str]:
    """What is wrong with one labelled call, by the guide's rules (empty when nothing is)."""
    problems: list[str] = []
    if needs_text and (not isinstance(obj.get("text"), str) or len(obj["text"].strip()) < 4):
        problems.append("`text` missing or shorter than 4 characters")
    closed = {"category": CATEGORIES, "topic": TOPICS, "scope": SCOPES}
    for name, allowed in closed.items():
        if obj.get(name) not in allowed:
            problems.append(f"`{name}` {obj.get(name)!r} is not one of {' '.join(allowed)}")
    if obj.get("district") is not None and obj["district"] not in DISTRICTS:
        problems.append(f"`district` {obj['district']!r} is not null or one of {' '.join(DISTRICTS)}")
    scope = obj.get("scope")
    unit, units_ok = obj.get("unit"), obj.get("units_ok")
    if not isinstance(units_ok, list):
        problems.append("`units_ok` must be a list")
        units_ok = []
    if scope == "accepted":
        if not _unit_ok(unit, catalogue):
            problems.append(f"`unit` {unit!r} is not a catalogue name (data/units.yaml) or {LOCAL}")
        if not 1 <= len(units_ok) <= 3:
            problems.append("`units_ok` needs one to three units for an accepted call")
        elif units_ok[0] != unit:
            problems.append("`units_ok` must start with `unit`")
        bad = [u for u in units_ok if not _unit_ok(u, catalogue)]
        if bad:
            problems.append(f"`units_ok` has names not in the catalogue: {bad}")
        if len(set(map(str, units_ok))) != len(units_ok):
            problems.append("`units_ok` repeats a unit")
        if obj.get("deadline") not in DEADLINE_CLASSES:
            problems.append(f"`deadline` {obj.get('deadline')!r} is not one of {' '.join(DEADLINE_CLASSES)}")
        if obj.get("redirect") is not None:
            problems.append("`redirect` is only for emergency refusals")
    elif scope in SCOPES:
        if unit is not None or units_ok:
            problems.append("a refused call has `unit` null and `units_ok` []")
        if obj.get("deadline") is not None:
            problems.append("a refused call has `deadline` null")
        if scope == "emergency" and obj.get("redirect") not in REDIRECTS:
            problems.append(f"an emergency needs `redirect` one of {' '.join(REDIRECTS)}")
        if scope != "emergency" and obj.get("redirect") is not None:
            problems.append("`redirect` is only for emergency refusals")
    return problems


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    out: list[tuple[int, dict[str, Any] | None, str | None]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append((number, None, f"not valid JSON ({exc.msg})"))
            continue
        out.append((number, obj, None) if isinstance(obj, dict) else (number, None, "not a JSON object"))
    return out


def check_file(path: Path, catalogue: Catalogue, *, needs_text: bool = True) -> tuple[int, list[str]]:
    """(calls read, problems as `file:line: problem`) for one corpus or second-label file."""
    problems: list[str] = []
    seen: set[str] = set()
    n = 0
    for number, obj, problem in read_jsonl(path):
        where = f"{path}:{number}"
        if obj is None:
            problems.append(f"{where}: {problem}")
            continue
        n += 1
        cid = obj.get("id")
        if not isinstance(cid, str) or not cid:
            problems.append(f"{where}: no `id`")
        elif cid in seen:
            problems.append(f"{where}: id {cid} repeated")
        else:
            seen.add(cid)
        problems.extend(f"{where} ({cid}): {p}" for p in check_call(obj, catalogue, needs_text=needs_text))
    return n, problems


def _counts(paths: Iterable[Path]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("unit", "scope", "category")}
    for path in paths:
        for _, obj, _ in read_jsonl(path):
            if obj:
                for k in counts:
                    counts[k][str(obj.get(k))] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.corpus", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check corpus files against the labelling guide")
    check.add_argument("files", nargs="*", type=Path)
    check.add_argument("--second", action="store_true", help="second-label files: no `text` needed")
    sub.add_parser("counts", help="calls per unit, scope and category over data/corpus/calls_*.jsonl")
    args = parser.parse_args(argv)
    catalogue = default_catalogue()
    if args.command == "check":
        files = args.files or sorted(CORPUS_DIR.glob("calls_*.jsonl"))
        total, bad = 0, 0
        for path in files:
            n, problems = check_file(path, catalogue, needs_text=not args.second)
            total += n
            bad += len(problems)
            for p in problems:
                print(p)
        print(f"{total} calls in {len(files)} files, {bad} problems")
        return 1 if bad else 0
    counts = _counts(sorted(CORPUS_DIR.glob("calls_*.jsonl")))
    for key, counter in counts.items():
        print(key, dict(counter.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
