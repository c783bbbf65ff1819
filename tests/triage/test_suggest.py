"""Which fields are auto, and why a suggestion needs review: only what a dispatch depends on gates it."""

from __future__ import annotations

import datetime as dt

from triage.caller_state import StateResult
from triage.deadlines import Deadline
from triage.places import Location
from triage.routing import RankedUnit
from triage.schemas import LabelPrediction
from triage.scope import ScopeDecision
from triage.suggest import NEVER_AUTO, ReviewThresholds, SuggestionParts, assemble, auto_scores

NOW = dt.datetime(2026, 12, 7, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
THRESHOLDS = ReviewThresholds(category=0.7, topic=0.9, unit=0.6, scope=0.8)
ACCEPT = ScopeDecision(True, None, None, "属于受理范围")


def parts(*, category: float = 0.9, topic: float = 0.2, units: list[RankedUnit] | None = None, district: str | None = None,
          scope: ScopeDecision = ACCEPT, p_accepted: float | None = 0.95, deadline: str = "standard",
          caller_state: StateResult | None = None) -> SuggestionParts:
    return SuggestionParts(
        id=None,
        text="……",
        category=LabelPrediction(label="投诉", score=category),
        topic=LabelPrediction(label="城乡建设", score=topic),
        units=units if units is not None else [RankedUnit("市城管局", 0.8), RankedUnit("开福区", 0.1, placed=False)],
        location=Location(district),
        scope=scope,
        deadline=Deadline(deadline, NOW, "…"),  # type: ignore[arg-type]
        p_accepted=p_accepted,
        caller_state=caller_state,
    )


def test_a_confident_department_is_dispatched_alone_whatever_the_topic_says() -> None:
    s = assemble(parts(topic=0.2), THRESHOLDS, "v")
    assert s.auto.unit and s.auto.scope and s.auto.category and not s.needs_review
    assert s.review_reasons == []  # a topic below its threshold is shown, never a reason to review


def test_a_local_matter_needs_the_district_its_place_decides() -> None:
    unplaced = [RankedUnit("芙蓉区", 0.9, ["属地事项：未能确定问题发生的区县，请核实地点后派单"], placed=False)]
    s = assemble(parts(units=unplaced), THRESHOLDS, "v")
    assert not s.auto.unit and s.needs_review and s.review_reasons == ["属地事项未定位区县"]
    placed = [RankedUnit("开福区", 0.9, placed=True)]
    s = assemble(parts(units=placed, district="开福区"), THRESHOLDS, "v")
    assert s.auto.unit and s.auto.district and not s.needs_review
    assert s.units[0].placed is True


def test_low_confidence_in_unit_or_acceptance_is_reviewed_and_said() -> None:
    s = assemble(parts(units=[RankedUnit("市城管局", 0.5)], p_accepted=0.7), THRESHOLDS, "v")
    assert s.review_reasons == ["scope置信度低", "unit置信度低"] and s.needs_review
    assert s.auto.category  # the operator's auto-fill does not depend on the unit


def test_a_possible_emergency_is_accepted_but_never_left_to_the_machine() -> None:
    possible = ScopeDecision(True, None, None, "属于受理范围", possible_emergency="120")
    s = assemble(parts(scope=possible, p_accepted=0.88), THRESHOLDS, "v")
    assert s.scope.accepted and s.scope.possible_emergency == "120"
    assert not s.auto.scope and s.needs_review
    assert s.review_reasons == ["可能为紧急警情（120），请确认"]  # said instead of a bare low confidence


def test_a_caller_crying_for_help_is_accepted_but_never_left_to_the_machine() -> None:
    """A call the scope accepts but whose caller says a life is in danger now (lost on a hill after dark, a wire down
    beside children) is seen by a person before it goes anywhere; its state changes no field, only who decides."""
    cry = StateResult("求救", 0.99, ("迷路遇险",))
    s = assemble(parts(p_accepted=0.99, caller_state=cry), THRESHOLDS, "v")
    assert s.scope.accepted and s.units[0].name == "市城管局" and s.caller_state.label == "求救"
    assert not s.auto.scope and s.needs_review and auto_scores(s).scope == NEVER_AUTO
    assert s.review_reasons == ["来电人求救（迷路遇险），请确认是否为紧急警情"]
    worried = assemble(parts(p_accepted=0.99, caller_state=StateResult("焦急", 0.9, ("催促",))), THRESHOLDS, "v")
    assert worried.auto.scope and not worried.needs_review  # urgency alone is the queue's business, not review's
    refused = ScopeDecision(False, "emergency", "110", "请拨打110", by_rule=True)
    redirected = assemble(parts(scope=refused, caller_state=cry), ReviewThresholds(rule_refusals_auto=True), "v")
    assert not redirected.needs_review  # a refusal to 110 is already the emergency's answer


def test_a_refusal_by_the_model_is_always_reviewed_and_never_auto() -> None:
    model = ScopeDecision(False, "not_specific", "补充后再来电", "诉求不明确", by_rule=False)
    s = assemble(parts(scope=model), ReviewThresholds(rule_refusals_auto=True), "v")
    assert not s.auto.scope and not s.auto.unit and s.needs_review
    assert s.review_reasons == ["模型建议不予受理，请人工确认"]
    rule = ScopeDecision(False, "emergency", "119", "请拨打119", by_rule=True)
    trusted = assemble(parts(scope=rule), ReviewThresholds(rule_refusals_auto=True), "v")
    assert trusted.auto.scope and not trusted.auto.unit and not trusted.needs_review  # the refusal script is read; nothing is dispatched
    untrusted = assemble(parts(scope=rule), ReviewThresholds(rule_refusals_auto=False), "v")
    assert untrusted.review_reasons == ["规则建议不予受理，请人工确认"]


def test_an_urgent_deadline_is_auto_by_its_rule_and_others_follow_the_category() -> None:
    assert assemble(parts(category=0.3, deadline="emergency"), THRESHOLDS, "v").auto.deadline
    assert not assemble(parts(category=0.3, deadline="standard"), THRESHOLDS, "v").auto.deadline


def test_each_register_is_decided_by_its_own_thresholds() -> None:
    """A letter's unit may be trusted at a lower score than a call's, and a call's category at a lower one than a
    letter's, when each register's own rows said so; a register without its own falls back on the pooled ones."""
    thresholds = ReviewThresholds(category=0.8, unit=0.8, scope=0.8, by_register={"spoken": {"category": 0.6}, "written": {"unit": 0.5}})
    unsure = parts(category=0.7, units=[RankedUnit("市城管局", 0.6)])
    call = assemble(unsure, thresholds, "v", "spoken")
    letter = assemble(unsure, thresholds, "v", "written")
    assert call.register_ == "spoken" and call.auto.category and not call.auto.unit and call.review_reasons == ["unit置信度低"]
    assert letter.register_ == "written" and letter.auto.unit and not letter.auto.category and not letter.needs_review
    assert thresholds.for_register("spoken").unit == 0.8  # pooled where the register has none of its own
    assert ReviewThresholds(unit=0.8).for_register("written").unit == 0.8


def test_the_scores_curves_and_thresholds_read_are_the_ones_auto_decides_by() -> None:
    """Training picks thresholds and evaluation draws risk-coverage curves from `auto_scores`; a field is auto
    exactly when its score reaches the threshold, the gates (a possible emergency, a place heard by sound)
    included, so a curve's operating point is what the service does."""
    possible = ScopeDecision(True, None, None, "属于受理范围", possible_emergency="110")
    refused = ScopeDecision(False, "not_specific", "补充后再来电", "诉求不明确", by_rule=False)
    cases = [
        parts(),
        parts(units=[RankedUnit("市城管局", 0.59)], p_accepted=0.81, category=0.69),
        parts(scope=possible, p_accepted=0.99),
        parts(p_accepted=0.99, caller_state=StateResult("求救", 0.9, ("被困",))),
        parts(units=[RankedUnit("开福区", 0.9, placed=False)]),
        parts(units=[RankedUnit("开福区", 0.9, placed=True)], district="开福区"),
        parts(p_accepted=None),
        parts(scope=refused),
    ]
    for case in cases:
        s = assemble(case, THRESHOLDS, "v")
        scores = auto_scores(s)
        assert s.auto.category == (scores.category >= THRESHOLDS.category)
        assert s.auto.unit == (scores.unit is not None and scores.unit >= THRESHOLDS.unit)
        if s.scope.accepted:
            assert s.auto.scope == (scores.scope is not None and scores.scope >= THRESHOLDS.scope)
        else:
            assert scores.unit is None and scores.scope is None  # nothing to trust in a refusal's unit or acceptance
    assert auto_scores(assemble(parts(scope=possible, p_accepted=0.99), THRESHOLDS, "v")).scope == NEVER_AUTO
    assert auto_scores(assemble(parts(units=[RankedUnit("开福区", 0.9, placed=False)]), THRESHOLDS, "v")).unit == NEVER_AUTO
