"""Places and 属地: find the places a caller names and decide which district the problem is in.

The gazetteer (data/places.yaml) lists 长沙's districts with their streets, towns, roads, landmarks
and estates. A caller often says where they live as well as where the problem is; mentions inside a
"我住在…" clause count for little, so the district is the problem's, not the caller's.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from triage.datafile import read_yaml, validated
from triage.errors import DataFileError
from triage.labels import DISTRICTS
from triage.resources import PLACES_FILE

PlaceKind = Literal["district", "street", "town", "road", "landmark", "estate", "ambiguous"]

KIND_WEIGHT: dict[str, float] = {
    "district": 3.0,
    "street": 2.5,
    "town": 2.5,
    "estate": 2.0,
    "landmark": 2.0,
    "road": 1.5,
    "ambiguous": 0.0,
}
RESIDENCE_WEIGHT = 0.15
"""How much a place in a "我住在…" clause counts against one where the problem is."""
_RESIDENCE_CUE = re.compile(r"(我|我们|我家|本人)(家)?(是)?(住在|住|家在|住的是|户口在|是住在)|我是[^,。!?，]{0,10}的(居民|业主|住户)")
_CLAUSE_END = re.compile(r"[,。!?;，；！？]|但是|可是|不过|反映|投诉|举报")


class _DistrictEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    aliases: list[str] = Field(default_factory=list)
    streets: list[str] = Field(default_factory=list)
    towns: list[str] = Field(default_factory=list)
    roads: list[str] = Field(default_factory=list)
    landmarks: list[str] = Field(default_factory=list)
    estates: list[str] = Field(default_factory=list)


class _AmbiguousEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    districts: list[str] = Field(min_length=2)


class _GazetteerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    districts: list[_DistrictEntry]
    ambiguous: list[_AmbiguousEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class Place:
    name: str
    kind: PlaceKind
    districts: tuple[str, ...]


@dataclass(frozen=True)
class PlaceMatch:
    place: Place
    start: int
    end: int
    residence: bool


@dataclass(frozen=True)
class Location:
    """Where the problem is: the district (or None) and the places that decided it."""

    district: str | None
    evidence: tuple[PlaceMatch, ...] = field(default_factory=tuple)
    candidates: tuple[str, ...] = ()

    @property
    def places(self) -> list[str]:
        return [m.place.name for m in self.evidence]


class Gazetteer:
    """Place names to districts, with a longest-match scanner."""

    def __init__(self, places: list[Place], source: str = "<memory>") -> None:
        self.source = source
        self._places: dict[str, Place] = {}
        for place in places:
            if len(place.name) < 2:
                raise DataFileError(source, "place names need at least two characters", entry=place.name)
            existing = self._places.get(place.name)
            if existing is not None and existing.districts != place.districts:
                raise DataFileError(
                    source,
                    f"listed under {existing.districts[0]} and {place.districts[0]}; move it to `ambiguous`",
                    entry=place.name,
                )
            self._places[place.name] = place
        # the lengths of the names that start with each two characters, longest first: the scanner tries
        # only those at a position instead of every length of every name
        lengths: dict[str, set[int]] = defaultdict(set)
        for name in self._places:
            lengths[name[:2]].add(len(name))
        self._lengths = {start: sorted(ls, reverse=True) for start, ls in lengths.items()}
        self._first = re.compile("[" + "".join(sorted({re.escape(n[0]) for n in self._places})) + "]")

    def names(self) -> list[str]:
        return list(self._places)

    def __len__(self) -> int:
        return len(self._places)

    def district_of(self, name: str) -> str | None:
        place = self._places.get(name)
        return place.districts[0] if place and len(place.districts) == 1 else None

    def find(self, text: str) -> list[PlaceMatch]:
        """Every place named in `text`, longest match first, left to right."""
        residence_spans = _residence_spans(text)
        matches: list[PlaceMatch] = []
        n, after = len(text), 0  # `after`: the end of the last match; matches do not overlap
        for first in self._first.finditer(text):
            i = first.start()
            lengths = self._lengths.get(text[i : i + 2]) if i >= after else None
            if lengths is None:
                continue
            for length in lengths:
                place = self._places.get(text[i : i + length]) if i + length <= n else None
                if place is not None:
                    residence = any(s <= i < e for s, e in residence_spans)
                    matches.append(PlaceMatch(place, i, i + length, residence))
                    after = i + length
                    break
        return matches

    def locate(self, text: str) -> Location:
        """The district the problem is in, or None when no (unambiguous) place is said."""
        matches = self.find(text)
        votes: dict[str, float] = defaultdict(float)
        for match in matches:
            if len(match.place.districts) != 1:
                continue
            weight = KIND_WEIGHT[match.place.kind] * (RESIDENCE_WEIGHT if match.residence else 1.0)
            votes[match.place.districts[0]] += weight
        candidates = tuple(sorted({d for m in matches for d in m.place.districts}))
        if not votes:
            return Location(None, tuple(matches), candidates)
        # ambiguous names break ties between the districts they span
        for match in matches:
            if len(match.place.districts) > 1:
                for district in match.place.districts:
                    if district in votes:
                        votes[district] += 0.1
        district = max(votes, key=lambda d: votes[d])
        evidence = tuple(m for m in matches if district in m.place.districts)
        return Location(district, evidence, candidates)


def _residence_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for cue in _RESIDENCE_CUE.finditer(text):
        end_match = _CLAUSE_END.search(text, cue.end())
        spans.append((cue.start(), end_match.start() if end_match else len(text)))
    return spans


_KINDS = (("streets", "street"), ("towns", "town"), ("roads", "road"), ("landmarks", "landmark"), ("estates", "estate"))


def _describe(raw: Any, loc: tuple[Any, ...]) -> str:
    try:
        return f"{raw[loc[0]][loc[1]]['name']} ({'.'.join(str(p) for p in loc[2:])})"
    except (KeyError, IndexError, TypeError):
        return ".".join(str(p) for p in loc)


def load_gazetteer(path: str | Path = PLACES_FILE) -> Gazetteer:
    """Read and check a gazetteer: unknown districts, duplicates and malformed entries are refused."""
    parsed = validated(_GazetteerFile, read_yaml(path), path, describe=_describe)
    places: list[Place] = []
    seen: dict[str, str] = {}
    for entry in parsed.districts:
        if entry.name not in DISTRICTS:
            raise DataFileError(path, f"unknown district; expected one of {', '.join(DISTRICTS)}", entry=entry.name)
        if entry.name in seen:
            raise DataFileError(path, "district listed twice", entry=entry.name)
        seen[entry.name] = entry.name
        places.append(Place(entry.name, "district", (entry.name,)))
        places.extend(Place(alias, "district", (entry.name,)) for alias in entry.aliases)
        for attribute, kind in _KINDS:
            for name in getattr(entry, attribute):
                name = name.strip()
                if name in seen and seen[name] != entry.name:
                    raise DataFileError(
                        path, f"listed under both {seen[name]} and {entry.name}; move it to `ambiguous`", entry=name
                    )
                seen[name] = entry.name
                places.append(Place(name, kind, (entry.name,)))  # type: ignore[arg-type]
    for amb in parsed.ambiguous:
        unknown = [d for d in amb.districts if d not in DISTRICTS]
        if unknown:
            raise DataFileError(path, f"unknown district {unknown[0]!r}", entry=amb.name)
        if amb.name in seen:
            raise DataFileError(path, f"also listed under {seen[amb.name]}", entry=amb.name)
        places.append(Place(amb.name, "ambiguous", tuple(amb.districts)))
    return Gazetteer(places, source=str(path))


@lru_cache(maxsize=4)
def default_gazetteer(path: str = str(PLACES_FILE)) -> Gazetteer:
    """The gazetteer of the project's data folder, loaded once per process."""
    return load_gazetteer(path)
