"""`python -m training.rules_diff`: a maintainer sees what a rules edit refuses before committing it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from training import rules_diff
from training.datasets import Record
from triage.resources import RULES_FILE
from triage.rules import load_rules
from triage.scope import ScopeDecider


def _edited(tmp_path: Path, pattern: str) -> Path:
    """data/rules.yaml with one more 110 pattern."""
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    emergency = next(r for r in rules["scope"]["reasons"] if r["code"] == "emergency")
    next(r for r in emergency["redirects"] if r["number"] == "110")["patterns"].append(pattern)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return path


def test_a_pattern_too_broad_shows_the_accepted_calls_it_would_refuse_and_the_emergencies_it_finds(tmp_path: Path) -> None:
    old, new = ScopeDecider(load_rules(RULES_FILE)), ScopeDecider(load_rules(_edited(tmp_path, "摩托车.{0,6}(跑了|开走了)")))
    rows = [
        ("calls", Record("a", "我的摩托车被人骑起跑了 往东边去了", {"scope": "emergency", "redirect": "110"})),
        ("calls", Record("b", "楼下摩托车半夜开走了又开回来 吵得睡不着", {"scope": "accepted"})),
        ("calls", Record("c", "路灯坏了一个星期了", {"scope": "accepted"})),
    ]
    changes = {c.id: c for c in rules_diff.diff(old, new, rows)}
    assert set(changes) == {"a", "b"}
    assert changes["a"].kind == "found" and changes["a"].new == ("emergency", "110")
    assert changes["b"].kind == "newly refused" and changes["b"].old is None and changes["b"].words


def test_the_command_reads_no_frozen_or_blind_text_and_prints_a_summary(tmp_path: Path, capsys) -> None:
    from training.datasets import corpus_split, probe_files, read_many, same_call_key

    read = {same_call_key(r.text) for _, r in rules_diff.texts(with_messages=False)}
    assert not read & {same_call_key(r.text) for r in corpus_split()[1].records}
    assert not read & {same_call_key(r.text) for r in read_many(probe_files("blind")).records}
    out = tmp_path / "diff.json"
    rules_diff.main(["--old", str(RULES_FILE), "--new", str(_edited(tmp_path, "摩托车")), "--no-messages", "--json", str(out)])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["changed"] > 0 and summary["newly refused"] > 0  # every accepted call about a motorbike
    assert json.loads(out.read_text(encoding="utf-8"))["summary"] == summary
