"""Stage 2: words, with an owned jieba tokenizer that knows the hotline's terms and 长沙's places.

jieba's module-level functions share one global tokenizer; a library that adds words to it changes
every other user's segmentation. We build our own `jieba.Tokenizer`, load the dictionaries into it
once, and expose a module-level `tokenize` function that pickles (vectorisers store it).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from math import log
from pathlib import Path

with warnings.catch_warnings():  # jieba imports pkg_resources, which warns on every start
    warnings.simplefilter("ignore")
    import jieba
    from jieba import finalseg, re_han_default, re_skip_default

from triage.errors import DataFileError
from triage.resources import TERMS_FILE

jieba.setLogLevel(logging.WARNING)
logger = logging.getLogger(__name__)

_WORD = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
PLACE_FREQ = 50_000
"""Frequency given to gazetteer and catalogue words so that jieba keeps them whole."""


class Segmenter:
    """A jieba tokenizer with user dictionaries and extra words, loaded once at construction."""

    def __init__(self, user_dicts: Sequence[str | Path] = (), words: Iterable[str] = ()) -> None:
        self.user_dicts = tuple(str(p) for p in user_dicts)
        self.words = tuple(sorted(set(words)))
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        self.user_words: set[str] = set(self.words)
        """Every word the project added: hotline terms, places, units and duties."""
        for path in self.user_dicts:
            self._load_user_dict(Path(path))
        for word in self.words:
            self._tokenizer.add_word(word, freq=PLACE_FREQ)

    def _load_user_dict(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise DataFileError(path, "user dictionary not found") from exc
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataFileError(path, f"not valid UTF-8 at byte {exc.start}") from exc
        for number, line in enumerate(lines, start=1):
            parts = line.strip().split()
            if not parts:
                continue
            if len(parts) > 3 or (len(parts) >= 2 and not parts[1].isdigit()):
                raise DataFileError(path, "expected 'word [freq] [tag]'", line=number)
            freq = int(parts[1]) if len(parts) >= 2 else None
            self.user_words.add(parts[0])
            self._tokenizer.add_word(parts[0], freq=freq, tag=parts[2] if len(parts) == 3 else None)

    def cut(self, text: str) -> list[str]:
        """Words of `text`, without spaces and punctuation (jieba's accurate mode with HMM, word for word)."""
        words: list[str] = []
        for block in re_han_default.split(text):
            if not block:
                continue
            if re_han_default.match(block):
                words.extend(self._cut_block(block))
            else:
                for part in re_skip_default.split(block):
                    if re_skip_default.match(part):
                        words.append(part)
                    else:
                        words.extend(part)
        return [w for w in words if _WORD.search(w)]

    def _cut_block(self, block: str) -> list[str]:
        """jieba's `Tokenizer.__cut_DAG` in one tight loop: the same dictionary, route, ties and HMM fallback.

        jieba builds a DAG dict, then a route dict through a generator of tuples per character; segmentation
        was a third of a batch's time. This computes the same best route right to left without them.
        """
        freq = self._tokenizer.FREQ
        logtotal = log(self._tokenizer.total)
        n = len(block)
        value = [0.0] * (n + 1)
        end = [0] * (n + 1)
        for k in range(n - 1, -1, -1):
            best, best_end, found = 0.0, k, False
            i, frag = k, block[k]
            while i < n and frag in freq:
                count = freq[frag]
                if count:
                    v = log(count) - logtotal + value[i + 1]
                    if not found or v >= best:  # jieba takes max((v, i)): on a tie the longer word wins
                        best, best_end, found = v, i, True
                i += 1
                frag = block[k : i + 1]
            if not found:
                best = log(freq.get(block[k]) or 1) - logtotal + value[k + 1]
            value[k], end[k] = best, best_end
        words: list[str] = []
        buf = ""
        x = 0
        while x < n:
            y = end[x] + 1
            if y - x == 1:
                buf += block[x]
            else:
                if buf:
                    words.extend(self._unknown(buf))
                    buf = ""
                words.append(block[x:y])
            x = y
        if buf:
            words.extend(self._unknown(buf))
        return words

    def _unknown(self, buf: str) -> list[str]:
        """A run of single characters: one word, jieba's HMM guess, or the characters (as jieba does)."""
        if len(buf) == 1:
            return [buf]
        if not self._tokenizer.FREQ.get(buf):
            return _hmm_cut(buf)
        return list(buf)

    def __call__(self, text: str) -> list[str]:
        return self.cut(text)

    def __reduce__(self) -> tuple[type[Segmenter], tuple[tuple[str, ...], tuple[str, ...]]]:
        return (Segmenter, (self.user_dicts, self.words))


def _hmm_cut(text: str) -> list[str]:
    """`jieba.finalseg.cut`, with the Viterbi pass below: same blocks, same words, same forced splits."""
    words: list[str] = []
    for block in finalseg.re_han.split(text):
        if finalseg.re_han.match(block):
            for word in _hmm_words(block):
                if word in finalseg.Force_Split_Words:
                    words.extend(word)
                else:
                    words.append(word)
        else:
            words.extend(x for x in finalseg.re_skip.split(block) if x)
    return words


def _hmm_words(block: str) -> list[str]:
    """jieba's BMES Viterbi, unrolled over its four states with back-pointers instead of copied paths.

    Sums are formed in jieba's order and ties go the way `max((prob, state))` sends them (the later
    letter), so the tags are the same.
    """
    start, trans, emit, low = finalseg.start_P, finalseg.trans_P, finalseg.emit_P, finalseg.MIN_FLOAT
    e_b, e_m, e_e, e_s = emit["B"], emit["M"], emit["E"], emit["S"]
    eb, sb = trans["E"].get("B", low), trans["S"].get("B", low)
    mm, bm = trans["M"].get("M", low), trans["B"].get("M", low)
    ss, es = trans["S"].get("S", low), trans["E"].get("S", low)
    be, me = trans["B"].get("E", low), trans["M"].get("E", low)
    c = block[0]
    v_b, v_m = start["B"] + e_b.get(c, low), start["M"] + e_m.get(c, low)
    v_e, v_s = start["E"] + e_e.get(c, low), start["S"] + e_s.get(c, low)
    back: list[tuple[str, str, str, str]] = []
    for c in block[1:]:
        em = e_b.get(c, low)
        p1, p2 = v_e + eb + em, v_s + sb + em
        n_b, from_b = (p2, "S") if p2 >= p1 else (p1, "E")
        em = e_m.get(c, low)
        p1, p2 = v_b + bm + em, v_m + mm + em
        n_m, from_m = (p2, "M") if p2 >= p1 else (p1, "B")
        em = e_e.get(c, low)
        p1, p2 = v_b + be + em, v_m + me + em
        n_e, from_e = (p2, "M") if p2 >= p1 else (p1, "B")
        em = e_s.get(c, low)
        p1, p2 = v_e + es + em, v_s + ss + em
        n_s, from_s = (p2, "S") if p2 >= p1 else (p1, "E")
        back.append((from_b, from_m, from_e, from_s))
        v_b, v_m, v_e, v_s = n_b, n_m, n_e, n_s
    state = "S" if v_s >= v_e else "E"
    tags = [state]
    for pointers in reversed(back):
        state = pointers["BMES".index(state)]
        tags.append(state)
    tags.reverse()
    words: list[str] = []
    begin = next_i = 0
    for i, tag in enumerate(tags):
        if tag == "B":
            begin = i
        elif tag == "E":
            words.append(block[begin : i + 1])
            next_i = i + 1
        elif tag == "S":
            words.append(block[i])
            next_i = i + 1
    if next_i < len(block):
        words.append(block[next_i:])
    return words


@lru_cache(maxsize=1)
def default_segmenter() -> Segmenter:
    """The project's segmenter: hotline terms, every gazetteer place, every unit name and duty."""
    from triage.places import default_gazetteer
    from triage.units import default_catalogue

    words = set(default_gazetteer().names()) | set(default_catalogue().vocabulary())
    segmenter = Segmenter([TERMS_FILE], words)
    logger.debug("segmenter ready with %d extra words", len(words))
    return segmenter


@lru_cache(maxsize=1)
def general_idf() -> dict[str, float]:
    """Inverse document frequencies of a general Chinese corpus (shipped with jieba): how common a word is."""
    from jieba.analyse.tfidf import DEFAULT_IDF, IDFLoader

    return dict(IDFLoader(DEFAULT_IDF).idf_freq)


def tokenize(text: str) -> list[str]:
    """Segment with the default segmenter. Module-level so that vectorisers holding it pickle."""
    return default_segmenter().cut(text)
