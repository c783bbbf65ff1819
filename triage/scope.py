"""Scope (受理范围): accept, or refuse with a reason, a redirect and words to read to the caller.

Refusing a call that should be accepted leaves a citizen unheard, so a refusal needs either an
unmistakable rule (data/rules.yaml) that the scope model does not contradict, or a confident model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import islice
from types import EllipsisType

from triage.fastre import FastPattern
from triage.normalise import remove_fillers
from triage.regex_cache import compiled
from triage.rules import ACCEPTED, Rules, ScopeReason, TimeCues, alternation

_HAN = re.compile(r"[\u4e00-\u9fff]")
MIN_CONTENT_CHARS = 6
"""Fewer Chinese characters than this (placeholders aside) cannot say what, where and who."""
_PLACEHOLDER = re.compile(r"\[[^\]]*\]")
RuleHit = tuple[ScopeReason, str | None, str]
"""A refusal rule that matched: (reason, emergency number or None, the words it matched)."""
SHORT_CALL_CHARS = 40
"""A call this short is checked once more without its fillers: the pipeline keeps a call of fillers only as said."""
TOO_SHORT = "内容过短"
"""A too-short call's `why` begins with it."""
ACCEPT_OVERRIDE = 0.85
"""A rule hit is overruled when the scope model is at least this sure the call is in scope."""
POSSIBLE_EMERGENCY = 0.1
"""An accepted call to which the scope model still gives at least this chance of being an emergency is marked
`possible_emergency` and always reviewed: a missed emergency costs far more than a look. Chosen (session 11) on the
full preset's out-of-fold scope probabilities: it marked 0.75% of the 2,398 accepted pool calls (18) and every one
of the 21 pool emergencies no rule caught; on blind emergency probes it marked half of those the rules of the time
missed. With the development probes trained beside the corpus it marks 0.21% of those calls out of fold (session 12),
0.25% with session 13's training files."""


@dataclass(frozen=True)
class ScopeDecision:
    accepted: bool
    reason: str | None
    redirect: str | None
    explanation: str
    evidence: str | None = None
    by_rule: bool = False
    why: str | None = None
    """What the refusal rests on, for the operator: the rule's words, the model's confidence, or a too-short call."""
    too_short: bool = False
    """Nothing to act on yet ("喂？喂？"): reviewed as a call too short, never refused alone, never blamed on the model."""
    possible_emergency: str | None = None
    """An accepted call the scope model gives a chance of being an emergency (`POSSIBLE_EMERGENCY`): the number it
    would be for. It is still accepted, but reviewed."""

    def as_dict(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "reason": self.reason,
            "redirect": self.redirect,
            "explanation": self.explanation,
            "why": self.why,
            "too_short": self.too_short,
            "possible_emergency": self.possible_emergency,
        }


class ScopeDecider:
    """Rules first, the scope model second, with a bias towards accepting."""

    def __init__(self, rules: Rules, refusal_threshold: float | None = None) -> None:
        self.rules = rules
        self.refusal_threshold = (
            refusal_threshold if refusal_threshold is not None else rules.scope.refusal_threshold
        )
        # every call is read for every pattern: each is searched faster where it can be (`triage.fastre`)
        self._patterns: list[tuple[ScopeReason, str | None, FastPattern]] = []
        # emergencies first: when a call is both a quarrel and a beating in progress, 110 wins
        ordered = sorted(rules.scope.reasons, key=lambda r: r.code != "emergency")
        for reason in ordered:
            for redirect in reason.redirects:
                for pattern in redirect.patterns:
                    self._patterns.append((reason, redirect.number, FastPattern(compiled(pattern))))
            for pattern in reason.patterns:
                self._patterns.append((reason, None, FastPattern(compiled(pattern))))
        self._unless: dict[str, FastPattern] = {}
        for reason in rules.scope.reasons:
            unless = alternation(reason.unless)
            if unless is not None:
                self._unless[reason.code] = FastPattern(unless)
        emergency = rules.reason("emergency")
        self._situations = [(r.number, [FastPattern(compiled(p)) for p in r.situations]) for r in emergency.redirects]
        self._default_number = emergency.default_redirect or "110"
        self._timing = TimeCues(rules.timing)

    def rule_hit(self, text: str) -> RuleHit | None:
        """The first refusal rule that matches: (reason, emergency number or None, matched words).

        A reason's `unless` words anywhere in the call keep its rules silent; an emergency's words among words of
        the past or of a hypothetical (上个月, 万一), with none saying it is happening now, do not count."""
        silenced: dict[str, bool] = {}
        for reason, number, pattern in self._patterns:
            code = reason.code
            if code not in silenced:
                unless = self._unless.get(code)
                silenced[code] = bool(unless and unless.search(text))
            if silenced[code]:
                continue
            for match in pattern.finditer(text):
                if code == "emergency" and self._timing.not_now(text, match.start(), match.end()):
                    continue
                return reason, (self.emergency_number(text, number) if code == "emergency" else None), match.group(0)
        return None

    def emergency_number(self, text: str, fallback: str | None = None) -> str:
        """The number for what is happening: the first redirect (in the rules' order: fire, traffic, crime, injury)
        whose situation words the call has; else the number of the rule that fired; else the default (110)."""
        for number, situations in self._situations:
            if any(p.search(text) for p in situations):
                return number
        return fallback or self._default_number

    def decide(
        self, text: str, proba: Mapping[str, float] | None = None, *, hit: RuleHit | EllipsisType | None = ..., fillers_only: bool | None = None
    ) -> ScopeDecision:
        """Decide on a normalised transcript, given the scope model's probabilities if there is one.

        `hit` is `rule_hit(text)` when the caller already has it (tuning decides each call many times);
        `fillers_only` is what normalising found (the pipeline knows it), else a short call is checked here.
        """
        if fillers_only is None:
            fillers_only = len(text) <= SHORT_CALL_CHARS and not _has_content(remove_fillers(text, self.rules.fillers))
        if fillers_only or not _has_content(text):
            # "喂？喂？": nothing to act on yet, but a line that dropped is not a refusal to make alone
            decision = self._refuse(self.rules.reason("not_specific"), None, None, by_rule=False, why=f"{TOO_SHORT}（不足{MIN_CONTENT_CHARS}个汉字）")
            return replace(decision, too_short=True)
        p_accepted = proba.get(ACCEPTED, 0.0) if proba else 0.0
        hit = self.rule_hit(text) if hit is ... else hit
        # an emergency rule is never overruled: a life may depend on the redirect
        if hit is not None and (not proba or p_accepted < ACCEPT_OVERRIDE or hit[0].code == "emergency"):
            reason, number, words = hit
            return self._refuse(reason, number, words, by_rule=True)
        if proba:
            code = max(proba, key=lambda k: proba[k])
            if code != ACCEPTED and proba[code] >= self.refusal_threshold:
                reason = self.rules.reason(code)
                number = self.emergency_number(text) if code == "emergency" else None
                return self._refuse(reason, number, None, by_rule=False, why=f"模型判断：{reason.name}（{proba[code]:.0%}）")
        possible = self.emergency_number(text) if proba and proba.get("emergency", 0.0) >= POSSIBLE_EMERGENCY else None
        return ScopeDecision(True, None, None, "属于12345热线受理范围，请按转办建议派单。", possible_emergency=possible)

    def _refuse(
        self, reason: ScopeReason, number: str | None, words: str | None, *, by_rule: bool, why: str | None = None
    ) -> ScopeDecision:
        redirect = number or (self._default_number if reason.code == "emergency" else reason.redirect)
        explanation = reason.explanation.replace("{redirect}", redirect or "")
        why = why or (f"规则：「{words}」" if words else None)
        return ScopeDecision(False, reason.code, redirect, explanation, evidence=words, by_rule=by_rule, why=why)


def _has_content(text: str) -> bool:
    """At least MIN_CONTENT_CHARS Chinese characters outside placeholders such as [电话]; counting stops there."""
    if "[" in text:
        text = _PLACEHOLDER.sub("", text)
    return len(list(islice(_HAN.finditer(text), MIN_CONTENT_CHARS))) >= MIN_CONTENT_CHARS
