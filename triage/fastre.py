"""`search`, `finditer` and `sub` for the editable rule patterns: the same matches as `re`, found faster.

Python's regex engine skips ahead to where a match may begin only when a pattern starts with a literal, a set, or
alternatives that all start with a literal. Most rule patterns start with a group (`(正在|现在)…`), a lookbehind
(`(?<![不没])着火`) or alternatives of both, and the engine then tries every branch at every character of every call.
`FastPattern` works out once, from the standard library's own parse of the pattern, the characters a match may
begin with (and come second), lets the engine find those places, and tries `match` there, leftmost first, as
`search` does. What it does not read (ignoring case, a match of nothing, `.` first …) is searched as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from triage.regex_cache import compiled

try:  # the standard library's own parser of patterns (sre_parse before 3.11): read-only use, checked at runtime
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - another Python: every pattern is searched as before
    _sre = _sre_parse = None  # type: ignore[assignment]

__all__ = ["FastPattern", "first_characters"]

_CATEGORIES: dict[Any, str] = {}
if _sre is not None:
    _CATEGORIES = {
        _sre.CATEGORY_DIGIT: r"\d",
        _sre.CATEGORY_NOT_DIGIT: r"\D",
        _sre.CATEGORY_SPACE: r"\s",
        _sre.CATEGORY_NOT_SPACE: r"\S",
        _sre.CATEGORY_WORD: r"\w",
        _sre.CATEGORY_NOT_WORD: r"\W",
    }


class _Unreadable(Exception):
    """A construct whose first characters are not worked out (the pattern is then searched as it is)."""


_ANY = ""
"""A character-class item standing for any character (`.`, a negated set, a back-reference …)."""


def _class_item(op: Any, av: Any) -> str:
    if op is _sre.LITERAL:
        return re.escape(chr(av))
    if op is _sre.RANGE:
        return f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}"
    if op is _sre.CATEGORY and av in _CATEGORIES:
        return _CATEGORIES[av]
    return _ANY


class _Reach:
    """What a piece of a pattern may consume first: the characters of its first and of its second character (as
    character-class items), whether it may consume nothing, and whether it may consume exactly one character."""

    __slots__ = ("empty", "first", "one", "second")

    def __init__(self, first: list[str], second: list[str], empty: bool, one: bool) -> None:
        self.first, self.second, self.empty, self.one = first, second, empty, one


_NOTHING = _Reach([], [], True, False)
"""A piece that reads no character of the match (an anchor, a lookaround)."""


def _then(a: _Reach, b: _Reach) -> _Reach:
    """`a` followed by `b`."""
    return _Reach(
        a.first + (b.first if a.empty else []),
        a.second + (b.first if a.one else []) + (b.second if a.empty else []),
        a.empty and b.empty,
        (a.one and b.empty) or (a.empty and b.one),
    )


def _either(alternatives: list[_Reach]) -> _Reach:
    return _Reach(
        [c for r in alternatives for c in r.first],
        [c for r in alternatives for c in r.second],
        any(r.empty for r in alternatives),
        any(r.one for r in alternatives),
    )


def _sequence(items: Any) -> _Reach:
    reach = _NOTHING
    for op, av in items:
        reach = _then(reach, _reach(op, av))
    return reach


def _reach(op: Any, av: Any) -> _Reach:
    if op is _sre.LITERAL:
        return _Reach([re.escape(chr(av))], [], False, True)
    if op is _sre.IN:
        if any(o is _sre.NEGATE for o, _ in av):
            return _Reach([_ANY], [], False, True)
        return _Reach([_class_item(o, a) for o, a in av], [], False, True)
    if op in (_sre.ANY, _sre.NOT_LITERAL):
        return _Reach([_ANY], [], False, True)
    if op is _sre.GROUPREF:  # what a group matched: nothing, one character or more, any of them
        return _Reach([_ANY], [_ANY], True, True)
    if op is _sre.GROUPREF_EXISTS:  # (?(group)yes|no)
        _, yes, no = av
        return _either([_sequence(yes), _sequence(no) if no else _NOTHING])
    if op is _sre.BRANCH:
        return _either([_sequence(alternative) for alternative in av[1]])
    if op is _sre.SUBPATTERN:
        _, add_flags, del_flags, sub = av
        inner = _sequence(sub)
        if add_flags or del_flags:  # (?i:…) and the like change what a character matches: any, as far as read here
            return _Reach([_ANY] if inner.first else [], [_ANY] if inner.second else [], inner.empty, inner.one)
        return inner
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
        low, high, sub = av
        inner = _sequence(sub)
        if high == 0:
            return _NOTHING
        # a repeat's second character is its piece's second, or the first of the next time round; times that
        # consume nothing change neither
        return _Reach(
            inner.first,
            inner.second + (inner.first if inner.one and high >= 2 else []),
            low == 0 or inner.empty,
            inner.one and (low <= 1 or inner.empty),
        )
    if op is _sre.ATOMIC_GROUP:
        return _sequence(av)
    if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
        return _NOTHING  # reads no character of the match: what it asserts only narrows the matches down
    raise _Unreadable(op)


def _engine_skips(items: Any) -> bool:
    """Whether `re` finds this pattern's possible starts itself: it begins (inside plain groups) with a literal, a
    set, or alternatives that all begin with a literal (CPython's `_compile_info`)."""
    while items and items[0][0] is _sre.SUBPATTERN and not (items[0][1][1] or items[0][1][2]):
        items = items[0][1][3]
    if not items:
        return False
    op, av = items[0]
    if op in (_sre.LITERAL, _sre.IN):
        return True
    return op is _sre.BRANCH and all(alt and alt[0][0] is _sre.LITERAL for alt in av[1])


def first_characters(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """A pattern matching (one character long) where a match of `pattern` may begin: a character that may begin
    one, followed, where no match so begun is one character long, by one that may come second (lookarounds and
    anchors aside, it may find more places). None when `pattern` may match nothing, ignores case, or holds what is
    not read here."""
    items = _parsed(pattern)
    return None if items is None else _starts(items, pattern.flags)


def _parsed(pattern: re.Pattern[str]) -> Any:
    """`pattern` as the standard library's parser reads it; None for one not read here."""
    if _sre_parse is None or not isinstance(pattern.pattern, str) or pattern.flags & re.IGNORECASE:
        return None
    try:
        return _sre_parse.parse(pattern.pattern, pattern.flags)
    except (re.error, RecursionError, AttributeError, TypeError, ValueError):
        return None


def _starts(items: Any, flags: int) -> re.Pattern[str] | None:
    try:
        reach = _sequence(items)
        alternatives = [_sequence(a) for a in _alternatives(items)]
    except (_Unreadable, RecursionError, AttributeError, TypeError, ValueError, IndexError):
        return None
    if reach.empty or not reach.first or _ANY in reach.first:
        return None
    flags &= re.ASCII | re.UNICODE
    # each first character with the characters that may follow it, when every first is one character: the
    # alternatives of a long pattern each begin with their own words (救命, 快来人 …)
    seconds: dict[str, set[str] | None] = {}
    for alternative in alternatives:
        follow = None if alternative.one or _ANY in alternative.second else set(alternative.second)
        for first in alternative.first:
            if len(first) != 1 and not (len(first) == 2 and first[0] == "\\" and not first[1].isalnum()):
                seconds = {}
                break  # a range or a category: the characters are not listed one by one
            known = seconds.get(first, set())
            seconds[first] = None if known is None or follow is None else known | follow
        else:
            continue
        break
    if seconds:
        parts = [first + ("" if after is None else "(?=[" + "".join(sorted(after)) + "])" if after else "(?!)")
                 for first, after in sorted(seconds.items())]
        return compiled("|".join(parts), flags)
    starts = "[" + "".join(dict.fromkeys(reach.first)) + "]"
    if not reach.one and _ANY not in reach.second:
        # every match is two characters or more: the second must be one that may come second
        starts += "(?=[" + "".join(dict.fromkeys(reach.second)) + "])" if reach.second else "(?!)"
    return compiled(starts, flags)


def _reads_only_its_match(items: Any) -> bool:
    """Whether nothing in the pattern looks at the text around what it matches or at where the text stops: no
    anchor, lookaround, atomic group or possessive repeat (a back-reference reads the match itself)."""
    for op, av in items:
        if op in (_sre.LITERAL, _sre.NOT_LITERAL, _sre.IN, _sre.ANY, _sre.GROUPREF):
            continue
        if op is _sre.BRANCH:
            if not all(_reads_only_its_match(a) for a in av[1]):
                return False
        elif op is _sre.SUBPATTERN:
            if not _reads_only_its_match(av[3]):
                return False
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            if not _reads_only_its_match(av[2]):
                return False
        elif op is _sre.GROUPREF_EXISTS:
            if not all(_reads_only_its_match(branch) for branch in av[1:] if branch is not None):
                return False
        else:
            return False
    return True


def _alternatives(items: Any) -> list[Any]:
    """The pattern's top-level alternatives (through a group around the whole of it), else the pattern itself."""
    while len(items) == 1 and items[0][0] is _sre.SUBPATTERN and not (items[0][1][1] or items[0][1][2]):
        items = items[0][1][3]
    if len(items) == 1 and items[0][0] is _sre.BRANCH:
        return list(items[0][1][1])
    return [items]


def _reads_as_expected() -> bool:
    """Whether this Python's parser gives what is read here (its internals may change): else nothing is read."""
    expected = {
        r"(?<![不没])(着火|起火)了": "着(?=[火])|起(?=[火])",
        r"(有人|一个)(在)?.{0,6}(打|砸)": "一(?=[个人])|有(?=[个人])",
        r"\d{2,4}年|[0-9一二]+月": r"[\d0-9一二](?=[\d0-9一二月])",
        r"(我|你)们?(?!好)|在": "你|在|我",
        r".x|y": "",
    }
    for source, starts in expected.items():
        found = first_characters(re.compile(source))
        if (found.pattern if found is not None else "") != starts:
            return False
    return FastPattern(re.compile("(正在|现在)打")).starts is None and FastPattern(re.compile("(?<!不)是")).local is False


ANALYSE_AFTER = 8
"""Searches of a pattern before its first characters are worked out: a process that suggests one call (a cold
`triage predict`) never pays for the analysis, a batch pays it once per pattern after a few rows."""


class FastPattern:
    """`pattern.search`, `finditer` and `sub` with the same matches (spans, groups; `Match.pos` is where the match
    was tried), found by trying `pattern.match` only where a match may begin, where the engine would try everywhere.

    The pattern is analysed lazily, after `ANALYSE_AFTER` searches; until then it is searched as it is (the same
    matches either way)."""

    __slots__ = ("_local", "_starts", "_uses", "pattern")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self._uses = 0
        self._starts: re.Pattern[str] | None = None
        self._local: bool | None = None  # None: not analysed yet

    @property
    def starts(self) -> re.Pattern[str] | None:
        """Where a match may begin; None: `pattern` is searched as it is (the engine skips ahead itself, or the
        pattern is not read here)."""
        if self._local is None:
            self._analyse()
        return self._starts

    @property
    def local(self) -> bool:
        """Whether a match in part of a text (`search(text, pos, endpos)`) always begins a match of the whole text
        from `pos` on: true of a pattern that reads only what it matches and never matches nothing. A caller
        searching many parts of one text can then skip every part before the whole text's next match."""
        if self._local is None:
            self._analyse()
        return bool(self._local)

    @property
    def known_local(self) -> bool:
        """`local` where the pattern is already analysed, else False (never analyses: a caller may rely on it to
        skip work, but never needs it for the right answer)."""
        return bool(self._local)

    def _analyse(self) -> None:
        self._local = False
        items = _parsed(self.pattern)
        if items is None:
            return
        try:
            skips = _engine_skips(items)
            local = _reads_only_its_match(items) and not _sequence(items).empty
        except (_Unreadable, RecursionError, AttributeError, TypeError, ValueError, IndexError):
            return
        self._starts = None if skips else _starts(items, self.pattern.flags)
        self._local = local

    def _starts_now(self) -> re.Pattern[str] | None:
        """`starts` once the pattern has been used enough to be worth analysing, else None (search as it is)."""
        if self._local is None:
            self._uses += 1
            if self._uses < ANALYSE_AFTER:
                return None
            self._analyse()
        return self._starts

    def __reduce__(self) -> tuple[type[FastPattern], tuple[re.Pattern[str]]]:
        return (FastPattern, (self.pattern,))

    def __repr__(self) -> str:
        return f"FastPattern({self.pattern.pattern!r})"

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        """`pattern.search(text, pos, endpos)`: the leftmost position where `pattern.match` succeeds."""
        end = len(text) if endpos is None else endpos
        starts = self._starts_now()
        if starts is None:
            return self.pattern.search(text, pos, end)
        match = self.pattern.match
        for start in starts.finditer(text, pos, end):
            found = match(text, start.start(), end)
            if found is not None:
                return found
        return None

    def sub(self, repl: str | Callable[[re.Match[str]], str], text: str) -> str:
        """`pattern.sub(repl, text)`: each match, left to right, replaced by `repl` (a template, as `re` reads it,
        or a function of the match)."""
        if self._starts_now() is None:
            return self.pattern.sub(repl, text)
        pieces: list[str] = []
        last = 0
        for found in self.finditer(text):
            pieces.append(text[last : found.start()])
            pieces.append(repl(found) if callable(repl) else found.expand(repl))
            last = found.end()
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterator[re.Match[str]]:
        """`pattern.finditer(text, pos, endpos)`: each search starts where the last match ended (no match is
        empty here, so nothing else differs)."""
        end = len(text) if endpos is None else endpos
        if self._starts_now() is None:
            yield from self.pattern.finditer(text, pos, end)
            return
        found = self.search(text, pos, end)
        while found is not None:
            yield found
            found = self.search(text, found.end(), end)


if _sre_parse is not None and not _reads_as_expected():  # pragma: no cover - a Python whose parser differs
    _sre_parse = None
