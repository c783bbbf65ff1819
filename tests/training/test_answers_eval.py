"""Consultations answered on the call: the evaluation scores the standard answers the product gives (those of the
API and `triage predict`), by whether one comes from a unit a dispatcher would accept for the call."""

from __future__ import annotations

from training.batch import answered
from training.datasets import Dataset, Record, read_labelled
from training.evaluate import evaluate, predict_all
from training.report import answers_html
from triage.knowledge_base import KNOWLEDGE_DIR
from triage.pipeline import TriagePipeline

FUND = "市住房公积金管理中心"
QUESTION = "你好，我想问一下住房公积金怎么提取，要带什么材料。"


def _records() -> list[Record]:
    consultation = {"category": "咨询", "scope": "accepted"}
    return [
        Record("q1", QUESTION, {**consultation, "unit": FUND}),
        Record("q2", QUESTION, {**consultation, "unit": "市消防支队"}),  # the same call filed to a unit no answer is from
        Record("c1", "楼下烧烤店每天晚上油烟很大，吵到十二点，你们管一下。", {"category": "投诉", "scope": "accepted", "unit": "市城管局"}),
    ]


def test_answers_are_scored_by_the_unit_they_come_from(pipeline: TriagePipeline) -> None:
    data = Dataset(_records())
    suggestions = predict_all(pipeline, data)
    given = answered(suggestions[0]).answers
    assert suggestions[0].category.label == "咨询" and given and given[0].unit == FUND  # what a user of `predict` sees

    answers = evaluate(pipeline, data, suggestions)["answers"]
    assert answers["n"] == 2  # the complaint is not a consultation
    assert answers["answered"] == 1.0
    assert answers["right_unit_top3"] == 0.5 and answers["right_unit_top3_where_answered"] == 0.5
    low, high = answers["right_unit_top3_ci95"]
    assert low < 0.5 < high
    html = "".join(answers_html({"answers": answers}))
    assert "2 accepted consultations" in html and "50.0%" in html


def test_no_consultation_no_answer_figures(pipeline: TriagePipeline) -> None:
    data = Dataset(_records()[2:])
    assert "answers" not in evaluate(pipeline, data)


def test_consultations_written_blind_to_the_knowledge_base_mostly_get_an_answer_from_their_unit(pipeline: TriagePipeline) -> None:
    """240 questions a helper wrote from the unit catalogue alone, never seeing an answer or a variant: the
    standard answers must carry over to questions nobody shaped them on (95% with the default model)."""
    data = read_labelled(KNOWLEDGE_DIR / "probe_consultations.jsonl", strict=True)
    answers = evaluate(pipeline, data)["answers"]
    assert answers["n"] == 240
    assert answers["right_unit_top3"] >= 0.85 and answers["right_unit_top3_where_answered"] >= 0.9


def test_consultations_in_the_corpus_register_written_blind_mostly_get_an_answer_from_their_unit(pipeline: TriagePipeline) -> None:
    """150 consultations in the call corpus's register (fillers, places without their district, misheard words) by a
    writer who read only the labelling guide, the catalogue and the gazetteer: never read here, only scored (98.7%
    with the default model when it was written)."""
    data = read_labelled(KNOWLEDGE_DIR / "corpus_consultations_blind.jsonl", strict=True)
    answers = evaluate(pipeline, data)["answers"]
    assert answers["n"] == 150
    assert answers["right_unit_top3"] >= 0.9 and answers["right_unit_top3_where_answered"] >= 0.9


def test_the_benchmark_scores_each_unseen_set_of_consultations_and_pools_only_those(pipeline: TriagePipeline, capsys) -> None:
    """`python -m training.bench_knowledge --calls`: one line per set with its count and interval, the development
    files (fitted) apart, and the pooled figure summing the unseen sets alone."""
    import re
    from pathlib import Path

    from training.bench_knowledge import UNSEEN_CALLS, print_call_scores

    print_call_scores(pipeline)
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        found = re.match(r"calls (.+?)\s+(\d+) of\s+(\d+): [\d.]+% \([\d.]+%-[\d.]+%\)$", line)
        if found:
            rows[found.group(1)] = (int(found.group(2)), int(found.group(3)))
    unseen = ["frozen test split", *(Path(name).stem for name in UNSEEN_CALLS)]
    assert set(unseen) < set(rows) and "corpus_consultations_a (development)" in rows
    assert rows["corpus_consultations_blind"][1] == 150 and rows["probe_consultations"][1] == 240
    pooled = rows["unseen, pooled"]
    assert pooled == (sum(rows[name][0] for name in unseen), sum(rows[name][1] for name in unseen))
    assert all(right <= n for right, n in rows.values())
