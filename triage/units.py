"""The member-unit catalogue (成员单位 and their 权责清单), loaded from data/units.yaml with a schema check."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triage.datafile import read_yaml, validated
from triage.errors import DataFileError
from triage.labels import DISTRICTS, TOPICS
from triage.resources import UNITS_FILE

UnitKind = Literal["district", "zone", "department", "enterprise"]
LOCAL = "属地"
"""A unit label meaning "the district or zone government where the problem is" (属地原则), when no place names it."""


class Unit(BaseModel):
    """One member unit: who it is, what it is called, and what it is responsible for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=2)
    aliases: tuple[str, ...] = ()
    kind: UnitKind
    topics: tuple[str, ...] = Field(min_length=1)
    duties: tuple[str, ...] = Field(min_length=1)
    phone: str | None = None

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topic {unknown[0]!r}; expected one of {', '.join(TOPICS)}")
        return value

    @field_validator("duties", "aliases")
    @classmethod
    def _no_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not str(v).strip() for v in value):
            raise ValueError("blank phrase")
        return tuple(str(v).strip() for v in value)

    @property
    def is_local(self) -> bool:
        """Districts and zones take matters by place (属地原则)."""
        return self.kind in ("district", "zone")


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    units: list[Unit] = Field(min_length=1)


def _describe(raw: Any, loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "units" and isinstance(loc[1], int):
        try:
            name = raw["units"][loc[1]].get("name", f"#{loc[1] + 1}")
        except (KeyError, IndexError, TypeError, AttributeError):
            name = f"#{loc[1] + 1}"
        rest = ".".join(str(p) for p in loc[2:])
        return f"{name}" + (f" ({rest})" if rest else "")
    return ".".join(str(p) for p in loc)


class Catalogue:
    """The units by name, with alias resolution. Immutable after load."""

    def __init__(self, units: list[Unit], source: str = "<memory>") -> None:
        self.source = source
        self._units: dict[str, Unit] = {}
        self._names_by_alias: dict[str, str] = {}
        for unit in units:
            if unit.name in self._units:
                raise DataFileError(source, "duplicate unit", entry=unit.name)
            self._units[unit.name] = unit
        for unit in units:
            for alias in unit.aliases:
                owner = self._names_by_alias.get(alias)
                if (alias in self._units and alias != unit.name) or owner not in (None, unit.name):
                    raise DataFileError(source, f"alias {alias!r} names two units", entry=unit.name)
                self._names_by_alias[alias] = unit.name

    def __len__(self) -> int:
        return len(self._units)

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._units.values())

    def __contains__(self, name: object) -> bool:
        return name in self._units

    @property
    def names(self) -> list[str]:
        return list(self._units)

    def get(self, name: str) -> Unit:
        """A unit by its name or one of its aliases; KeyError names the unknown unit."""
        canonical = self.resolve(name)
        if canonical is None:
            raise KeyError(f"unknown unit {name!r}")
        return self._units[canonical]

    def resolve(self, name: str) -> str | None:
        """The catalogue name for a name or alias, or None."""
        name = name.strip()
        if name in self._units:
            return name
        return self._names_by_alias.get(name)

    def is_local(self, name: str) -> bool:
        """`属地`, or a district or zone: the names a local (属地) matter may be labelled with."""
        if name == LOCAL:
            return True
        canonical = self.resolve(name)
        return canonical is not None and self._units[canonical].is_local

    def vocabulary(self) -> set[str]:
        """Names, aliases and duty phrases: words the segmenter should keep whole."""
        words: set[str] = set()
        for unit in self:
            words.add(unit.name)
            words.update(unit.aliases)
            words.update(d for d in unit.duties if len(d) <= 8)
        return words


def load_catalogue(path: str | Path = UNITS_FILE) -> Catalogue:
    """Read and check a catalogue file: duplicates, unknown topics and malformed entries are refused."""
    parsed = validated(_CatalogueFile, read_yaml(path), path, describe=_describe)
    return Catalogue(parsed.units, source=str(path))


@lru_cache(maxsize=4)
def default_catalogue(path: str = str(UNITS_FILE)) -> Catalogue:
    """The catalogue of the project's data folder, loaded once per process."""
    return load_catalogue(path)


def canonical_district(name: str, catalogue: Catalogue | None = None) -> str | None:
    """The district label (`triage.labels.DISTRICTS`) a name stands for, or None: the label itself, or a name or
    alias of the catalogue's unit of that label, so a former name is read as today's (宁乡县 → 宁乡市). Labels
    files and the gazetteer read district names through this; `catalogue` defaults to the project's."""
    name = name.strip()
    if name in DISTRICTS:
        return name
    resolved = (catalogue if catalogue is not None else default_catalogue()).resolve(name)
    return resolved if resolved in DISTRICTS else None
