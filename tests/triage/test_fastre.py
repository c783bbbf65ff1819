"""`triage.fastre` finds exactly what `re` finds: the project's rule patterns on corpus calls, and random patterns."""

from __future__ import annotations

import json
import random
import re

import pytest

from triage import fastre
from triage.elements import default_element_rules
from triage.fastre import FastPattern, first_characters
from triage.resources import DATA_DIR
from triage.rules import default_rules


def _spans(match: re.Match[str] | None) -> object:
    return None if match is None else (match.span(), match.groups())


def _rule_patterns() -> list[re.Pattern[str]]:
    rules, elements = default_rules(), default_element_rules()
    sources = [*rules.urgent.patterns]
    for reason in rules.scope.reasons:
        sources += [*reason.patterns, *reason.unless]
        for redirect in reason.redirects:
            sources += [*redirect.patterns, *redirect.situations]
    patterns = [re.compile(s) for s in sources]
    patterns += [p for _, _, p in elements.time_patterns]
    patterns += [p for cues in elements.state_cues.values() for _, p in cues]
    patterns += [v for v in vars(elements).values() if isinstance(v, re.Pattern)]
    return patterns


def _calls(n: int) -> list[str]:
    lines = (DATA_DIR / "corpus" / "calls_a.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines[:n] if line.strip()]


def test_the_parser_is_read_as_expected_here() -> None:
    assert fastre._sre_parse is not None, "this Python's regex parser is not read: every pattern is searched slowly"


def test_rule_patterns_find_what_re_finds() -> None:
    texts = _calls(120)
    texts += [a + b for a, b in zip(texts, reversed(texts), strict=True)][:40]
    prefiltered = 0
    for pattern in _rule_patterns():
        fast = FastPattern(pattern)
        prefiltered += fast.starts is not None
        for text in texts:
            n = len(text)
            for pos, end in ((0, n), (n // 3, n), (0, n // 2), (n // 4, 3 * n // 4)):
                assert _spans(fast.search(text, pos, end)) == _spans(pattern.search(text, pos, end)), pattern.pattern
            assert [_spans(m) for m in fast.finditer(text)] == [_spans(m) for m in pattern.finditer(text)]
            assert fast.sub("[X]", text) == pattern.sub("[X]", text)
    assert prefiltered >= 20  # most rule patterns start with a group or a lookbehind


_ALPHABET = "ab好你1?-."


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        pick = rng.random()
        if pick < 0.55:
            return re.escape(rng.choice(_ALPHABET))
        if pick < 0.75:
            return "[" + "".join(re.escape(c) for c in rng.sample(_ALPHABET, 2)) + "]"
        if pick < 0.88:
            return rng.choice([r"\w", r"\d", ".", "[^a好]", "^", "$", r"\b", r"\1", "(?i:a)"])
        inner = _random_pattern(rng, depth + 1)
        return rng.choice([f"(?={inner})", f"(?!{inner})", "(?<=a)", "(?<!好)", f"(?>{inner})"])
    if roll < 0.55:
        return "".join(_random_pattern(rng, depth + 1) for _ in range(rng.randint(2, 3)))
    if roll < 0.75:
        return "(?:" + "|".join(_random_pattern(rng, depth + 1) for _ in range(rng.randint(2, 3))) + ")"
    if roll < 0.85:
        return "(" + _random_pattern(rng, depth + 1) + ")"
    return "(?:" + _random_pattern(rng, depth + 1) + ")" + rng.choice(["?", "*", "+", "{2}", "{0,2}", "{2,}", "*?", "++", "{0}"])


@pytest.mark.parametrize("seed", range(3))
def test_random_patterns_find_what_re_finds(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        try:
            pattern = re.compile(_random_pattern(rng))
        except re.error:
            continue
        fast = FastPattern(pattern)
        assert fast.local in (True, False)  # analysed now, not after its first searches
        fast._starts = first_characters(pattern)  # read every pattern, not only those the engine is slow on
        for _ in range(12):
            text = "".join(rng.choice(_ALPHABET + " ") for _ in range(rng.randint(0, 12)))
            pos = rng.randint(0, len(text))
            end = rng.randint(pos, len(text))
            expected = pattern.search(text, pos, end)
            assert _spans(fast.search(text, pos, end)) == _spans(expected), (pattern.pattern, text, pos, end)
            assert [_spans(m) for m in fast.finditer(text)] == [_spans(m) for m in pattern.finditer(text)]
            assert fast.sub("<>", text) == pattern.sub("<>", text)
            if fast.local and expected is not None:  # a match in part of the text begins one of the whole text
                whole = pattern.search(text, pos)
                assert whole is not None and whole.start() <= expected.start(), (pattern.pattern, text, pos, end)


def test_a_pattern_not_read_is_searched_as_it_is() -> None:
    for source in ("(?i)(正在|现在)着火", "a*", ".好", "(a)\\1"):
        fast = FastPattern(re.compile(source))
        assert fast.starts is None
        assert _spans(fast.search("现在着火 好 aa")) == _spans(re.compile(source).search("现在着火 好 aa"))


def test_fast_patterns_pickle() -> None:
    import pickle

    fast = FastPattern(re.compile(r"(?<![不没])(着火|起火)了"))
    clone = pickle.loads(pickle.dumps(fast))
    assert clone.pattern == fast.pattern
    assert _spans(clone.search("楼下起火了")) == ((2, 5), ("起火",))


def test_a_text_cut_again_gives_the_same_words_in_a_list_of_its_own() -> None:
    from triage.segment import default_segmenter

    seg = default_segmenter()
    first = seg.cut("开福区伍家岭那边占道经营")
    first.append("改了")
    assert seg.cut("开福区伍家岭那边占道经营") == first[:-1]
