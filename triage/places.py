"""Places and 属地: find the places a caller names and decide which district the problem is in.

The gazetteer (data/places.yaml) lists 长沙's districts with their streets, towns, communities, villages,
roads, landmarks, offices and estates. A caller often says where they live as well as where the problem is;
mentions inside a "我住在…" clause count for little, and so do the district they say they come from (我是雨花区的),
the place they work (我是在五一广场那边上班的) and where a trip goes (到浏阳的城际大巴): the district is the
problem's, not the caller's. A place taken back at once (经开区……不是,在宁乡经开区) counts for nothing.

Transcripts come from speech recognition or fast typing, so a place may arrive as it sounded (五家岭 for
伍家岭). Every name is also indexed by its pinyin (pypinyin), and when no place is found as written, a span
that sounds like a name (tones ignored, at most one syllable with a near initial or final: l/n, z/zh, c/ch,
s/sh, an/ang, en/eng, in/ing, f/h) is taken for it, but only where the span ends in a place suffix
(镇, 街道, 路, 岭, 塘 …) or stands in a place frame (在X, X那边, X这边, 我是X的); a name of four characters or
more written with one character of the same syllable needs neither (烈士公远), one of three needs a pause or a
frame on both sides (东风录上), and a character heard that makes a word with the next (长沙现在) is no place.
A match by sound carries less confidence, says so in `Location.why`, never overrides a district the caller
names, and an exact match always wins over one by sound.

A wrong district is worse than none: when another district has places nearly as strong as the winner's
(`MARGIN`), whether written or heard by sound beside places written, the call gets no district.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from triage import regex_cache
from triage.cache import cached, fingerprint
from triage.datafile import read_yaml, validated
from triage.errors import DataFileError
from triage.labels import DISTRICTS
from triage.resources import PLACES_FILE
from triage.units import canonical_district, default_catalogue

PlaceKind = Literal["district", "street", "town", "community", "village", "road", "landmark", "estate", "ambiguous"]

KIND_WEIGHT: dict[str, float] = {
    "district": 3.0,
    "street": 2.5,
    "town": 2.5,
    "community": 2.0,
    "village": 2.0,
    "estate": 2.0,
    "landmark": 2.0,
    "road": 1.5,
    "ambiguous": 0.0,
}
RESIDENCE_WEIGHT = 0.15
"""How much a place in a "我住在…" clause counts against one where the problem is."""
SOUND_CONFIDENCE = 0.6
"""`Location.confidence` of a district decided by places matched by sound only (1.0 when matched as written)."""
MARGIN = 0.75
"""A district is decided only when no other has places weighing this share of its own (a tie, a district named
against two landmarks elsewhere, a street against a landmark heard elsewhere): no district rather than a wrong one."""
_RESIDENCE_CUE = re.compile(
    r"(我|我们|我家|本人)(家)?(是)?(住在|住|家在|住的是|户口在|是住在)|我是[^,。!?，]{0,10}的(居民|业主|住户)"
)
_IDENTITY = re.compile(r"(我|我们|我家|我们家|本人)是$")
"""Before a district name followed by 的: the caller says where they come from (我是雨花区的)."""
_ASIDE_CUE = re.compile(
    r"(我|我们|本人)(是)?在[^,。!?，；]{1,14}?(上班|工作|打工)"
    r"|(?<![看想遇收找得听])(到|去|往)[^,。!?，；在从买坐]{1,8}?的?(城际|大巴|班车|车票|汽车票|高铁|火车|动车|长途|客车|航班|机票|飞机)"
)
"""Where the caller works and where a trip goes: they count as little as a residence."""
_CORRECTION = re.compile(r"[,，.。…、 ]*(不是|不对|说错了|讲错了)[,，.。…、!！ ]")
"""A place the caller takes back at once (经开区……不是,在宁乡经开区; 桔子州,不是,橘子洲大桥) counts for nothing."""
_CLAUSE_END = re.compile(r"[,。!?;，；！？]|但是|可是|不过|反映|投诉|举报")

SOUND_SUFFIXES = frozenset("县市镇乡道路街村区岭塘湖桥港坪冲湾铺洲垅坡山河园苑城寺阁亭场院校学站馆渡")
"""Last characters of a place name (镇, 乡, 街道, 大道, 路, 街, 村, 社区, 小区, 岭, 塘, 湖 …): a span heard as a
name counts when it ends in the same one."""
_SUFFIX_CHAR = re.compile("[" + "".join(re.escape(c) for c in sorted(SOUND_SUFFIXES)) + "]")
"""Where a span heard as a name may end in a place suffix."""
_FRAME_BEFORE = re.compile(r"在|住|我是|我们是|到|去|从")
"""A span right after these may be a place heard by sound (在X, 住在X, 我是X的, 到X, 从X)."""
_FRAME_AFTER = re.compile(r"那边|这边|那里|这里|那个|这个|那一|这一|那块|这块|附近|旁边|一带")
"""A span right before these may be a place heard by sound (X那边, X这边, X那一片, X附近)."""
READINGS = 2
"""How many of a character's readings count, commonest first."""
_PAUSES = "，,。.!?！？;；:：、 …"
_LEFT_EDGE = frozenset("在住是到去从们我" + _PAUSES)
"""What may stand right before a two-character name heard by sound: a pause, a frame (在, 住, 我们是 …) or a
place found as written (湘江新区洋胡那边)."""
_RIGHT_EDGE = frozenset("的一上下里开做有买住去来玩要在吵搞被读卖办打" + _PAUSES)
"""What may stand right after a span heard as a name whose end no suffix or frame fixes, besides the end of the
text or a frame (那边, 附近 …): a pause or the words that follow a place (的, 一个, 上班, 开了, 买的, 去了 …)."""
ORDINARY_FREQUENCY = 30
"""A two-character word jieba's dictionary counts this often is an ordinary word (开会, 大约, 普及), never a place
heard by sound (开慧, 大瑶, 普迹)."""
_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")
_NEAR_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("h", "f"))
_NEAR_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"))
_TONES = str.maketrans(
    {
        **dict.fromkeys("āáǎà", "a"),
        **dict.fromkeys("ēéěèê", "e"),
        **dict.fromkeys("īíǐì", "i"),
        **dict.fromkeys("ōóǒò", "o"),
        **dict.fromkeys("ūúǔù", "u"),
        **dict.fromkeys("üǖǘǚǜ", "v"),
        **dict.fromkeys("ńňǹ", "n"),
        **dict.fromkeys("ḿ", "m"),
    }
)
_END = ""
"""The key under which a trie node keeps the names that end there."""


class _DistrictEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    source: str = ""
    aliases: list[str] = Field(default_factory=list)
    former: list[str] = Field(default_factory=list)
    streets: list[str] = Field(default_factory=list)
    towns: list[str] = Field(default_factory=list)
    communities: list[str] = Field(default_factory=list)
    villages: list[str] = Field(default_factory=list)
    roads: list[str] = Field(default_factory=list)
    landmarks: list[str] = Field(default_factory=list)
    schools: list[str] = Field(default_factory=list)
    hospitals: list[str] = Field(default_factory=list)
    markets: list[str] = Field(default_factory=list)
    stations: list[str] = Field(default_factory=list)
    offices: list[str] = Field(default_factory=list)
    estates: list[str] = Field(default_factory=list)


class _AmbiguousEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    districts: list[str] = Field(min_length=2)
    source: str = ""


class _GazetteerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    sources: dict[str, str] = Field(default_factory=dict)
    districts: list[_DistrictEntry]
    ambiguous: list[_AmbiguousEntry] = Field(default_factory=list)
    not_places: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Place:
    name: str
    kind: PlaceKind
    districts: tuple[str, ...]
    source: str = ""
    """Where the name came from: a key of the file's `sources` (empty when the file says nothing)."""


@dataclass(frozen=True)
class PlaceMatch:
    place: Place
    start: int
    end: int
    residence: bool
    heard: str | None = None
    """The transcript's own characters when the place was matched by sound (五家岭 for 伍家岭); None when exact."""

    @property
    def by_sound(self) -> bool:
        return self.heard is not None


@dataclass(frozen=True)
class Location:
    """Where the problem is: the district (or None) and the places that decided it."""

    district: str | None
    evidence: tuple[PlaceMatch, ...] = field(default_factory=tuple)
    candidates: tuple[str, ...] = ()
    confidence: float = 1.0
    """1.0 when places named as written decided the district, `SOUND_CONFIDENCE` when only places heard by
    sound did, 0.0 when no district is decided."""

    @property
    def places(self) -> list[str]:
        return [m.place.name for m in self.evidence]

    @property
    def why(self) -> list[str]:
        """How the places were recognised, where that is worth saying: `按读音匹配：伍家岭（原文“五家岭”）`."""
        return [f"按读音匹配：{m.place.name}（原文“{m.heard}”）" for m in self.evidence if m.heard is not None]


def pypinyin_version() -> str:
    """pypinyin's version, for the cache keys of what its readings built."""
    from importlib.metadata import version

    return f"pypinyin {version('pypinyin')}"


@lru_cache(maxsize=1)
def _readings() -> dict[int, str]:
    """pypinyin's readings of every character, kept in the disk cache: importing pypinyin costs 0.2 s a process."""

    def build() -> dict[int, str]:
        from pypinyin.pinyin_dict import pinyin_dict

        return dict(pinyin_dict)

    return cached("pinyin-readings", fingerprint(pypinyin_version(), Path(__file__)), build, _is_readings)


def _is_readings(value: object) -> bool:
    return isinstance(value, dict) and len(value) > 20000 and isinstance(value.get(ord("长")), str)


@lru_cache(maxsize=65536)
def toned_readings(char: str) -> tuple[str, ...]:
    """A character's usual readings with their tones (长: zhǎng, cháng), the commonest first and at most `READINGS`,
    as `_char_syllables` takes them; empty for a character pypinyin does not read."""
    readings = _readings().get(ord(char))
    return tuple(readings.split(",")[:READINGS]) if readings else ()


@lru_cache(maxsize=65536)
def _char_syllables(char: str) -> frozenset[str]:
    """The usual readings of one character without tones (长: zhang, chang): pypinyin lists the commonest first,
    and only the first two are taken, so a rare reading (接 shà) makes no match; empty for one without any."""
    readings = _readings().get(ord(char))
    if not readings:
        return frozenset()
    return frozenset(r.translate(_TONES) for r in readings.split(",")[:READINGS])


@lru_cache(maxsize=65536)
def near(syllable: str) -> str:
    """A syllable with its near initial and final folded (zhan → zan, ling → lin, hu → fu, nan → lan)."""
    for long, short in _NEAR_INITIALS:
        if syllable.startswith(long) and len(syllable) > len(long):
            syllable = short + syllable[len(long) :]
            break
    for long, short in _NEAR_FINALS:
        if syllable.endswith(long):
            return syllable[: -len(long)] + short
    return syllable


@lru_cache(maxsize=65536)
def _char_near(char: str) -> tuple[str, ...]:
    return tuple(sorted({near(s) for s in _char_syllables(char)}))


def _name_syllables(names: list[str]) -> dict[str, tuple[str, ...]]:
    """Each name's toneless pinyin as pypinyin reads the whole name (长沙 chang sha, 银行 yin hang); kept in the
    disk cache under the names, pypinyin's version and this code."""

    def build() -> dict[str, list[str]]:
        from pypinyin import Style, lazy_pinyin

        return {name: lazy_pinyin(name, style=Style.NORMAL, v_to_u=False) for name in names}

    def valid(value: object) -> bool:
        return isinstance(value, dict) and len(value) == len(set(names)) and all(isinstance(v, list) for v in value.values())

    read = cached("place-syllables", fingerprint(pypinyin_version(), Path(__file__), names), build, valid)
    return {name: tuple(syllables) for name, syllables in read.items()}


@dataclass(frozen=True)
class _SoundName:
    place: Place
    syllables: tuple[str, ...]


@dataclass(frozen=True)
class _SoundIndex:
    backward: dict[str, Any]
    """A trie of the names' folded syllables, last first: spans are read back from a suffix or a frame after."""
    forward: dict[str, Any]
    """The same, first first: spans are read on from a frame before."""
    anchors: dict[str, list[_Anchor]]
    """Names of three characters or more by their first two characters and (unless they end in a place suffix)
    their last two, with the offset of the pair in the name."""
    gapped: dict[str, list[tuple[str, _SoundName]]]
    """Three-character names that end in no place suffix by their first character, with their last."""
    pairs: re.Pattern[str] | None = None
    """Where a key of `anchors` may begin (a character that begins one before one that ends one): a text is read
    for them in one regex pass."""
    gaps: re.Pattern[str] | None = None
    """The keys of `gapped`, likewise."""


class _Anchor(NamedTuple):
    """A name found from two of its characters: where they stand in it, and the quick test of a span there (one
    character differs at most, so of the two other characters at `a` and `b` of a name anchored at one end, the
    one at `a` or the one at `b` is as written)."""

    offset: int
    length: int
    a: int
    at_a: str
    b: int
    at_b: str
    sound: _SoundName


class Gazetteer:
    """Place names to districts, with a longest-match scanner and an index of the names' pinyin."""

    def __init__(
        self, places: list[Place], source: str = "<memory>", not_places: list[str] | tuple[str, ...] = ()
    ) -> None:
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
        # look-alikes: ordinary words that hold a place name (芙蓉王, 小区南门口); the scanner takes them like a
        # name, so the place inside is not found, and nothing is heard by sound over them either
        self._not_places = frozenset(not_places) - self._places.keys()
        scanned: dict[str, Place | None] = dict.fromkeys(self._not_places)
        scanned.update(self._places)
        self._scanned = scanned
        # the lengths of the names that start with each two characters, longest first: the scanner tries
        # only those at a position instead of every length of every name
        lengths: dict[str, set[int]] = defaultdict(set)
        for name in scanned:
            lengths[name[:2]].add(len(name))
        self._lengths = {start: sorted(ls, reverse=True) for start, ls in lengths.items()}
        if scanned and all(len(start) == 2 for start in self._lengths):
            # where a name may start: a first character of one before a second character of one (a quarter of the
            # places the first characters alone give)
            firsts, seconds = _char_class({s[0] for s in self._lengths}), _char_class({s[1] for s in self._lengths})
            self._first: re.Pattern[str] | None = regex_cache.compiled(f"{firsts}(?={seconds})")
        else:  # a one-character look-alike: its first character alone
            self._first = regex_cache.compiled("[" + "".join(sorted({re.escape(n[0]) for n in scanned})) + "]") if scanned else None
        self._tries: _SoundIndex | None = None
        self._any_heard = any(len(p.districts) == 1 and _HAN.match(p.name) for p in self._places.values())
        """The sound index, built on the first call that needs it: a gazetteer loaded only for its names (the
        segmenter's) never pays for pypinyin, and a process that never meets a misheard name neither."""

    def _sound(self) -> _SoundIndex:
        if self._tries is None:
            self._tries = self._build_sound_index()  # built twice at worst by two threads, the same both times
            regex_cache.flush()
        return self._tries

    def _build_sound_index(self) -> _SoundIndex:
        """Two tries of the names' folded syllables, read backwards from a span's end and forwards from its start;
        and the names of three characters or more by two of their characters (see `_SoundIndex.anchors`)."""
        heard = [p for p in self._places.values() if len(p.districts) == 1 and _HAN.match(p.name)]
        syllables = _name_syllables([p.name for p in heard]) if heard else {}
        backward: dict[str, Any] = {}
        forward: dict[str, Any] = {}
        anchors: dict[str, list[_Anchor]] = defaultdict(list)
        gapped: dict[str, list[tuple[str, _SoundName]]] = defaultdict(list)
        for place in heard:
            sound = _SoundName(place, syllables[place.name])
            if len(sound.syllables) != len(place.name):
                continue
            folded = [near(s) for s in sound.syllables]
            for trie, keys in ((backward, reversed(folded)), (forward, folded)):
                node = trie
                for key in keys:
                    node = node.setdefault(key, {})
                node.setdefault(_END, []).append(sound)
            name = place.name
            if len(name) >= 3:
                # one character written otherwise leaves the first two or the last two as written, or else (the
                # middle one of three) the first and the last; a name whose last character is a place suffix,
                # when that is as written, is found from the suffix already
                n = len(name)
                anchors[name[:2]].append(_Anchor(0, n, n - 1, name[-1], n - 2, name[-2], sound))
                if name[-1] not in SOUND_SUFFIXES:
                    anchors[name[-2:]].append(_Anchor(n - 2, n, 0, name[0], 1, name[1], sound))
                    if len(name) == 3:
                        gapped[name[0]].append((name[2], sound))
        if heard:
            _ordinary_words()  # read once here rather than on the first call that needs it
        pairs = pair_finder(anchors)
        gaps = regex_cache.compiled(_char_class(gapped)) if gapped else None
        return _SoundIndex(backward, forward, dict(anchors), dict(gapped), pairs, gaps)

    def names(self) -> list[str]:
        return list(self._places)

    def __len__(self) -> int:
        return len(self._places)

    def place(self, name: str) -> Place | None:
        return self._places.get(name)

    def district_of(self, name: str) -> str | None:
        place = self._places.get(name)
        return place.districts[0] if place and len(place.districts) == 1 else None

    def _scan(self, text: str) -> list[tuple[int, int, Place | None]]:
        """Names and look-alikes as written, longest first, left to right, without overlaps."""
        found: list[tuple[int, int, Place | None]] = []
        if self._first is None:
            return found
        n, after = len(text), 0  # `after`: the end of the last match; matches do not overlap
        for first in self._first.finditer(text):
            i = first.start()
            lengths = self._lengths.get(text[i : i + 2]) if i >= after else None
            if lengths is None:
                continue
            for length in lengths:
                if i + length <= n and (name := text[i : i + length]) in self._scanned:
                    found.append((i, i + length, self._scanned[name]))
                    after = i + length
                    break
        return found

    def find(self, text: str) -> list[PlaceMatch]:
        """Every place named in `text` as written, longest match first, left to right."""
        scanned = self._scan(text)
        residence_spans = _residence_spans(text, scanned)
        return [
            PlaceMatch(place, start, end, _inside(start, residence_spans))
            for start, end, place in scanned
            if place is not None
        ]

    def find_by_sound(self, text: str) -> list[PlaceMatch]:
        """Places heard by sound: spans that end in a place suffix or stand in a place frame and sound like a
        name without being written as it, outside the places and look-alikes found as written."""
        scanned = self._scan(text)
        return [m for m, _ in self._heard(text, scanned) if not any(m.start < e and s < m.end for s, e, _ in scanned)]

    def _heard(
        self, text: str, scanned: list[tuple[int, int, Place | None]], residence_spans: list[tuple[int, int]] | None = None
    ) -> list[tuple[PlaceMatch, int]]:
        """Every span heard as a name, with its count of near syllables; overlapping spans resolved longest first.
        A two-character name is heard only as a word of its own: between edges (a pause, a frame, a place found
        as written, an ordinary word before it), written with one of its characters and no near syllable, and
        not an ordinary word. `residence_spans`: `_residence_spans(text, scanned)`, when the caller has it."""
        candidates: list[tuple[int, int, _SoundName, int]] = []
        for suffix in _SUFFIX_CHAR.finditer(text):
            self._heard_backward(text, suffix.end(), candidates, suffix=True)
        for frame in _FRAME_AFTER.finditer(text):
            self._heard_backward(text, frame.start(), candidates, suffix=False)
        for frame in _FRAME_BEFORE.finditer(text):
            self._heard_forward(text, frame.end(), candidates)
        self._heard_anywhere(text, scanned, candidates)
        if any(len(c[2].place.name) == 2 for c in candidates):
            ends = {e for _, e, _ in scanned}
            candidates = [c for c in candidates if len(c[2].place.name) > 2 or _a_word(text, c[0], c[1], c[3], ends)]
        if not candidates:
            return []
        if residence_spans is None:
            residence_spans = _residence_spans(text, scanned)
        matches: list[tuple[PlaceMatch, int]] = []
        occupied: list[tuple[int, int]] = []
        # the longest span first, then the one nearest the name's sound, then the first
        for start, end, sound, fuzz in sorted(candidates, key=lambda c: (c[0] - c[1], c[3], c[0])):
            if any(start < e and s < end for s, e in occupied):
                continue
            occupied.append((start, end))
            rivals = {c[2].place.districts for c in candidates if c[0] == start and c[1] == end and c[3] == fuzz}
            if len(rivals) > 1:
                continue  # the same sound names places in two districts: neither
            match = PlaceMatch(sound.place, start, end, _inside(start, residence_spans), text[start:end])
            matches.append((match, fuzz))
        return sorted(matches, key=lambda m: m[0].start)

    def _heard_backward(
        self, text: str, end: int, out: list[tuple[int, int, _SoundName, int]], *, suffix: bool
    ) -> None:
        frontier = [(self._sound().backward, end)]
        while frontier:
            node, i = frontier.pop()
            if i == 0:
                continue
            for key in _char_near(text[i - 1]):
                child = node.get(key)
                if child is None:
                    continue
                for sound in child.get(_END, ()):
                    if not suffix or sound.place.name[-1] == text[end - 1]:
                        self._judge(text, i - 1, end, sound, out)
                frontier.append((child, i - 1))

    def _heard_forward(self, text: str, start: int, out: list[tuple[int, int, _SoundName, int]]) -> None:
        frontier = [(self._sound().forward, start)]
        n = len(text)
        while frontier:
            node, i = frontier.pop()
            if i >= n:
                continue
            for key in _char_near(text[i]):
                child = node.get(key)
                if child is None:
                    continue
                for sound in child.get(_END, ()):
                    # the span's end is free here: it must end as the name does, or at an edge (在王城坡，)
                    if sound.place.name[-1] == text[i] or _right_edge(text, i + 1):
                        self._judge(text, start, i + 1, sound, out)
                frontier.append((child, i + 1))

    def _heard_anywhere(
        self, text: str, scanned: list[tuple[int, int, Place | None]], out: list[tuple[int, int, _SoundName, int]]
    ) -> None:
        """Names of three characters or more written with one character of the same syllable (tones aside) and the
        rest as written, without a suffix or frame: 烈士公远 for 烈士公园 anywhere, a three-character one between
        edges only (东风录上 for 东风路, 就是太平届里面 for 太平街)."""
        index = self._sound()
        n = len(text)
        # the pairs of `anchors` the text holds, then where they stand, and the keys of `gapped`, each found in one
        # regex pass (building every pair of the text as a string cost more than the rest); hits come in text order
        hits: list[tuple[int, _SoundName]] = []
        if index.pairs is not None:
            anchors = index.anchors
            spots = []
            for key in set(index.pairs.findall(text)) & anchors.keys():
                i = text.find(key)
                while i >= 0:
                    spots.append(i)
                    i = text.find(key, i + 1)
            spots.sort()
            for i in spots:
                for offset, length, a, at_a, b, at_b, sound in anchors[text[i : i + 2]]:
                    start = i - offset
                    if start < 0 or start + length > n:
                        continue
                    # one character differs at most: a name anchored at its start keeps one of its last two
                    # characters, one anchored at its end one of its first two (a quick test before the full one)
                    if text[start + a] == at_a or text[start + b] == at_b:
                        hits.append((start, sound))
        if index.gaps is not None:
            gapped = index.gapped
            for first in index.gaps.finditer(text, 0, n - 2):
                i = first.start()
                # the last character as written: the quick test holds
                hits += [(i, sound) for last, sound in gapped[text[i]] if text[i + 2] == last]
        ends: set[int] | None = None
        for start, sound in hits:
            name = sound.place.name
            if text.startswith(name, start):
                continue  # as written: not heard by sound (`_one_homophone` wants one character written otherwise)
            if not _one_homophone(text, start, name, sound.syllables):
                continue
            end = start + len(name)
            if len(name) == 3:
                if ends is None:
                    ends = {e for _, e, _ in scanned}
                if not (_left_edge(text, start, ends) and _right_edge(text, end)):
                    continue
            out.append((start, end, sound, 0))

    @staticmethod
    def _judge(text: str, start: int, end: int, sound: _SoundName, out: list[tuple[int, int, _SoundName, int]]) -> None:
        """Keep a span that sounds like `sound`: every syllable the same but at most one near one, and at least
        one character as written (both characters but one of a two-character name, with no near syllable)."""
        span = text[start:end]
        name = sound.place.name
        if span == name:
            return
        fuzz = same = 0
        for char, wanted, syllable in zip(span, name, sound.syllables, strict=True):
            if char == wanted:
                same += 1
            elif syllable not in _char_syllables(char):
                fuzz += 1
        if fuzz > 1 or same == 0 or (len(name) == 2 and same != 1):
            return
        out.append((start, end, sound, fuzz))

    def locate(self, text: str) -> Location:
        """The district the problem is in, or None when no (unambiguous) place is said."""
        scanned = self._scan(text)
        residence_spans = _residence_spans(text, scanned)
        # a span heard by sound that holds places found as written inside it and sounds exactly like a longer
        # name takes their place (雨话经开区 is 雨花经开区, not 经开区), as a longer name wins when written;
        # one that crosses a place found as written, or a look-alike, is dropped: the written place wins
        longer: list[PlaceMatch] = []
        beside: list[PlaceMatch] = []
        replaced: set[int] = set()
        for match, fuzz in self._heard(text, scanned, residence_spans) if self._any_heard else ():
            inside = [k for k, (s, e, _) in enumerate(scanned) if s < match.end and match.start < e]
            if not inside:
                beside.append(match)
            elif fuzz == 0 and all(
                scanned[k][2] is not None
                and match.start <= scanned[k][0]
                and scanned[k][1] <= match.end
                and scanned[k][1] - scanned[k][0] < match.end - match.start
                for k in inside
            ):
                longer.append(match)
                replaced.update(inside)
        exact = [
            PlaceMatch(p, s, e, _inside(s, residence_spans))
            for k, (s, e, p) in enumerate(scanned)
            if p is not None and k not in replaced and not _CORRECTION.match(text, e)
        ]
        longer = [m for m in longer if not _CORRECTION.match(text, m.end)]
        beside = [m for m in beside if not _CORRECTION.match(text, m.end)]
        named = {m.place.districts[0] for m in exact if m.place.kind == "district" and not m.residence}
        heard = [m for m in longer if not named or m.place.districts[0] in named]
        # places heard by sound never count against a district the caller names
        beside = [m for m in beside if not named or m.place.districts[0] in named]
        written = any(len(m.place.districts) == 1 and not m.residence for m in exact + heard)
        if not written:
            heard += beside  # nothing as written decides it: places heard by sound may
        matches = sorted(exact + heard, key=lambda m: m.start)
        votes = _votes(matches)
        candidates = tuple(sorted({d for m in matches for d in m.place.districts}))
        if not votes:
            return Location(None, tuple(matches), candidates, 0.0)
        district = max(votes, key=lambda d: votes[d])
        # a wrong district is worse than none: when another district has places nearly as strong (`MARGIN`),
        # written or, beside places written, heard by sound, the call is unsure and gets none; a place heard
        # never wins over places written, but it may make them unsure (五家岭那边,桐梓坡路上)
        rivals = dict(votes)
        if written:
            for other, weight in _votes([m for m in beside if m.place.districts[0] != district]).items():
                rivals[other] = rivals.get(other, 0.0) + weight
        if any(weight >= MARGIN * votes[district] for other, weight in rivals.items() if other != district):
            return Location(None, tuple(matches), tuple(sorted({*candidates, *rivals})), 0.0)
        evidence = tuple(m for m in matches if district in m.place.districts)
        by_sound = all(m.by_sound for m in evidence if len(m.place.districts) == 1)
        return Location(district, evidence, candidates, SOUND_CONFIDENCE if by_sound else 1.0)


def _char_class(chars: Iterable[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


def pair_finder(pairs: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern whose `findall` gives, overlapping, every two characters of a text that may be one of `pairs`
    (two characters each): a character that begins one before one that ends one, to be looked up in `pairs`.
    Cheaper than every pair of the text made as a string in Python."""
    pairs = list(pairs)
    if not pairs:
        return None
    return regex_cache.compiled("(?=(" + _char_class({p[0] for p in pairs}) + _char_class({p[1] for p in pairs}) + "))")


def _votes(matches: list[PlaceMatch] | tuple[PlaceMatch, ...]) -> dict[str, float]:
    """Each district's weight of evidence: the places in it by kind, far less in a residence clause; names that
    span districts add a little to those of them already voted for, to break ties."""
    votes: dict[str, float] = defaultdict(float)
    for match in matches:
        if len(match.place.districts) == 1:
            weight = KIND_WEIGHT[match.place.kind] * (RESIDENCE_WEIGHT if match.residence else 1.0)
            votes[match.place.districts[0]] += weight
    for match in matches:
        if len(match.place.districts) > 1:
            for district in match.place.districts:
                if district in votes:
                    votes[district] += 0.1
    return dict(votes)


def _a_word(text: str, start: int, end: int, fuzz: int, ends: set[int]) -> bool:
    """Whether a span heard as a two-character name stands as a word of its own (see `Gazetteer._heard`)."""
    if fuzz or not _left_edge(text, start, ends):
        return False
    return _right_edge(text, end) and text[start:end] not in _ordinary_words()


def _left_edge(text: str, start: int, ends: set[int]) -> bool:
    """Whether a span starting at `start` follows the start of the text, a pause, a frame, a place found as
    written (`ends`) or an ordinary two-character word (举报榔粒那边, 靠近懂塘: the span starts a word)."""
    if start == 0 or text[start - 1] in _LEFT_EDGE or start in ends:
        return True
    return start >= 2 and text[start - 2 : start] in _ordinary_words()


def _one_homophone(text: str, start: int, name: str, syllables: tuple[str, ...]) -> bool:
    """Whether the span of `text` at `start` is `name` with exactly one character written as another of the same
    syllable (tones aside), and that character, at an end of the span, makes no word with the one beside it
    (长沙现在 is 现在, not 长沙县)."""
    differ = [k for k in range(len(name)) if text[start + k] != name[k]]
    if len(differ) != 1 or syllables[differ[0]] not in _char_syllables(text[start + differ[0]]):
        return False
    k, end = differ[0], start + len(name)
    if k == len(name) - 1 and end < len(text) and text[end - 1 : end + 1] in _ordinary_words():
        return False
    return not (k == 0 and start > 0 and text[start - 1 : start + 1] in _ordinary_words())


def _right_edge(text: str, end: int) -> bool:
    """Whether a span ending at `end` is followed by the end of the text, a pause, 的 or a frame (那边, 附近 …)."""
    return end >= len(text) or text[end] in _RIGHT_EDGE or _FRAME_AFTER.match(text, end) is not None


@lru_cache(maxsize=1)
def _ordinary_words() -> frozenset[str]:
    """Two-character words jieba's dictionary counts at least `ORDINARY_FREQUENCY` times (read once, then from the
    disk cache: scanning the dictionary costs 0.15 s a process)."""
    import jieba

    dictionary = Path(jieba.__file__).parent / "dict.txt"

    def build() -> list[str]:
        words = set()
        with dictionary.open(encoding="utf-8") as handle:
            for line in handle:
                if line[2:3] == " ":
                    word, frequency, _ = line.split(" ", 2)
                    if int(frequency) >= ORDINARY_FREQUENCY:
                        words.add(word)
        return sorted(words)

    key = fingerprint(f"ordinary words at {ORDINARY_FREQUENCY}", dictionary, Path(__file__))
    return frozenset(cached("ordinary-words", key, build, lambda v: isinstance(v, list) and all(isinstance(w, str) for w in v)))


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(s <= position < e for s, e in spans)


def _residence_spans(text: str, scanned: list[tuple[int, int, Place | None]] | tuple[()] = ()) -> list[tuple[int, int]]:
    """Where the text speaks of the caller's home, work or trip rather than of the problem: a residence clause
    (我住在…, to the clause's end), a district the caller says they come from (我是雨花区的), the place of their
    work (我是在五一广场那边上班的) and the destination of a trip (到浏阳的城际大巴)."""
    spans = [
        (s, e)
        for s, e, p in scanned
        if p is not None and p.kind == "district" and text.startswith("的", e) and _IDENTITY.search(text, 0, s)
    ]
    for cue in _RESIDENCE_CUE.finditer(text):
        end_match = _CLAUSE_END.search(text, cue.end())
        spans.append((cue.start(), end_match.start() if end_match else len(text)))
    spans += [m.span() for m in _ASIDE_CUE.finditer(text)]
    return spans


_KINDS: tuple[tuple[str, PlaceKind], ...] = (
    ("streets", "street"),
    ("towns", "town"),
    ("communities", "community"),
    ("villages", "village"),
    ("roads", "road"),
    ("landmarks", "landmark"),
    ("schools", "landmark"),
    ("hospitals", "landmark"),
    ("markets", "landmark"),
    ("stations", "landmark"),
    ("offices", "landmark"),
    ("estates", "estate"),
)
"""The file's lists and the kind of place each holds; schools, hospitals, markets, stations and offices are
landmarks."""


def _describe(raw: Any, loc: tuple[Any, ...]) -> str:
    try:
        return f"{raw[loc[0]][loc[1]]['name']} ({'.'.join(str(p) for p in loc[2:])})"
    except (KeyError, IndexError, TypeError):
        return ".".join(str(p) for p in loc)


def _label(name: str) -> str | None:
    """The district label a file's district name stands for, read through the unit catalogue's aliases (宁乡县,
    its name until 2017, → 宁乡市), or None when it is none."""
    return canonical_district(name)


def _unit_names(district: str) -> tuple[str, ...]:
    """The catalogue's names of a district's unit: its aliases, a former name among them (宁乡县)."""
    catalogue = default_catalogue()
    return catalogue.get(district).aliases if district in catalogue else ()


def load_gazetteer(path: str | Path = PLACES_FILE) -> Gazetteer:
    """Read and check a gazetteer: unknown districts and sources, a name under two districts (both entries
    named) and malformed entries are refused."""
    parsed = validated(_GazetteerFile, read_yaml(path), path, describe=_describe)
    places: list[Place] = []
    seen: dict[str, tuple[str, str]] = {}  # name -> (district, "district (list, source)") where it was first listed
    blocks: set[tuple[str, str]] = set()

    def check_source(source: str, entry: str) -> None:
        if source and parsed.sources and source not in parsed.sources:
            raise DataFileError(
                path, f"unknown source {source!r}; expected one of {', '.join(parsed.sources)}", entry=entry
            )

    def add(name: str, kind: PlaceKind, district: str, where: str, source: str) -> None:
        name = name.strip()
        first = seen.get(name)
        if first is not None and first[0] != district:
            raise DataFileError(path, f"listed under both {first[1]} and {where}; move it to `ambiguous`", entry=name)
        if first is None:
            seen[name] = (district, where)
        places.append(Place(name, kind, (district,), source))

    for entry in parsed.districts:
        district = _label(entry.name)
        if district is None:
            raise DataFileError(path, f"unknown district; expected one of {', '.join(DISTRICTS)}", entry=entry.name)
        if (district, entry.source) in blocks:
            raise DataFileError(
                path,
                "district listed twice" + (f" for source {entry.source}" if entry.source else ""),
                entry=entry.name,
            )
        blocks.add((district, entry.source))
        check_source(entry.source, entry.name)
        label = f" source {entry.source}" if entry.source else ""
        # the district is also known by its unit's names in the catalogue (宁乡县 for 宁乡市, 芙蓉区政府)
        for name in dict.fromkeys((district, entry.name, *_unit_names(district), *entry.aliases)):
            add(name, "district", district, f"{entry.name} (aliases{label})", entry.source)
        for name in entry.former:
            kind: PlaceKind = "town" if name.endswith(("镇", "乡")) else "street"
            add(name, kind, district, f"{entry.name} (former{label})", entry.source)
        for attribute, kind in _KINDS:
            for name in getattr(entry, attribute):
                add(name, kind, district, f"{entry.name} ({attribute}{label})", entry.source)
    for amb in parsed.ambiguous:
        unknown = [d for d in amb.districts if _label(d) is None]
        if unknown:
            raise DataFileError(path, f"unknown district {unknown[0]!r}", entry=amb.name)
        check_source(amb.source, amb.name)
        if amb.name in seen:
            raise DataFileError(path, f"also listed under {seen[amb.name][1]}", entry=amb.name)
        districts = tuple(dict.fromkeys(_label(d) or d for d in amb.districts))
        places.append(Place(amb.name, "ambiguous", districts, amb.source))
    named = {p.name for p in places}
    for name in parsed.not_places:
        if name in named:
            raise DataFileError(path, "listed as a place and under `not_places`", entry=name)
    return Gazetteer(places, source=str(path), not_places=parsed.not_places)


@lru_cache(maxsize=4)
def default_gazetteer(path: str = str(PLACES_FILE)) -> Gazetteer:
    """The gazetteer of the project's data folder, loaded once per process."""
    return load_gazetteer(path)
