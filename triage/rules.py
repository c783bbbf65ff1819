"""The hotline's editable rules (data/rules.yaml): fillers, scope refusals, urgency, deadlines.

Loaded and checked once, so a typo in a pattern is refused at start with the entry named, not at the
first call that happens to reach it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triage.datafile import read_yaml, validated
from triage.errors import DataFileError
from triage.regex_cache import compiled
from triage.resources import RULES_FILE

SCOPE_CODES: tuple[str, ...] = (
    "resident_dispute",
    "emergency",
    "military",
    "party_discipline",
    "litigation",
    "secret_privacy",
    "illegal_immoral",
    "already_handled",
    "not_specific",
)
ACCEPTED = "accepted"
_FOLDING_SPACE = re.compile(r"(?<=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef0-9])")
EMERGENCY_NUMBERS: tuple[str, ...] = ("110", "119", "120", "122")


def _compile_all(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            compiled(pattern)
        except re.error as exc:
            raise ValueError(f"pattern {pattern!r} does not compile: {exc}") from exc
    return patterns


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fillers(_Strict):
    anywhere: list[str] = Field(default_factory=list)
    at_pause: list[str] = Field(default_factory=list)


class EmergencyRedirect(_Strict):
    number: str
    unit: str | None = None
    """The member unit behind the number (119: 市消防支队): first among the units of a call redirected to it, so that a
    refused order recorded by the operator names who acts, not what the words resemble (烟 is not 烟草)."""
    patterns: list[str]
    situations: list[str] = Field(default_factory=list)
    """Broader words of what is happening (fire, traffic, crime, injury): they choose the number once a call is an
    emergency, by rule or by the scope model; they never refuse a call on their own."""

    _check = field_validator("patterns", "situations")(_compile_all)

    @field_validator("number")
    @classmethod
    def _known_number(cls, value: str) -> str:
        if value not in EMERGENCY_NUMBERS:
            raise ValueError(f"unknown emergency number {value!r}; expected one of {EMERGENCY_NUMBERS}")
        return value


class ScopeReason(_Strict):
    code: str
    name: str
    explanation: str
    redirect: str | None = None
    patterns: list[str] = Field(default_factory=list)
    redirects: list[EmergencyRedirect] = Field(default_factory=list)
    default_redirect: str | None = None
    unless: list[str] = Field(default_factory=list)
    """Words that, anywhere in a call, keep this reason's rules from firing (a veteran's pension is not a military matter)."""

    _check = field_validator("patterns", "unless")(_compile_all)

    @field_validator("explanation")
    @classmethod
    def _no_folding_spaces(cls, value: str) -> str:
        """YAML's folded lines join with a space, which Chinese does not have: 申请调解， 也可 → 申请调解，也可."""
        return _FOLDING_SPACE.sub("", value.strip())

    @field_validator("code")
    @classmethod
    def _known_code(cls, value: str) -> str:
        if value not in SCOPE_CODES:
            raise ValueError(f"unknown scope code {value!r}; expected one of {', '.join(SCOPE_CODES)}")
        return value


class ScopeRules(_Strict):
    refusal_threshold: float = Field(0.5, ge=0.0, le=1.0)
    reasons: list[ScopeReason]


class Timing(_Strict):
    """Words near a matched danger that put it in the past (上个月), make it hypothetical (万一) or say it is over
    (没事了), and words that say it is happening now (正在, 刚刚) and win over them. A citizen asking about last
    month's robbery is heard, not sent to 110."""

    past: list[str] = Field(default_factory=list)
    hypothetical: list[str] = Field(default_factory=list)
    over: list[str] = Field(default_factory=list)
    now: list[str] = Field(default_factory=list)
    before: int = Field(50, ge=0)
    after: int = Field(25, ge=0)
    story_chars: int | None = Field(None, gt=0)
    """Longer texts need a word of now near an emergency's words: a long letter telling one is a story of it."""

    _check = field_validator("past", "hypothetical", "over", "now")(_compile_all)


class TimeCues:
    """`Timing` compiled once: whether the words matched at [start, end) tell of something not happening now.

    `past=False` (urgent matters) leaves the past and `story_chars` out: a road that caved in yesterday is still a
    hole today, however long the letter telling it."""

    def __init__(self, timing: Timing | None, *, past: bool = True) -> None:
        self.timing = timing
        self.story = past
        cues = [*(timing.past if past else []), *timing.hypothetical, *timing.over] if timing else []
        self._not_now = alternation(cues)
        self._now = alternation(timing.now) if timing else None

    def not_now(self, text: str, start: int, end: int) -> bool:
        if self.timing is None or self._not_now is None:
            return False
        window = text[max(0, start - self.timing.before) : end + self.timing.after]
        now = self._now is not None and bool(self._now.search(window))
        if self.story and self.timing.story_chars is not None and len(text) > self.timing.story_chars:
            return not now
        return bool(self._not_now.search(window)) and not now


def alternation(patterns: list[str]) -> re.Pattern[str] | None:
    """One pattern matching where any of `patterns` does (each kept whole in its own group); None for none."""
    return compiled("|".join(f"(?:{p})" for p in patterns)) if patterns else None


class UrgentRules(_Strict):
    patterns: list[str]

    _check = field_validator("patterns")(_compile_all)


class DeadlineRules(_Strict):
    emergency_hours: int = Field(24, gt=0)
    simple_days: int = Field(5, gt=0)
    help_days: int = Field(15, gt=0)
    standard_days: int = Field(10, gt=0)


class Rules(_Strict):
    version: int
    fillers: Fillers
    scope: ScopeRules
    timing: Timing | None = None
    urgent: UrgentRules
    deadlines: DeadlineRules

    def reason(self, code: str) -> ScopeReason:
        for reason in self.scope.reasons:
            if reason.code == code:
                return reason
        raise KeyError(code)


def load_rules(path: str | Path = RULES_FILE) -> Rules:
    """Read and check a rules file; every problem names the file and the entry."""
    rules = validated(Rules, read_yaml(path), path)
    codes = [r.code for r in rules.scope.reasons]
    missing = sorted(set(SCOPE_CODES) - set(codes))
    if missing:
        raise DataFileError(path, f"scope reasons missing: {', '.join(missing)}", entry="scope.reasons")
    duplicated = sorted({c for c in codes if codes.count(c) > 1})
    if duplicated:
        raise DataFileError(path, f"scope reason listed twice: {duplicated[0]}", entry="scope.reasons")
    return rules


@lru_cache(maxsize=4)
def default_rules(path: str = str(RULES_FILE)) -> Rules:
    """The rules of the project's data folder, loaded once per process."""
    return load_rules(path)
