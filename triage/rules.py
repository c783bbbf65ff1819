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
EMERGENCY_NUMBERS: tuple[str, ...] = ("110", "119", "120", "122")


def _compile_all(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
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
    patterns: list[str]

    _check = field_validator("patterns")(_compile_all)

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

    _check = field_validator("patterns")(_compile_all)

    @field_validator("code")
    @classmethod
    def _known_code(cls, value: str) -> str:
        if value not in SCOPE_CODES:
            raise ValueError(f"unknown scope code {value!r}; expected one of {', '.join(SCOPE_CODES)}")
        return value


class ScopeRules(_Strict):
    refusal_threshold: float = Field(0.5, ge=0.0, le=1.0)
    reasons: list[ScopeReason]


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
