"""What an edit of the scope rules changes, before it is committed: every text whose rule refusal or emergency
number moves between two rules files.

    python -m training.rules_diff [--old OLD.yaml | --rev GIT_REV] [--new data/rules.yaml] [--json out.json]

Rules are data that maintainers edit by hand, a pattern at a time, for a call someone found; a pattern written
for one call can refuse another. This reads the texts a fix may be checked against: the own corpus's training
pool, the development probes (`data/probes/probes.yaml`) and, where ../shared/data is present, the real messages
the full preset trains on. Never the frozen test split, the held-out messages or a blind probe: those only
report. Each changed text is printed with its label, the old and the new hit (reason, number, words); the
summary counts accepted texts newly refused (the cost) and emergencies newly sent to their number (the gain).
By default the old rules are the last commit's (`--rev HEAD`), so that an uncommitted edit shows its effect.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from training.datasets import Record, corpus_split, development_probes, tipdm_train
from triage.errors import DataFileError, TriageError
from triage.normalise import normalise
from triage.resources import PROJECT_ROOT, RULES_FILE
from triage.rules import load_rules
from triage.scope import ScopeDecider

Hit = tuple[str, str | None] | None
"""A rule hit as compared: (reason code, emergency number), or None for no refusal by rule."""


@dataclass(frozen=True)
class Change:
    source: str
    id: str
    label: str
    old: Hit
    new: Hit
    words: str | None
    text: str

    @property
    def kind(self) -> str:
        """For an accepted text: `newly refused` (the cost of an edit) or `no longer refused`; for an out-of-scope
        one: `found` (now refused for its reason, with its number), `lost`, or `moved` (another wrong hit)."""
        if self.label in ("accepted", "None"):
            return "newly refused" if self.old is None else "no longer refused" if self.new is None else "moved"
        wanted = tuple(self.label.split(":"))
        if _matches(self.new, wanted):
            return "found"
        return "lost" if _matches(self.old, wanted) else "moved"


def _matches(hit: Hit, wanted: tuple[str, ...]) -> bool:
    return hit is not None and hit[0] == wanted[0] and (len(wanted) < 2 or wanted[1] in ("None", hit[1]))


def texts(with_messages: bool = True) -> list[tuple[str, Record]]:
    """(source, record) for every text a rules fix may be checked against; nothing that only reports."""
    pool, frozen = corpus_split()
    out = [("calls", r) for r in pool.records]
    out += [("probes", r) for r in development_probes(frozen=frozen.records).records]
    if with_messages:
        try:
            out += [("messages", r) for r in tipdm_train().records]
        except DataFileError:  # no ../shared/data: the project's own texts only
            pass
    return out


def _label(record: Record) -> str:
    scope = record.label("scope") or "None"
    return f"{scope}:{record.label('redirect')}" if scope == "emergency" else scope


def _hit(decider: ScopeDecider, text: str) -> tuple[Hit, str | None]:
    found = decider.rule_hit(text)
    return ((found[0].code, found[1]), found[2]) if found else (None, None)


def diff(old: ScopeDecider, new: ScopeDecider, rows: Iterable[tuple[str, Record]]) -> list[Change]:
    changes = []
    for source, record in rows:
        try:
            text = normalise(record.text)
        except TriageError:
            continue  # a text the pipeline would not take either
        (before, _), (after, words) = _hit(old, text), _hit(new, text)
        if before != after:
            changes.append(Change(source, record.id, _label(record), before, after, words, record.text))
    return changes


def rules_at(rev: str, path: Path = RULES_FILE) -> str:
    """The rules file as committed at `rev`."""
    relative = path.resolve().relative_to(PROJECT_ROOT)
    done = subprocess.run(["git", "show", f"{rev}:{relative.as_posix()}"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cannot read {relative} at {rev}: {done.stderr.strip()}")
    return done.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, help="the rules file before the edit (default: --rev HEAD)")
    parser.add_argument("--rev", default="HEAD", help="git revision whose data/rules.yaml is the old rules")
    parser.add_argument("--new", type=Path, default=RULES_FILE, help="the edited rules file")
    parser.add_argument("--no-messages", action="store_true", help="leave out the real messages (faster)")
    parser.add_argument("--json", type=Path, help="write every change here")
    args = parser.parse_args(argv)
    if args.old is not None:
        old_rules = load_rules(args.old)
    else:
        with tempfile.TemporaryDirectory() as folder:
            snapshot = Path(folder) / "rules.yaml"
            snapshot.write_text(rules_at(args.rev), encoding="utf-8")
            old_rules = load_rules(snapshot)
    rows = texts(with_messages=not args.no_messages)
    changes = diff(ScopeDecider(old_rules), ScopeDecider(load_rules(args.new)), rows)
    for c in changes:
        print(f"[{c.kind}] {c.source} {c.id} ({c.label}): {c.old} -> {c.new} {c.words or ''} | {c.text[:100]}")
    kinds = Counter(c.kind for c in changes)
    sources = Counter(source for source, _ in rows)
    summary = {"texts": dict(sources), "changed": len(changes), **dict(kinds)}
    print(json.dumps(summary, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "changes": [asdict(c) for c in changes]}, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
