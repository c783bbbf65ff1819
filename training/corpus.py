"""The call corpus's own bookkeeping: check a file against the labelling guide, apply the adjudication of two
labellers' disagreements, and measure how far the two agreed (data/corpus/GUIDE.md says how calls are labelled).

Each call is labelled twice: by its writer (the first labels) and by a second labeller who saw only the text
(data/corpus/second/). Where they differ, an adjudicator decided; `adjudication.jsonl` keeps, per call and
disputed field, both labels, the final one and why. The calls hold the final labels, so the first labels are
the calls' own except where the record says otherwise.

    python -m training.corpus check [FILES]        # the guide's rules, file and line for each problem
    python -m training.corpus adjudicate DIR       # merge an adjudicator's output into the calls and the record
    python -m training.corpus agreement            # per field, first against second labeller (raw, kappa)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sklearn.metrics import cohen_kappa_score

from training.tuning import is_acceptable
from triage.labels import CATEGORIES, DEADLINE_CLASSES, DISTRICTS, SCOPES, TOPICS
from triage.resources import CORPUS_DIR
from triage.units import LOCAL, Catalogue, canonical_district, default_catalogue

REDIRECTS = ("110", "119", "120", "122")
FIELDS = ("category", "topic", "unit", "units_ok", "district", "scope", "deadline", "redirect")
SECOND_DIR = CORPUS_DIR / "second"
RECORD_FILE = CORPUS_DIR / "adjudication.jsonl"


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
        today = canonical_district(obj["district"], catalogue) if isinstance(obj["district"], str) else None
        if today is not None:
            problems.append(f"`district` {obj['district']!r} is a former name: write {today}")
        else:
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


def _by_id(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    return {obj["id"]: obj for path in paths for _, obj, _ in read_jsonl(path) if obj}


def _differs(field: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
    if field == "units_ok":
        return set(a.get(field) or []) != set(b.get(field) or [])
    return a.get(field) != b.get(field)


def adjudicate(decisions_dir: Path, corpus_dir: Path = CORPUS_DIR) -> int:
    """Write the adjudicator's final labels into the calls, and each disputed field's first, second and final
    labels with the reason into the record; returns the number of calls changed."""
    calls_files = sorted(corpus_dir.glob("calls_*.jsonl"))
    second = _by_id(sorted((corpus_dir / "second").glob("*.jsonl")))
    decisions = _by_id(sorted(decisions_dir.glob("*.jsonl")))
    record = []
    changed = 0
    for path in calls_files:
        lines = []
        for _, obj, _ in read_jsonl(path):
            assert obj is not None
            decision = decisions.get(obj["id"])
            if decision is not None:
                final = decision["final"]
                disputed = [f for f in FIELDS if _differs(f, obj, second[obj["id"]])]
                record.append({
                    "id": obj["id"],
                    "fields": {
                        f: {"first": obj.get(f), "second": second[obj["id"]].get(f), "final": final.get(f), "why": decision["why"].get(f)}
                        for f in disputed
                    },
                })
                new = {"id": obj["id"], "text": obj["text"], **{f: final.get(f) for f in FIELDS if f != "redirect"}}
                if final.get("redirect"):
                    new["redirect"] = final["redirect"]
                changed += new != obj
                obj = new
            lines.append(json.dumps(obj, ensure_ascii=False))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    record_file = corpus_dir / RECORD_FILE.name
    earlier = _by_id([record_file]) if record_file.is_file() else {}
    merged = {**earlier, **{row["id"]: row for row in record}}  # earlier decisions stay; a call decided again is replaced
    with record_file.open("w", encoding="utf-8") as sink:
        for row in sorted(merged.values(), key=lambda r: r["id"]):
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
    return changed


def first_labels(corpus_dir: Path = CORPUS_DIR) -> dict[str, dict[str, Any]]:
    """The writer's labels of every call: the final ones, except where the adjudication record says otherwise."""
    calls = _by_id(sorted(corpus_dir.glob("calls_*.jsonl")))
    record = _by_id([corpus_dir / RECORD_FILE.name]) if (corpus_dir / RECORD_FILE.name).is_file() else {}
    out = {}
    for cid, obj in calls.items():
        labels = {f: obj.get(f) for f in FIELDS}
        for f, entry in record.get(cid, {}).get("fields", {}).items():
            labels[f] = entry["first"]
        out[cid] = labels
    return out


def agreement(corpus_dir: Path = CORPUS_DIR, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Per field, how often the two labellers agreed (raw share and Cohen's kappa), and for units how often each
    one's best unit is one the other would accept. The honest ceiling of every figure measured on the corpus."""
    catalogue = catalogue or default_catalogue()
    first = first_labels(corpus_dir)
    second = _by_id(sorted((corpus_dir / "second").glob("*.jsonl")))
    ids = sorted(set(first) & set(second))
    out: dict[str, Any] = {"n": len(ids), "fields": {}}
    views = {
        "category": lambda o: o.get("category"),
        "topic": lambda o: o.get("topic"),
        "scope (accepted or not)": lambda o: o.get("scope") == "accepted",
        "scope (reason)": lambda o: o.get("scope"),
        "emergency number": lambda o: o.get("redirect"),
        "district": lambda o: o.get("district"),
        "deadline": lambda o: o.get("deadline"),
    }
    for name, view in views.items():
        a = [str(view(first[i])) for i in ids]
        b = [str(view(second[i])) for i in ids]
        out["fields"][name] = {"n": len(ids), "agreement": round(sum(x == y for x, y in zip(a, b, strict=True)) / len(ids), 4),
                               "kappa": round(float(cohen_kappa_score(a, b)), 4)}
    both = [i for i in ids if first[i].get("scope") == "accepted" and second[i].get("scope") == "accepted"]

    def ok(name: str | None, acceptable: list[str]) -> bool:
        """The evaluator's rule, both ways round: a labeller's own best unit may be `属地` too."""
        return is_acceptable(name, acceptable, catalogue) or (name == LOCAL and any(catalogue.is_local(u) for u in acceptable))

    if both:
        out["units"] = {
            "n": len(both),
            "same_best_unit": round(sum(first[i]["unit"] == second[i]["unit"] for i in both) / len(both), 4),
            "first_best_acceptable_to_second": round(sum(ok(first[i]["unit"], second[i]["units_ok"]) for i in both) / len(both), 4),
            "second_best_acceptable_to_first": round(sum(ok(second[i]["unit"], first[i]["units_ok"]) for i in both) / len(both), 4),
            "several_acceptable_first": round(sum(len(first[i]["units_ok"]) > 1 for i in both) / len(both), 4),
            "several_acceptable_second": round(sum(len(second[i]["units_ok"]) > 1 for i in both) / len(both), 4),
        }
    record = _by_id([corpus_dir / RECORD_FILE.name]) if (corpus_dir / RECORD_FILE.name).is_file() else {}
    out["adjudicated_calls"] = len(record)
    return out


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
    merge = sub.add_parser("adjudicate", help="merge an adjudicator's decisions (JSONL files of {id, final, why}) into the calls")
    merge.add_argument("folder", type=Path)
    sub.add_parser("agreement", help="first against second labeller, per field")
    args = parser.parse_args(argv)
    catalogue = default_catalogue()
    if args.command == "adjudicate":
        print(f"{adjudicate(args.folder)} calls changed; record in {RECORD_FILE}")
        return 0
    if args.command == "agreement":
        print(json.dumps(agreement(catalogue=catalogue), ensure_ascii=False, indent=2))
        return 0
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
