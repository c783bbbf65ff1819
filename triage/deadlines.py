"""Deadlines on China's working-day calendar (法定节假日 and 调休 make-up days).

chinesecalendar carries the official schedule up to the last year the State Council has published
and the package has released. Beyond it we fall back to weekends plus an administrator's holiday file,
and the deadline says so: an order created in December already falls due in the next year.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field

from triage.datafile import read_yaml, validated
from triage.errors import DataFileError
from triage.fastre import FastPattern
from triage.regex_cache import compiled
from triage.resources import HOLIDAYS_FILE
from triage.rules import DeadlineRules, TimeCues, Timing, alternation, default_rules

TZ = ZoneInfo("Asia/Shanghai")
DeadlineClass = Literal["emergency", "simple", "help", "standard"]


class _Year(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provisional: bool = False
    holidays: list[dt.date] = Field(default_factory=list)
    workdays: list[dt.date] = Field(default_factory=list)


class _HolidayFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    years: dict[int, _Year] = Field(default_factory=dict)


class WorkingCalendar:
    """Is a date a working day? The official package where it knows, the holiday file after that."""

    def __init__(self, holiday_file: str | Path | None = HOLIDAYS_FILE) -> None:
        self.holidays: set[dt.date] = set()
        self.workdays: set[dt.date] = set()
        self.provisional_years: set[int] = set()
        self.file_years: set[int] = set()
        self._after: dict[tuple[dt.date, int], dt.date] = {}
        """add_workdays answers: a batch's calls share a few start dates, and the day walk is slow."""
        if holiday_file is not None:
            parsed = validated(_HolidayFile, read_yaml(holiday_file), holiday_file)
            for year, entry in parsed.years.items():
                for day in [*entry.holidays, *entry.workdays]:
                    if day.year != year:
                        raise DataFileError(holiday_file, f"{day} is not in {year}", entry=str(year))
                self.holidays.update(entry.holidays)
                self.workdays.update(entry.workdays)
                self.file_years.add(year)
                if entry.provisional:
                    self.provisional_years.add(year)

    @staticmethod
    def official_range() -> tuple[int, int]:
        """First and last year the chinesecalendar package covers."""
        return _official_range()

    def is_official(self, day: dt.date) -> bool:
        first, last = _official_range()
        return first <= day.year <= last

    def is_workday(self, day: dt.date) -> bool:
        if self.is_official(day) and day.year not in self.file_years:
            return _official_workday(day)
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_workdays(self, start: dt.date, days: int) -> dt.date:
        """The `days`-th working day after `start` (start itself not counted)."""
        if days < 1:
            raise ValueError("days must be at least 1")
        known = self._after.get((start, days))
        if known is not None:
            return known
        day, counted = start, 0
        while counted < days:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        if len(self._after) >= 4096:
            self._after.clear()
        self._after[(start, days)] = day
        return day


@dataclass(frozen=True)
class Deadline:
    deadline_class: DeadlineClass
    due_at: dt.datetime
    explanation: str

    def as_dict(self) -> dict[str, str]:
        return {"class": self.deadline_class, "due_at": self.due_at.isoformat(), "explanation": self.explanation}


_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")
"""A back-reference or conditional group in a pattern: its meaning changes when the pattern joins an alternation."""
_LABELS = {"emergency": "应急类", "simple": "简单类", "help": "求助类", "standard": "一般类"}


class DeadlinePolicy:
    """Class of a matter (urgency rules, then its category) and its due time."""

    def __init__(
        self,
        rules: DeadlineRules | None = None,
        urgent_patterns: list[str] | None = None,
        calendar: WorkingCalendar | None = None,
        timing: Timing | None = None,
    ) -> None:
        """`timing`: words that put a danger in the past or make it hypothetical (the rules' `timing`); with None,
        the project's rules' own when the urgency patterns are theirs too."""
        loaded = default_rules() if rules is None or urgent_patterns is None else None
        self.rules = rules or loaded.deadlines  # type: ignore[union-attr]
        patterns = urgent_patterns if urgent_patterns is not None else loaded.urgent.patterns  # type: ignore[union-attr]
        self._urgent = alternation(patterns) if patterns else None
        # the patterns one by one say quickly that none matches (most calls): Python's regex engine skips ahead
        # on each pattern's first characters but not on an alternation of them, which tries every branch at every
        # position. A pattern that refers to a group by number or name keeps the alternation alone: no shortcut.
        separate = patterns is not None and not any(_BACKREFERENCE.search(p) for p in patterns)
        self._urgent_parts = [FastPattern(compiled(p)) for p in patterns] if separate and patterns else None
        self.calendar = calendar or default_calendar()
        self._timing = TimeCues(timing if timing is not None else loaded.timing if loaded is not None else None, past=False)

    def urgent_evidence(self, text: str) -> str | None:
        """The words that make a matter urgent (danger to people or property now), if any."""
        if self._urgent is None:
            return None
        if self._urgent_parts is not None and not any(p.search(text) for p in self._urgent_parts):
            return None  # the alternation matches where one of its patterns does
        for match in self._urgent.finditer(text):
            if not self._timing.not_now(text, match.start(), match.end()):
                return match.group(0)
        return None  # nothing, or only dangers of the past or of a hypothetical (去年淹了, 万一倒了)

    def classify(self, text: str, category: str, *, emergency: bool = False) -> DeadlineClass:
        """`emergency`: the call was redirected to 110/119/120/122, which always makes it 应急类 (24 hours)."""
        if emergency or self.urgent_evidence(text):
            return "emergency"
        if category == "咨询":
            return "simple"
        if category == "求助":
            return "help"
        return "standard"

    def due(self, deadline_class: DeadlineClass, created_at: dt.datetime | None = None) -> Deadline:
        """When the unit must have answered. Working-day deadlines end at 23:59:59 of their last day."""
        created = (created_at or dt.datetime.now(TZ)).astimezone(TZ)
        if deadline_class == "emergency":
            hours = self.rules.emergency_hours
            return Deadline(deadline_class, created + dt.timedelta(hours=hours), f"{_LABELS[deadline_class]}：{hours}小时内办理")
        days = {"simple": self.rules.simple_days, "help": self.rules.help_days, "standard": self.rules.standard_days}[
            deadline_class
        ]
        last_day = self.calendar.add_workdays(created.date(), days)
        due_at = dt.datetime.combine(last_day, dt.time(23, 59, 59), tzinfo=TZ)
        explanation = f"{_LABELS[deadline_class]}：{days}个工作日内办结"
        span = {created.year + k for k in range(last_day.year - created.year + 1)}
        beyond = sorted(y for y in span if not self.calendar.is_official(dt.date(y, 1, 1)))
        if beyond:
            provisional = [y for y in beyond if y in self.calendar.provisional_years or y not in self.calendar.file_years]
            years = "、".join(str(y) for y in beyond)
            if provisional:
                explanation += f"（{years}年官方节假日安排尚未收录，按周末及暂定节假日计算，请以正式公布为准）"
            else:
                explanation += f"（{years}年按管理员维护的节假日文件计算）"
        return Deadline(deadline_class, due_at, explanation)


@lru_cache(maxsize=1)
def _official_range() -> tuple[int, int]:
    years = sorted({d.year for d in chinese_calendar.constants.holidays})
    return years[0], years[-1]


@lru_cache(maxsize=4096)
def _official_workday(day: dt.date) -> bool:
    return bool(chinese_calendar.is_workday(day))


@lru_cache(maxsize=4)
def default_calendar(path: str = str(HOLIDAYS_FILE)) -> WorkingCalendar:
    return WorkingCalendar(path)
