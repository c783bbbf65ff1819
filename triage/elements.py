"""Order elements (工单要素): where, when, what about and what the caller wants, cut out of the transcript.

The operator types these into the work order while the caller talks; the unit reads them first. Each element is
a span of the transcript (`text[start:end]`, offsets included so that the console can highlight it) or None:
nothing is rewritten or invented, so an element can always be checked against what was said.

How each is found (cue words and patterns in data/elements.yaml, conventions in data/corpus/elements/GUIDE.md):

- address: the gazetteer's places (as written and as heard), places side by side joined into one mention
  (雨花区黎托), extended to the specific words said right after (三栋, 那个加油站旁边, 交界的地方); an estate the
  gazetteer does not know is taken from its frame (叫东方明珠花园). The most specific mention wins; one inside a
  "我住在…" clause counts a little less, since the caller's home is the address only when the matter is there.
- time: time expressions (每天晚上十一点以后, 半个月了, 从去年开始, 昨天下午), pieces side by side joined; a
  duration or a habit is preferred over a bare day, and a bare 现在 counts only when nothing else is said.
- object: the thing after 投诉/举报/反映 or after 有个/有好多, else the first thing-word of the call (店, 厂,
  路灯, 物业 …) with the qualifier said right before it (楼下烧烤店, 楼顶的水箱).
- ask: from a request verb (能不能, 希望, 麻烦, 你们快点…) to the end of the request, taking in the clauses that
  carry it on; for a consultation the question (我想问一下…, or a clause that is a question). The last
  request wins over the first (callers end with what they want); rhetorical questions (凭什么…) ask nothing.
- contact_ok: agreeing to or asking for a call back (回电话给我) is True, refusing it (不要回访, 匿名) False.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from triage import regex_cache
from triage.datafile import read_yaml, validated
from triage.errors import DataFileError
from triage.fastre import FastPattern
from triage.places import Gazetteer, Location, PlaceMatch, default_gazetteer
from triage.resources import DATA_DIR

ELEMENTS_FILE = DATA_DIR / "elements.yaml"
PAUSES = frozenset("，,。！!？?；;：:、 \t\r\n…~～（）()「」“”\"'")
"""Characters that end a clause. A `.` ends one only between non-digits (1.5 stays a number)."""
SENTENCE_ENDS = frozenset("。！!？?；;\n")
FILLERS = re.compile(r"^(嗯+|呃|额|啊|哎|唉|喂+|哦|噢|那个|这个|就是|就是说|然后|对|是这样的|你好|您好)$")
"""A clause made only of one of these says nothing (a request verb followed by one looks on to the next clause)."""

_KIND_SCORE = {
    "estate": 3.0,
    "landmark": 2.2,
    "village": 2.2,
    "community": 2.2,
    "road": 2.0,
    "street": 1.6,
    "town": 1.6,
    "ambiguous": 1.2,
    "district": 1.0,
}
"""How specific a kind of place is: a district alone is the address only when nothing more specific is said."""


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Span:
    """A piece of the transcript: always `transcript[start:end] == text`."""

    text: str
    start: int
    end: int

    @classmethod
    def of(cls, transcript: str, start: int, end: int) -> Span:
        return cls(transcript[start:end], start, end)


@dataclass(frozen=True)
class Elements:
    """The work order's elements of one call; None where the call does not say it."""

    address: Span | None = None
    time: Span | None = None
    object: Span | None = None
    ask: Span | None = None
    contact_ok: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: spans as {text, start, end} or None (by hand: `asdict`'s deep copy costs more than the rest)."""
        out: dict[str, Any] = {}
        for name in ("address", "time", "object", "ask"):
            span = getattr(self, name)
            out[name] = None if span is None else {"text": span.text, "start": span.start, "end": span.end}
        out["contact_ok"] = self.contact_ok
        return out


# --------------------------------------------------------------------------------------------- rules file

CALLER_STATES = ("平静", "焦急", "愤怒", "求救")
"""The caller's states, weakest first: when two fit, the stronger is taken (GUIDE.md)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Address(_Strict):
    number: str
    joiner: str
    suffix: str
    heads: str
    heads_with_position: str
    position: str
    crossing: str
    unknown_estate: str


class _TimePattern(_Strict):
    name: str
    weight: float
    pattern: str


class _Time(_Strict):
    patterns: list[_TimePattern] = Field(min_length=1)
    not_after: str
    not_before: str


class _Object(_Strict):
    after_verb: str
    existential: str
    heads: str
    skip_words: str
    measure: str
    self_intro: str


class _Ask(_Strict):
    request: str
    request_end: str
    question_frame: str
    question: str
    rhetorical: str
    continues: str
    max_chars: int = Field(ge=8)


class _Contact(_Strict):
    refused: str
    agreed: str


class Cue(_Strict):
    """One cue of the caller's state: a pattern and how much it counts."""

    name: str
    weight: float
    pattern: str


class _CallerState(_Strict):
    calm: float
    thresholds: dict[str, float]
    past: str
    cues: dict[str, list[Cue]]


class _ElementsFile(_Strict):
    version: int
    address: _Address
    time: _Time
    object: _Object
    ask: _Ask
    contact: _Contact
    caller_state: _CallerState


class ElementRules:
    """data/elements.yaml, compiled once: the cue words of the elements, the summary and the caller's state.

    A pattern that does not compile, or a state that is not one of `CALLER_STATES`, raises DataFileError
    naming its entry, so that a supervisor's edit is refused at load rather than at the first call."""

    def __init__(self, parsed: _ElementsFile, source: str = "<memory>") -> None:
        self.source = source
        self.parsed = parsed

        def compiled(entry: str, pattern: str, *, words: bool = False) -> re.Pattern[str]:
            pattern = "".join(pattern.split()) if words else pattern
            try:
                return regex_cache.compiled(pattern)
            except re.error as exc:
                raise DataFileError(source, f"pattern does not compile: {exc}", entry=entry) from exc

        a = parsed.address
        self.place_number = compiled("address.number", rf"(的)?{a.number}")
        self.place_joiner = compiled("address.joiner", a.joiner)
        self.place_suffix = compiled("address.suffix", a.suffix)
        self.place_head = compiled("address.heads", _longest_first(a.heads))
        self.place_head_with_position = compiled("address.heads_with_position", _longest_first(a.heads_with_position))
        self.place_position = compiled("address.position", a.position)
        self.place_crossing = compiled("address.crossing", rf"^{a.crossing}$")
        self.unknown_estate = compiled("address.unknown_estate", a.unknown_estate)
        t = parsed.time
        self.time_patterns = [(p.name, p.weight, compiled(f"time.patterns.{p.name}", p.pattern)) for p in t.patterns]
        self.time_not_after = compiled("time.not_after", t.not_after)
        self.time_not_before = compiled("time.not_before", t.not_before)
        o = parsed.object
        self.object_after_verb = compiled("object.after_verb", o.after_verb, words=True)
        self.object_existential = compiled("object.existential", o.existential, words=True)
        self.object_head = compiled("object.heads", _longest_first(o.heads))
        self.object_skip = compiled("object.skip_words", o.skip_words, words=True)
        self.object_measure = compiled("object.measure", o.measure, words=True)
        self.object_self_intro = compiled("object.self_intro", o.self_intro, words=True)
        k = parsed.ask
        self.ask_request = compiled("ask.request", k.request, words=True)
        self.ask_request_end = compiled("ask.request_end", k.request_end, words=True)
        self.ask_frame = compiled("ask.question_frame", k.question_frame, words=True)
        self.ask_question = compiled("ask.question", k.question, words=True)
        self.ask_rhetorical = compiled("ask.rhetorical", k.rhetorical, words=True)
        self.ask_continues = compiled("ask.continues", k.continues, words=True)
        self.ask_max_chars = k.max_chars
        self.contact_refused = compiled("contact.refused", parsed.contact.refused, words=True)
        self.contact_agreed = compiled("contact.agreed", parsed.contact.agreed, words=True)
        s = parsed.caller_state
        unknown = sorted(set(s.cues) - set(CALLER_STATES))
        if unknown:
            raise DataFileError(source, f"unknown caller state {unknown[0]!r}; expected one of {', '.join(CALLER_STATES)}",
                                entry="caller_state.cues")
        unknown = sorted(set(s.thresholds) - set(CALLER_STATES))
        if unknown:
            raise DataFileError(source, f"unknown caller state {unknown[0]!r}", entry="caller_state.thresholds")
        self.state_calm = s.calm
        self.state_thresholds = {state: s.thresholds.get(state, 2.0) for state in CALLER_STATES[1:]}
        self.state_past = compiled("caller_state.past", s.past)
        self.state_cues: dict[str, list[tuple[Cue, re.Pattern[str]]]] = {
            state: [(cue, compiled(f"caller_state.cues.{state}.{cue.name}", cue.pattern)) for cue in cues]
            for state, cues in s.cues.items()
        }
        # the patterns searched through a whole call, with the same matches found faster (`triage.fastre`)
        self.time_scans = [(name, weight, FastPattern(pattern)) for name, weight, pattern in self.time_patterns]
        self.scan = {name: FastPattern(getattr(self, name)) for name in _SCANNED}
        self.state_cue_scans = {state: [(cue, FastPattern(pattern)) for cue, pattern in cues] for state, cues in self.state_cues.items()}


_SCANNED = (
    "unknown_estate", "object_after_verb", "object_existential", "object_head", "ask_request", "ask_request_end",
    "ask_frame", "ask_question", "ask_rhetorical", "contact_refused", "contact_agreed",
)
"""`ElementRules`' patterns searched through a call or a clause (not only matched at a place)."""


def _longest_first(words: str) -> str:
    """An alternation of plain words, longest first, so that 菜市场 wins over 市场 at the same place."""
    parts = [w for w in "".join(words.split()).split("|") if w]
    return "|".join(sorted(dict.fromkeys(parts), key=len, reverse=True))


def load_element_rules(path: str | Path = ELEMENTS_FILE) -> ElementRules:
    """Read and check data/elements.yaml: an unknown key or a pattern that does not compile is refused, named."""
    parsed = validated(_ElementsFile, read_yaml(path), path)
    return ElementRules(parsed, str(path))


@lru_cache(maxsize=4)
def default_element_rules(path: str = str(ELEMENTS_FILE)) -> ElementRules:
    """The project's data/elements.yaml, loaded once per process."""
    return load_element_rules(path)


# --------------------------------------------------------------------------------------------- clauses


def is_pause(text: str, i: int) -> bool:
    char = text[i]
    if char == ".":
        return not (0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit())
    return char in PAUSES


LONG_CLAUSE = 24
"""A clause longer than this (a transcript typed without punctuation) is cut further at soft boundaries."""
_SOFT_BEFORE = re.compile(r"(?=我们|我|你们|他们|他|她|但是|因为|所以|结果|然后|可是|不过|而且|已经)")
_SOFT_AFTER = re.compile(r"(?<=[吗呢吧么])")


def _soft_split(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A long run without pauses cut before a pronoun or a connective (我们…, 但是…) and after a question's
    particle (…吗): pieces of at least four characters, so that 我想问一下 and its question stay whole."""
    cuts = sorted(
        {m.start() for m in _SOFT_BEFORE.finditer(text, start, end)}
        | {m.start() for m in _SOFT_AFTER.finditer(text, start, end)}
    )
    out: list[tuple[int, int]] = []
    s = start
    for cut in cuts:
        if cut - s >= 4 and end - cut >= 4:
            out.append((s, cut))
            s = cut
    out.append((s, end))
    return out


def clauses(text: str, *, soft: bool = True) -> list[tuple[int, int]]:
    """The (start, end) of each clause: runs of text between pauses, pauses left out; with `soft`, a run
    longer than `LONG_CLAUSE` characters is cut further (see `_soft_split`)."""
    return list(_clauses(text, soft))


@lru_cache(maxsize=64)
def _clauses(text: str, soft: bool) -> tuple[tuple[int, int], ...]:
    """`clauses`, computed once per text: the address, the object, the ask and the summary all split the same call."""
    out: list[tuple[int, int]] = []
    start = 0  # the first character after the last pause
    for i in _pauses(text):
        if i > start:
            out.extend(_soft_split(text, start, i) if soft and i - start > LONG_CLAUSE else [(start, i)])
        start = i + 1
    i = len(text)
    if i > start:
        out.extend(_soft_split(text, start, i) if soft and i - start > LONG_CLAUSE else [(start, i)])
    return tuple(out)


_PAUSE_OR_DOT = re.compile("[" + "".join(re.escape(c) for c in sorted(PAUSES | {"."})) + "]")
"""Where `is_pause` may be true: one regex pass finds them instead of a test of every character."""


def _pauses(text: str, start: int = 0) -> Iterator[int]:
    """The positions of the pauses of `text` from `start` on, in order (`is_pause`, a `.` between digits left out)."""
    for m in _PAUSE_OR_DOT.finditer(text, start):
        i = m.start()
        if text[i] != "." or is_pause(text, i):
            yield i


def _sentence_break(text: str, end: int, next_start: int) -> bool:
    """Whether a sentence ends between two clauses (a 。？！ in the pause between them)."""
    return any(text[i] in SENTENCE_ENDS or (text[i] == "." and is_pause(text, i)) for i in range(end, next_start))


def _is_filler(piece: str) -> bool:
    return FILLERS.match(piece) is not None


# --------------------------------------------------------------------------------------------- address


PlacesArg = Gazetteer | Location | Sequence[PlaceMatch] | None
"""What `extract_elements` accepts for places: a gazetteer to search, a `Location` the pipeline already has
(its evidence is used), the matches themselves, or None for the project's gazetteer."""


def _place_matches(text: str, places: PlacesArg) -> list[tuple[int, int, str, bool]]:
    """(start, end, kind, residence) of every place said, as written or as heard, sorted, without overlaps."""
    if places is None:
        places = default_gazetteer()
    if isinstance(places, Gazetteer):
        found = list(places.find(text)) + list(places.find_by_sound(text))
    elif isinstance(places, Location):
        found = list(places.evidence)
    else:
        found = list(places)
    out: list[tuple[int, int, str, bool]] = []
    for m in sorted(found, key=lambda m: (m.start, -(m.end - m.start))):
        if not (0 <= m.start < m.end <= len(text)) or text[m.start : m.end] not in (m.place.name, m.heard):
            continue  # a match of another text (a Location of the normalised transcript): its offsets are not ours
        if out and m.start < out[-1][1]:
            continue
        out.append((m.start, m.end, m.place.kind, m.residence))
    return out


@dataclass
class _Mention:
    start: int
    end: int
    score: float
    residence: bool


def _numbers(text: str, end: int, limit: int, rules: ElementRules) -> tuple[int, float]:
    """Building, unit, floor and room numbers right at `end` (三栋二单元): how far they go, and the bonus."""
    bonus = 0.0
    m = rules.place_number.match(text, end, limit)
    while m and m.end() > end:
        end, bonus = m.end(), bonus + 2.0
        m = rules.place_number.match(text, end, limit)
    return end, bonus


_TIE = re.compile(r"(的|那个|这个)?")
_NOT_IN_MIDDLE = re.compile(r"[了有是说把被要想去来叫找我你他她在]")
"""Characters never between a place, or a thing, and the word it is extended to: a verb or a pronoun means
the words after are another clause's (银盆岭那边的 | 我看小区群里)."""
_NOT_IN_PLACE_MIDDLE = re.compile(r"[了有是说把被要想去来叫找我你他她在的嗯呃啊]")


def _extend_place(text: str, end: int, rules: ElementRules, limit: int) -> tuple[int, float]:
    """How far a place at `end` extends to the specific words said right after it, and the specificity gained:
    its suffix (玉潭 + 镇), numbers (三栋), a position (旁边), or a landmark said after it (那个加油站旁边)."""
    suffix = rules.place_suffix.match(text, end, limit)
    if suffix:
        end = suffix.end()
    end, bonus = _numbers(text, end, limit, rules)
    position = rules.place_position.match(text, end, limit)
    if position:
        return position.end(), bonus + 0.8
    joiner = rules.place_joiner.match(text, end, limit)
    after = joiner.end() if joiner else end
    window_end = min(limit, after + 12)
    for head_pattern, needs_position in ((rules.place_head, False), (rules.place_head_with_position, True)):
        head = head_pattern.search(text, after, window_end)
        if head is None or len(text[after : head.start()]) > 10 or _NOT_IN_PLACE_MIDDLE.search(text, after, head.start()):
            continue
        new_end, more = _numbers(text, head.end(), limit, rules)
        tie = _TIE.match(text, new_end, limit)
        position = rules.place_position.match(text, tie.end() if tie else new_end, limit)
        if position:
            return position.end(), bonus + more + 1.8
        if not needs_position:
            return new_end, bonus + more + 1.0
    return end, bonus


def _clause_end(text: str, i: int) -> int:
    """The first pause at or after `i`, else the end of the text (`i` itself from there on)."""
    if i >= len(text):
        return i
    return next(_pauses(text, i), len(text))


def find_address(text: str, places: PlacesArg = None, rules: ElementRules | None = None) -> Span | None:
    """The most specific place the call names, extended to its building, landmark or crossing."""
    rules = rules or default_element_rules()
    matches = _place_matches(text, places)
    mentions: list[_Mention] = []
    i = 0
    while i < len(matches):
        start, end, kind, residence = matches[i]
        kinds = [kind]
        j = i + 1
        while j < len(matches):
            gap = text[end : matches[j][0]]
            road_pair = kinds[-1] == "road" and matches[j][2] == "road" and rules.place_crossing.match(gap)
            if (gap.strip() in ("", "的") and len(gap) <= 1) or road_pair:
                end = matches[j][1]
                kinds.append(matches[j][2])
                residence = residence and matches[j][3]
                j += 1
            else:
                break
        score = max(_KIND_SCORE.get(k, 1.0) for k in kinds) + 0.4 * (len(kinds) - 1)
        limit = _clause_end(text, end) if end < len(text) else end
        # a clause pause right after a place ends it; specific words are looked for within the clause only
        new_end, bonus = _extend_place(text, end, rules, limit)
        mentions.append(_Mention(start, new_end, score + bonus, residence))
        i = j
    taken = [(m.start, m.end) for m in mentions]
    for m in rules.scan["unknown_estate"].finditer(text):
        s, e = m.span(1)
        if any(s < te and ts < e for ts, te in taken):
            continue
        limit = _clause_end(text, e)
        new_end, bonus = _extend_place(text, e, rules, limit)
        mentions.append(_Mention(s, new_end, 2.8 + bonus, False))
    if not mentions:
        return None
    if any(not m.residence for m in mentions):
        for m in mentions:
            if m.residence:
                m.score -= 0.7
    best = max(mentions, key=lambda m: (m.score, -m.start))
    return Span.of(text, best.start, best.end)


# --------------------------------------------------------------------------------------------- time


def find_time(text: str, rules: ElementRules | None = None) -> Span | None:
    """When the matter happens or since when: adjacent time words joined, the most telling mention kept."""
    rules = rules or default_element_rules()
    pieces: list[tuple[int, int, float, str]] = []
    for name, weight, pattern in rules.time_scans:
        for m in pattern.finditer(text):
            s, e = m.span()
            if s == e:
                continue
            if rules.time_not_after.match(text, e):
                continue
            if name == "clock" and s > 0 and rules.time_not_before.search(text[s - 1 : s]):
                continue
            pieces.append((s, e, weight, name))
    if not pieces:
        return None
    pieces.sort(key=lambda p: (p[0], -(p[1] - p[0])))
    kept: list[tuple[int, int, float, str]] = []
    for piece in pieces:
        if kept and piece[0] < kept[-1][1]:
            if piece[1] > kept[-1][1] and piece[2] >= kept[-1][2]:
                kept[-1] = (kept[-1][0], piece[1], max(kept[-1][2], piece[2]), piece[3])
            continue
        kept.append(piece)
    groups: list[tuple[int, int, float, list[str]]] = []
    for s, e, w, name in kept:
        joinable = name != "now" and groups and groups[-1][3][-1] != "now"
        if joinable and s - groups[-1][1] <= 1 and text[groups[-1][1] : s] in ("", "的"):
            gs, _, gw, names = groups[-1]
            groups[-1] = (gs, e, max(gw, w) + 0.5, [*names, name])
        else:
            groups.append((s, e, w, [name]))
    # a bare clock ("一点") that stands alone is a quantity (便宜一点), not a time
    groups = [g for g in groups if not (g[3] == ["clock"] and re.fullmatch(r"[0-9一二三四五六七八九十两]{1,3}点", text[g[0] : g[1]]))]
    if not groups:
        return None
    if any(g[3] != ["now"] for g in groups):  # a bare 现在 counts only when it is the only time said
        groups = [g for g in groups if g[3] != ["now"]]
    best = max(groups, key=lambda g: (g[2], -g[0]))
    return Span.of(text, best[0], best[1])


# --------------------------------------------------------------------------------------------- object

_QUALIFIER_STOP = frozenset(
    "我你他她们在是有了把被说就都也还那这个对跟和给让要想去来到从很太好又再没不冇啊嗯呢吧吗么些家询问"
    "开做搞卖买用打看租办交住遛砍挖占喷堆装修拆"
)
"""Characters a thing-word's qualifier never holds (pronouns, particles, common verbs): 租的人防车位 → 人防车位."""
_OF = re.compile(r"的?")


def _extend_head(text: str, stop: int, end: int, rules: ElementRules) -> int:
    """A thing-word followed by another (烧烤店老板, 电信的业务员, 公交卡): the object runs to the last one."""
    while True:
        of = _OF.match(text, stop, end)
        after = of.end() if of else stop
        more = rules.object_head.match(text, after, end)
        if more is None or more.end() == after:
            return stop
        stop = more.end()


def _skip_leading(text: str, start: int, end: int, rules: ElementRules) -> int:
    """`start` moved over pronouns, fillers and a count (我们那边的一个 工厂): the object starts at the thing."""
    moved = True
    while moved:
        moved = False
        for pattern in (rules.object_skip, rules.object_measure):
            m = pattern.match(text, start, end)
            if m and m.end() > start:
                start, moved = m.end(), True
    return start


def _object_from(text: str, start: int, rules: ElementRules) -> tuple[int, int] | None:
    """The thing named from `start` on, within its clause: up to and including its thing-word (店, 物业 …)."""
    end = _clause_end(text, start)
    start = _skip_leading(text, start, end, rules)
    exist = rules.object_existential.search(text, start, min(end, start + 14))
    if exist:
        start = _skip_leading(text, exist.end(), end, rules)
    head = rules.object_head.search(text, start, min(end, start + 14))
    if head is None or head.start() - start > 10 or _NOT_IN_MIDDLE.search(text, start, head.start()):
        return None
    return start, _extend_head(text, head.end(), end, rules)


def _qualified(text: str, start: int, rules: ElementRules) -> int:
    """`start` moved left over the qualifier said right before a thing-word (楼顶的 水箱, 楼下 烧烤店, 我的 车)."""
    i = start
    while i > 0 and start - i < 8:
        if is_pause(text, i - 1) or text[i - 1] in _QUALIFIER_STOP:
            break
        i -= 1
    if i == start - 1 and text[i] == "的" and i > 0 and text[i - 1] in "我他她":
        return i - 1  # 我的车
    while i < start and (text[i] == "的" or (text[i] == "子" and i > 0 and text[i - 1] == "么")):
        i += 1  # 的 …, and the 子 of 么子 (有冇得么子补助)
    return _skip_leading(text, i, start, rules)


def find_object(text: str, rules: ElementRules | None = None, exclude: Iterable[Span | None] = ()) -> Span | None:
    """Who or what the call is about: after 投诉/举报/反映, after 有个/有好多, else the call's first thing-word
    outside the address, the time and a clause that only says who the caller is."""
    rules = rules or default_element_rules()
    blocked = [(s.start, s.end) for s in exclude if s is not None]

    def free(s: int, e: int) -> bool:
        return not any(s < be and bs < e for bs, be in blocked)

    for pattern in (rules.scan["object_after_verb"], rules.scan["object_existential"]):
        for m in pattern.finditer(text):
            start = m.end()
            while start < len(text) and (is_pause(text, start) or _is_filler(text[start])):
                start += 1  # 我想投诉，电信的业务员…: the thing is in the next clause
            found = _object_from(text, start, rules)
            if found and free(*found):
                return Span.of(text, *found)
    intro = [(cs, ce) for cs, ce in clauses(text) if rules.object_self_intro.match(text, _trim_left(text, cs, ce), ce)]
    for head in rules.scan["object_head"].finditer(text):
        if not free(head.start(), head.end()) or any(cs <= head.start() < ce for cs, ce in intro):
            continue
        s = _qualified(text, head.start(), rules)
        e = _extend_head(text, head.end(), _clause_end(text, head.end()), rules)
        if e - s >= 2 and free(s, e):
            return Span.of(text, s, e)
    return None


# --------------------------------------------------------------------------------------------- ask


@dataclass
class _AskCandidate:
    start: int
    end: int
    kind: str  # request, frame, question
    clause: int


_LEADING_FILLERS = re.compile(r"(?:(?:嗯|呃|啊|哎|那个|就是|然后| )(?=[\s\S]))*")
"""Fillers and spaces at a clause's start, each followed by something more: no filler begins another, so
taking them greedily is what trying them one by one did."""


def _trim_left(text: str, start: int, end: int) -> int:
    """Skip fillers and spaces at a clause's start (嗯，就是): a span starts at a word that says something."""
    if start >= end:
        return start
    return _LEADING_FILLERS.match(text, start, end).end()  # type: ignore[union-attr]


def _ask_candidate(
    text: str, k: int, cs: int, ce: int, rules: ElementRules, cues: _AskCues | None = None
) -> _AskCandidate | None:
    """Clause `k` as a piece of an ask: a request (能不能…), a question frame (我想问一下…) or a question.

    `cues`: the request words' searches of this text, when the caller reads its clauses in order (`find_ask`)."""
    cues = cues or _AskCues(text, rules)
    start = _trim_left(text, cs, ce)
    piece = text[start:ce]
    # what the clause would be, then whether it is said only to reproach or to fill (which makes it nothing):
    # most clauses are no request and no question, and are done without the second test
    request = cues.request.search(cs, ce)
    if request and text[max(cs, request.start() - 1) : request.start()] in ("好", "很", "太", "多"):
        request = None  # 好麻烦, 很希望 … said of the matter, not asked
    frame = cues.frame.search(cs, ce)
    if request is None and cues.request_end.search(cs, ce):
        found = _AskCandidate(start, ce, "request", k)  # …派人来看一下: the request is its clause
    elif request is not None or frame is not None:
        s = min(m.start() for m in (request, frame) if m is not None)
        for lead in ("我们就", "我就", "我们", "我", "就"):
            if text[max(cs, s - len(lead)) : s] == lead and text[s] in "想要":
                s -= len(lead)
                break
        found = _AskCandidate(s, ce, "request" if request else "frame", k)
    elif rules.scan["ask_question"].search(piece) or text[ce : ce + 1] in ("?", "？"):
        said = text[start : ce + 1]  # with the pause after it: a clause followed by ？ is a question
        if not (len(piece) >= 4 or "?" in said or "？" in said or "怎么办" in said):
            return None
        found = _AskCandidate(start, ce, "question", k)
    else:
        return None
    if rules.scan["ask_rhetorical"].search(piece) or _is_filler(piece):
        return None
    return found


class _AskCues:
    """The request, question-frame and request-end searches of one text, clause after clause."""

    def __init__(self, text: str, rules: ElementRules) -> None:
        self.request = _ClauseSearch(rules.scan["ask_request"], text)
        self.frame = _ClauseSearch(rules.scan["ask_frame"], text)
        self.request_end = _ClauseSearch(rules.scan["ask_request_end"], text)


class _ClauseSearch:
    """`pattern.search(text, start, end)` for clauses taken in text order, None at once for a clause where no match
    of the whole text begins (`FastPattern.local`): one search of the text answers for every clause up to its next
    match."""

    __slots__ = ("next", "pattern", "since", "text")

    def __init__(self, pattern: FastPattern, text: str) -> None:
        self.pattern = pattern
        self.text = text
        self.since = self.next = len(text) + 1
        """The whole text holds no match beginning in [`since`, `next`), and one at `next` (len + 1: none)."""

    def search(self, start: int, end: int) -> re.Match[str] | None:
        if self.pattern.known_local:
            if not self.since <= start <= self.next:
                m = self.pattern.search(self.text, start)
                self.since, self.next = start, m.start() if m else len(self.text) + 1
            if self.next >= end:
                return None
        return self.pattern.search(self.text, start, end)


def find_ask(text: str, rules: ElementRules | None = None) -> Span | None:
    """What the caller wants done: the last request (能不能…, 希望…, 你们快点…), else the first question.

    Clauses of one sentence that ask one after another (要去哪里办，装一个要多少钱，…) make one ask; a request
    verb with nothing after it (我想问一下，嗯，…) takes in the clause that says what.
    """
    rules = rules or default_element_rules()
    parts = clauses(text)
    cues = _AskCues(text, rules)
    found = [_ask_candidate(text, k, cs, ce, rules, cues) for k, (cs, ce) in enumerate(parts)]
    chains: list[list[_AskCandidate]] = []
    for k, cand in enumerate(found):
        if cand is None:
            continue
        previous = chains[-1][-1] if chains else None
        if (
            previous is not None
            and previous.clause == k - 1
            and not _sentence_break(text, parts[k - 1][1], parts[k][0])
            and cand.end - chains[-1][0].start <= rules.ask_max_chars
            and cand.kind != "frame"
        ):
            chains[-1].append(cand)
        else:
            chains.append([cand])
    if not chains:
        return None
    with_request = [c for c in chains if any(a.kind == "request" for a in c)]
    if with_request:
        chain = with_request[-1]
    else:
        chain = min(chains, key=lambda c: (c[0].kind != "frame", c[0].start))
    start, end, k = chain[0].start, chain[-1].end, chain[-1].clause
    rest = text[start:end]
    if chain[0].kind != "question" and not rules.ask_question.search(rest) and (
        rules.ask_frame.fullmatch(rest) or rules.ask_request.fullmatch(rest) or len(rest) <= 4 or chain[0].kind == "frame"
    ):
        # 我想问一下，嗯，明天是不是停水 / 我问一下，就是学费，一年涨多少: the ask runs on to the clause that asks;
        # when that is far, the question alone is the ask
        said_between = 0  # clauses that say something between the frame and its question
        for q in range(k + 1, min(len(parts), k + 10)):
            qs, qe = parts[q]
            if found[q] is not None and found[q].kind != "frame":
                if qe - start > rules.ask_max_chars or said_between > 1:
                    start = found[q].start  # the question, far from a frame that already says what about
                end, k = qe, q
                break
            if not _is_filler(text[_trim_left(text, qs, qe) : qe]):
                said_between += 1
    said = end  # the end of the last clause that says something: a trailing 嗯 is left out
    while k + 1 < len(parts):
        ns, ne = parts[k + 1]
        piece = text[_trim_left(text, ns, ne) : ne]
        if ne - start > rules.ask_max_chars:
            break
        if _is_filler(piece):
            k += 1
            continue
        if _sentence_break(text, said, ns) or not rules.ask_continues.match(piece) or rules.ask_rhetorical.search(piece):
            break
        said, k = ne, k + 1
    end = said
    while end > start and is_pause(text, end - 1):
        end -= 1
    return Span.of(text, start, end) if end > start else None


# --------------------------------------------------------------------------------------------- contact


_NEGATION = re.compile(r"(没|冇|不|别|莫)[^，,。！!？?]{0,3}$")


def find_contact_ok(text: str, rules: ElementRules | None = None) -> bool | None:
    """True when the caller agrees to or asks for a call back, False when they refuse it, else None."""
    rules = rules or default_element_rules()
    if rules.scan["contact_refused"].search(text):
        return False
    for m in rules.scan["contact_agreed"].finditer(text):
        if not _NEGATION.search(text[max(0, m.start() - 4) : m.start()]):
            return True
    return None


# --------------------------------------------------------------------------------------------- all


def extract_elements(text: str, places: PlacesArg = None, rules: ElementRules | None = None) -> Elements:
    """The order's elements of one transcript; every span is `text[start:end]`.

    `places`: the project's gazetteer (default), a `Location` the pipeline already computed for this same text,
    or its place matches. Pass the text the offsets should point into (the console highlights that one).
    """
    if not isinstance(text, str) or not text:
        return Elements()
    rules = rules or default_element_rules()
    address = find_address(text, places, rules)
    time = find_time(text, rules)
    ask = find_ask(text, rules)
    obj = find_object(text, rules, exclude=(address, time))
    return Elements(address, time, obj, ask, find_contact_ok(text, rules))
