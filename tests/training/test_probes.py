"""Blind probes (data/probes/README.md): calls written by someone who never saw the corpus, the rules or the
models. Floors below what the default model measured, so that a change that loses what these calls show a new
city's callers would meet fails here first."""

from __future__ import annotations

import json

import pytest
from sklearn.metrics import f1_score

from training.datasets import Dataset, probe_files, read_labelled
from training.evaluate import evaluate, predict_all
from triage.pipeline import TriagePipeline
from triage.resources import PROJECT_ROOT

PROBES = PROJECT_ROOT / "data" / "probes"


def _read(name: str) -> Dataset:
    return read_labelled(PROBES / name, strict=True)


@pytest.mark.parametrize("name", ["routing_calls.jsonl", "routing_calls_2.jsonl", "routing_calls_3.jsonl"])
def test_ordinary_calls_from_an_outside_writer_are_mostly_dispatched_alone_and_rightly(pipeline: TriagePipeline, name: str) -> None:
    """260 calls each over the 65 units, by three writers (default model: 93% / 92% / 95% of accepted calls dispatched
    alone at 0.98 / 0.98 / 0.97 precision; 0 / 4 / 1 of 200 wrongly refused)."""
    assert PROBES / name in probe_files("blind")
    data = _read(name)
    metrics = evaluate(pipeline, data)
    dispatch = metrics["automation"]["dispatch"]
    assert dispatch["n"] == 200
    assert dispatch["coverage"] >= 0.75 and dispatch["precision"] >= 0.93
    assert metrics["scope"]["false_refusal_rate"] <= 0.03
    assert metrics["needs_review_share"] <= 0.40


def test_emergencies_nobody_tuned_on_are_redirected_or_at_least_flagged(pipeline: TriagePipeline) -> None:
    """The blind emergency probe (70 emergencies now, 70 look-alikes, by a fifth writer; `probes.yaml`: blind):
    default model trained beside the development files, 56 sent to the right number and 69 refused or marked a
    possible emergency; no look-alike refused (before those files trained it: 52, 62 and 1)."""
    assert PROBES / "emergency_calls_round5.jsonl" in probe_files("blind")
    data = _read("emergency_calls_round5.jsonl")
    suggestions = predict_all(pipeline, data)
    emergencies = [(r, s) for r, s in zip(data.records, suggestions, strict=True) if r.label("scope") == "emergency"]
    others = [s for r, s in zip(data.records, suggestions, strict=True) if r.label("scope") != "emergency"]
    assert len(emergencies) == 70 and len(others) == 70
    right = sum(s.scope.reason == "emergency" and s.scope.redirect == r.label("redirect") for r, s in emergencies)
    seen = sum(s.scope.reason == "emergency" or bool(s.scope.possible_emergency) for _, s in emergencies)
    assert right >= 0.75 * 70
    assert seen >= 0.9 * 70
    assert all(s.needs_review for _, s in emergencies if s.scope.possible_emergency)  # never dispatched unseen
    assert sum(not s.scope.accepted for s in others) <= 0.05 * 70
    scope = evaluate(pipeline, data, suggestions)["scope"]  # what `triage evaluate` reports of the same
    assert scope["emergency_refused_or_flagged"] == round(seen / 70, 4)
    assert scope["emergency_redirect_accuracy"] == round(right / 70, 4)


def test_the_callers_state_holds_on_a_writer_nobody_trained_on(pipeline: TriagePipeline) -> None:
    """The third routing probe's writer labelled each call's state by the corpus's caller-state guide (one labeller,
    never read here): default model, macro-F1 0.82 and every one of the 14 callers in danger found 求救."""
    rows = [json.loads(line) for line in (PROBES / "routing_calls_3.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    suggestions = pipeline.suggest_many([r["text"] for r in rows])
    gold = [r["caller_state"] for r in rows]
    predicted = [s.caller_state.label if s.caller_state else "平静" for s in suggestions]
    assert f1_score(gold, predicted, average="macro") >= 0.72
    rescue = [p for g, p in zip(gold, predicted, strict=True) if g == "求救"]
    assert len(rescue) == 14 and rescue.count("求救") >= 13
