"""Stage 2: words, with an owned jieba tokenizer that knows the hotline's terms and 长沙's places.

jieba's module-level functions share one global tokenizer; a library that adds words to it changes
every other user's segmentation. We build our own `jieba.Tokenizer`, load the dictionaries into it
once, and expose a module-level `tokenize` function that pickles (vectorisers store it).

A process that cuts a batch finds each text's best route with jieba-rs (rjieba, told the same words and total) and
sends the runs of single characters through jieba's HMM here, as jieba does: the words are jieba's, word for word,
in under half the time. A single call is cut in Python and never builds it.
"""

from __future__ import annotations

import logging
import marshal
import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from math import log
from pathlib import Path
from typing import Any

with warnings.catch_warnings():  # jieba imports pkg_resources, which warns on every start
    warnings.simplefilter("ignore")
    import jieba
    from jieba import finalseg, re_han_default

from triage.cache import cached, fingerprint
from triage.errors import DataFileError
from triage.resources import TERMS_FILE

jieba.setLogLevel(logging.WARNING)
logger = logging.getLogger(__name__)

_WORD = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_SYMBOL = re.compile(r"[^\w\u4e00-\u9fff]")
"""A character of a block (jieba's `re_han_default`) that is no letter, digit or character: one of +#&.%-."""
_BLOCK_SYMBOL = re.compile(r"[+#&.%\-]")
"""The characters `_SYMBOL` finds in a block: a text without any has no block to filter."""
_PIECE = re.compile(re_han_default.pattern + r"|[\w\u4e00-\u9fff]", re_han_default.flags)
"""A block as jieba splits them (group 1), or else one letter or character outside the blocks (`_WORD`)."""
_NOT_NATIVE = re.compile(r"[+#&._%\-\u3400-\u4dbf\u9fd6-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
"""What jieba-rs cuts unlike jieba: a block's symbols (jieba-rs keeps `baidu.com` and `x000D_1` whole, jieba splits them
by its HMM's rules) and the CJK characters jieba-rs counts as Chinese and jieba does not (its blocks stop at U+9FD5)."""
RECENT_TEXTS = 512
"""How many texts' words a segmenter keeps, for a text cut again soon after: a call's features, then its search in
the knowledge base, which in a batch file comes after the whole chunk of 256 rows (`training.batch.CHUNK_ROWS`)."""
NATIVE_AFTER_CHARS = 4_000
"""Characters a process cuts in Python before it builds jieba-rs (0.1 s): a single call never pays for it, a batch
does at once. Both cut word for word the same."""
_PAD = "\ue000"
"""A private-use character that is never part of a block: it carries jieba-rs's share of jieba's total count."""
PLACE_FREQ = 50_000
"""Frequency given to gazetteer and catalogue words so that jieba keeps them whole."""


class Segmenter:
    """A jieba tokenizer with user dictionaries and extra words, loaded once at construction."""

    def __init__(self, user_dicts: Sequence[str | Path] = (), words: Iterable[str] = ()) -> None:
        self.user_dicts = tuple(str(p) for p in user_dicts)
        self.words = tuple(sorted(set(words)))
        self._tokenizer = jieba.Tokenizer()
        self.fingerprint = self._fingerprint()
        """What the dictionary is made from (jieba's dictionary and version, the user dictionaries, the words, this
        code): the key of its cached copy, and part of the key of anything cached from this segmenter's words."""
        # jieba reads its own cache with marshal.load on a file (0.8 s). The whole dictionary, the project's words
        # added, is cached in parts, one per first character, and a part is read when a text first holds that
        # character: every lookup of a block starts at one of its characters, so the words a cut can look up are
        # always there, and the same as the whole dictionary's to the last count. A process that cuts one call
        # reads a few hundred small parts instead of half a million words (0.2 s).
        state = cached("segmenter", self.fingerprint, self._build, _valid_state)
        parts, total, tags, force_split, user_words, native_words = state
        self._tokenizer.FREQ, self._tokenizer.total = {}, total
        self._pending: dict[str, bytes] = dict(parts)
        """The dictionary's parts not read yet, by first character."""
        self._reading = threading.Lock()
        self._tokenizer.user_word_tag_tab.update(tags)
        self._tokenizer.initialized = True
        for word in force_split:
            finalseg.add_force_split(word)  # jieba's global HMM split list, as `add_word(word, 0)` leaves it
        self.user_words: set[str] = set(user_words)
        """Every word the project added: hotline terms, places, units and duties."""
        self._recent: dict[str, list[str]] = {}
        """The words of the last few texts cut: the features and the knowledge base's search cut the same call."""
        self._recent_for: tuple[int, int] = self._dictionary_state()
        self._native_words: list[tuple[str, int]] = native_words
        """The words whose count differs from jieba's own dictionary, and their counts: what jieba-rs must be told."""
        self._native_for = self._recent_for if not force_split else None
        """The dictionary state jieba-rs cuts as this dictionary does (None: never, a word is forced apart)."""
        self._native: Any = None
        self._chars_cut = 0

    def _fingerprint(self) -> bytes:
        dictionaries = []
        for path in self.user_dicts:
            try:
                dictionaries.append(Path(path).read_bytes())
            except FileNotFoundError as exc:
                raise DataFileError(path, "user dictionary not found") from exc
        return fingerprint(
            f"jieba {jieba.__version__}, place frequency {PLACE_FREQ}",
            Path(jieba.__file__).parent / jieba.DEFAULT_DICT_NAME,
            Path(__file__),
            *dictionaries,
            self.words,
        )

    def _build(self) -> tuple[dict[str, bytes], int, dict[str, str], list[str], list[str]]:
        """jieba's dictionary, then the user dictionaries' words, then the extra words: what the cache holds (the
        dictionary as parts by first character, each a marshalled dict)."""
        self._tokenizer.initialize()
        jiebas = dict(self._tokenizer.FREQ)
        user_words, force_split = set(self.words), []
        for path in self.user_dicts:
            force_split += self._load_user_dict(Path(path), user_words)
        for word in self.words:
            self._tokenizer.add_word(word, freq=PLACE_FREQ)
        tokenizer = self._tokenizer
        by_first: dict[str, dict[str, int]] = {}
        for word, count in tokenizer.FREQ.items():
            by_first.setdefault(word[0], {})[word] = count
        parts = {first: marshal.dumps(words) for first, words in by_first.items()}
        native_words = [(word, count) for word, count in tokenizer.FREQ.items() if count and jiebas.get(word) != count]
        # jieba adds an added word's count to its total without taking the old count off; jieba-rs keeps the sum.
        # The difference goes to a character no block ever holds, so that both divide by the same total.
        native_words.append((_PAD, tokenizer.total - sum(tokenizer.FREQ.values())))
        return parts, tokenizer.total, tokenizer.user_word_tag_tab, force_split, sorted(user_words), native_words

    def _read_parts(self, text: str) -> None:
        """Read the dictionary's parts for the characters of `text` not read yet (a part is dropped from
        `_pending` only once it is in the dictionary: a thread that sees none pending can cut at once)."""
        pending = self._pending
        if not pending:
            return
        needed = pending.keys() & set(text)
        if not needed:
            return
        with self._reading:
            freq = self._tokenizer.FREQ
            for first in needed:
                part = pending.get(first)
                if part is not None:
                    freq.update(marshal.loads(part))
                    del pending[first]

    def read_all(self) -> None:
        """Read every part of the dictionary now (a batch reads most of them anyway)."""
        with self._reading:
            freq = self._tokenizer.FREQ
            for first in list(self._pending):
                freq.update(marshal.loads(self._pending.pop(first)))

    def _load_user_dict(self, path: Path, user_words: set[str]) -> list[str]:
        """Add a user dictionary's words; returns those given frequency 0 (jieba always splits them)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise DataFileError(path, "user dictionary not found") from exc
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataFileError(path, f"not valid UTF-8 at byte {exc.start}") from exc
        force_split = []
        for number, line in enumerate(lines, start=1):
            parts = line.strip().split()
            if not parts:
                continue
            if len(parts) > 3 or (len(parts) >= 2 and not parts[1].isdigit()):
                raise DataFileError(path, "expected 'word [freq] [tag]'", line=number)
            freq = int(parts[1]) if len(parts) >= 2 else None
            user_words.add(parts[0])
            self._tokenizer.add_word(parts[0], freq=freq, tag=parts[2] if len(parts) == 3 else None)
            if freq == 0:
                force_split.append(parts[0])
        return force_split

    def cut(self, text: str) -> list[str]:
        """Words of `text`, without spaces and punctuation (jieba's accurate mode with HMM, word for word)."""
        state = self._dictionary_state()
        if state != self._recent_for:  # a word added since (jieba's split list is every tokenizer's)
            self._recent, self._recent_for = {}, state
        known = self._recent.get(text)
        if known is not None:
            return list(known)
        words = self._cut(text)
        recent = self._recent
        try:
            while len(recent) >= RECENT_TEXTS:
                del recent[next(iter(recent))]  # the oldest
        except (KeyError, RuntimeError, StopIteration):  # another thread changed it meanwhile
            recent.clear()
        recent[text] = list(words)
        return words

    def _dictionary_state(self) -> tuple[int, int]:
        """What changes when a word is added (jieba's `add_word` adds its count to the total, or a count of 0 to
        the split list); not the dictionary's size, which grows as its parts are read and changes no cut."""
        return self._tokenizer.total, len(finalseg.Force_Split_Words)

    def prepare_batch(self) -> None:
        """Ready to cut a batch: jieba-rs built now, or, where it cannot be, the whole dictionary read."""
        if self._build_native() is None:
            self.read_all()

    def _native_jieba(self) -> Any:
        """jieba-rs, told this dictionary's words, once this process has cut enough text to pay for building it;
        None while it has not, where jieba-rs is missing, or where it would not cut as this dictionary does (a word
        added since, or forced apart)."""
        if self._native is None and self._chars_cut < NATIVE_AFTER_CHARS:
            return None
        return self._build_native()

    def _build_native(self) -> Any:
        if self._native is None and self._native_for is not None:
            with self._reading:
                if self._native is None:
                    try:
                        import rjieba
                    except ImportError:
                        logger.info("rjieba is not installed: segmenting in Python")
                        self._native_for = None
                        return None
                    native = rjieba.Jieba()  # jieba's own dictionary, built in Rust
                    for word, count in self._native_words:
                        native.add_word(word, count, None)
                    self._native = native
        if self._native is None or self._native_for != self._dictionary_state():
            return None
        return self._native

    def _cut(self, text: str) -> list[str]:
        self._chars_cut += len(text)
        native = self._native_jieba()
        if native is not None and not _NOT_NATIVE.search(text):
            words = self._cut_routed(text, native)
            if words is not None:
                return words
        if native is None:
            self._read_parts(text)
        return self._cut_pieces(text, native)

    def _cut_routed(self, text: str, native: Any) -> list[str] | None:
        """jieba's accurate mode with HMM, from jieba-rs's best route (its cut without HMM): runs of single characters
        go through the HMM here, as jieba's `__cut_DAG` sends them (jieba-rs's own HMM breaks some ties otherwise).
        None where the route cannot be read back for sure (an English word of the dictionary)."""
        get = native.has_word  # a word of the dictionary, counted (jieba's prefixes are not)
        words: list[str] = []
        run: list[str] = []  # the single characters of the route since the last word
        for token in native.cut(text, False):
            if len(token) == 1:
                if "\u4e00" <= token <= "\u9fd5" or (token.isascii() and token.isalnum()):
                    run.append(token)
                    continue
            elif token.isascii() and token.isalnum():  # jieba without HMM joins single letters and digits
                if get(token):
                    return None  # ... or it is a word of the dictionary
                run.extend(token)
                continue
            if run:
                words += _run_words("".join(run), get)
                run = []
            if "\u4e00" <= token[0] <= "\u9fd5" or (token[0].isascii() and token[0].isalnum()):
                words.append(token)  # a word of the route
            else:  # spaces, punctuation, letters outside jieba's blocks: letters one by one
                words.extend(c for c in token if _WORD.match(c))
        if run:
            words += _run_words("".join(run), get)
        return words

    def _cut_pieces(self, text: str, native: Any = None) -> list[str]:
        """jieba's blocks one by one, each through `_cut_block`, or through jieba-rs's route (`native`) where it
        cuts the block as jieba does."""
        words: list[str] = []
        cut_block = self._cut_block
        logtotal = log(self._tokenizer.total)
        symbols = _BLOCK_SYMBOL.search(text) is not None
        # jieba's blocks and, between them, the single characters that are letters (spaces never are), in one pass
        for piece in _PIECE.finditer(text):
            block = piece.group(1)
            if block is None:
                words.append(piece.group())
                continue
            found = None
            if native is not None and len(block) > 1 and not _NOT_NATIVE.search(block):
                found = self._cut_routed(block, native)
            if found is None:
                if native is not None:  # the parts this block needs, only: jieba-rs holds the words of the rest
                    self._read_parts(block)
                found = cut_block(block, logtotal)
            # a word is kept unless made only of the block's few symbols (+#&._%-): without any of them in the
            # block (most blocks), every word is letters, digits or characters and is kept
            words += [w for w in found if w.isalnum() or _WORD.search(w)] if symbols and _SYMBOL.search(block) else found
        return words

    def _cut_block(self, block: str, logtotal: float | None = None) -> list[str]:
        """jieba's `Tokenizer.__cut_DAG` in one tight loop: the same dictionary, route, ties and HMM fallback.

        jieba builds a DAG dict, then a route dict through a generator of tuples per character; segmentation
        was a third of a batch's time. This computes the same best route right to left without them, with one
        dictionary lookup per candidate word (jieba's dictionary also holds every word's prefixes, with count 0).
        """
        n = len(block)
        if n == 1:
            return [block]
        get = self._tokenizer.FREQ.get
        if logtotal is None:
            logtotal = log(self._tokenizer.total)
        value = [0.0] * (n + 1)
        end = list(range(1, n + 1))  # where the best word starting at each character ends
        after = 0.0  # value[k + 1]
        for k in range(n - 1, -1, -1):
            count = get(block[k])
            if count is None:  # not even a prefix: the character alone, with jieba's count of 1 (log 1 = 0)
                after = value[k] = -logtotal + after
                continue
            best = log(count) - logtotal + after if count else None
            i = k + 2
            while i <= n:
                count = get(block[k:i])
                if count is None:
                    break
                if count:
                    v = log(count) - logtotal + value[i]
                    if best is None or v >= best:  # jieba takes max((v, i)): on a tie the longer word wins
                        best = v
                        end[k] = i
                i += 1
            after = value[k] = -logtotal + after if best is None else best
        words: list[str] = []
        # a run of single characters is, as jieba's `__cut_DAG` has it, one character, its HMM's guess (a run not
        # in the dictionary), or the characters one by one
        run = -1  # start of the current run of single characters
        x = 0
        while x < n:
            y = end[x]
            if y - x == 1:
                if run < 0:
                    run = x
            else:
                if run >= 0:
                    words += _run_words(block[run:x], get)
                    run = -1
                words.append(block[x:y])
            x = y
        if run >= 0:
            words += _run_words(block[run:], get)
        return words

    def __call__(self, text: str) -> list[str]:
        return self.cut(text)

    def __reduce__(self) -> tuple[type[Segmenter], tuple[tuple[str, ...], tuple[str, ...]]]:
        return (Segmenter, (self.user_dicts, self.words))


def _valid_state(value: object) -> bool:
    """The shape `Segmenter._build` returns (the checksum already vouches for the content)."""
    return (
        isinstance(value, tuple)
        and len(value) == 6
        and isinstance(value[0], dict)
        and all(isinstance(k, str) and isinstance(v, bytes) for k, v in value[0].items())
        and isinstance(value[1], int)
        and isinstance(value[2], dict)
        and all(isinstance(v, list) for v in value[3:])
        and all(isinstance(pair, tuple) and len(pair) == 2 for pair in value[5])
    )


def _run_words(run: str, known: Any) -> list[str]:
    """A run of single characters on the best route, as jieba's `__cut_DAG` yields it: a character alone as it is, a
    run the dictionary does not know (`known`: its counted words) as the HMM cuts it, a known one character by
    character."""
    if len(run) == 1:
        return [run]
    return list(run) if known(run) else _hmm_cut(run)


_HMM_SEEN: dict[str, list[str]] = {}
"""Runs the HMM has cut, and their words: the same short runs (的了, 我们小区) come back in nearly every text."""
_HMM_SEEN_MAX = 50_000


def _hmm_cut(text: str) -> list[str]:
    """`jieba.finalseg.cut`, with the Viterbi pass below: same blocks, same words, same forced splits."""
    if finalseg.Force_Split_Words:  # jieba's global list, which any tokenizer may add to
        return _hmm_cut_now(text)
    words = _HMM_SEEN.get(text)
    if words is None:
        if len(_HMM_SEEN) >= _HMM_SEEN_MAX:
            _HMM_SEEN.clear()
        words = _HMM_SEEN[text] = _hmm_cut_now(text)
    return words


def _hmm_cut_now(text: str) -> list[str]:
    if finalseg.re_han.fullmatch(text):  # the usual run, Chinese characters only: one block, no splitting
        return _hmm_block(text)
    words: list[str] = []
    for block in finalseg.re_han.split(text):
        if finalseg.re_han.match(block):
            words.extend(_hmm_block(block))
        else:
            words.extend(x for x in finalseg.re_skip.split(block) if x)
    return words


def _hmm_block(block: str) -> list[str]:
    words = _hmm_words(block)
    if not finalseg.Force_Split_Words:
        return words
    return [part for word in words for part in (word if word in finalseg.Force_Split_Words else (word,))]


def _hmm_tables() -> tuple[tuple[float, float, float, float], tuple[float, ...], dict[str, tuple[float, float, float, float]]]:
    """jieba's HMM as plain tuples: start and transition log-probabilities, and per character its four emissions.

    Looked up once at import instead of eight transition lookups per run and four emission lookups per character;
    the values are jieba's own (MIN_FLOAT where it has none), so every sum is the same.
    """
    start, trans, emit, low = finalseg.start_P, finalseg.trans_P, finalseg.emit_P, finalseg.MIN_FLOAT
    states = "BMES"
    starts = tuple(start[s] for s in states)
    pairs = ("EB", "SB", "BM", "MM", "BE", "ME", "ES", "SS")
    transitions = tuple(trans[a].get(b, low) for a, b in pairs)
    chars = set().union(*(emit[s] for s in states))
    emissions = {c: tuple(emit[s].get(c, low) for s in states) for c in chars}
    return starts, transitions, emissions  # type: ignore[return-value]


def _cached_hmm_tables() -> tuple[tuple[float, float, float, float], tuple[float, ...], dict[str, tuple[float, float, float, float]]]:
    """`_hmm_tables`, read back from the derived-data cache: building them was 0.02-0.03 s of every start. The
    tables are jieba's numbers, kept exactly (marshal writes floats bit for bit), keyed by jieba's version."""
    key = fingerprint("jieba hmm tables 1", str(getattr(jieba, "__version__", "")), Path(__file__))

    def valid(value: object) -> bool:
        return isinstance(value, tuple) and len(value) == 3 and isinstance(value[2], dict) and len(value[2]) > 1000

    starts, transitions, emissions = cached("hmm-tables", key, _hmm_tables, valid)
    return tuple(starts), tuple(transitions), emissions  # type: ignore[return-value]


_HMM_START, _HMM_TRANS, _HMM_EMIT = _cached_hmm_tables()
_HMM_UNSEEN = (finalseg.MIN_FLOAT,) * 4
_B, _M, _E, _S = range(4)
"""jieba's states B, M, E, S as indices into a step's back-pointers."""


def _hmm_words(block: str) -> list[str]:
    """jieba's BMES Viterbi, unrolled over its four states with back-pointers instead of copied paths.

    Sums are formed in jieba's order and ties go the way `max((prob, state))` sends them (the later
    letter), so the tags are the same.
    """
    eb, sb, bm, mm, be, me, es, ss = _HMM_TRANS
    get, unseen = _HMM_EMIT.get, _HMM_UNSEEN
    e_b, e_m, e_e, e_s = get(block[0], unseen)
    s_b, s_m, s_e, s_s = _HMM_START
    v_b, v_m, v_e, v_s = s_b + e_b, s_m + e_m, s_e + e_e, s_s + e_s
    back: list[tuple[int, int, int, int]] = []
    for c in block[1:]:
        e_b, e_m, e_e, e_s = get(c, unseen)
        p1, p2 = v_e + eb + e_b, v_s + sb + e_b
        n_b, from_b = (p2, _S) if p2 >= p1 else (p1, _E)
        p1, p2 = v_b + bm + e_m, v_m + mm + e_m
        n_m, from_m = (p2, _M) if p2 >= p1 else (p1, _B)
        p1, p2 = v_b + be + e_e, v_m + me + e_e
        n_e, from_e = (p2, _M) if p2 >= p1 else (p1, _B)
        p1, p2 = v_e + es + e_s, v_s + ss + e_s
        n_s, from_s = (p2, _S) if p2 >= p1 else (p1, _E)
        back.append((from_b, from_m, from_e, from_s))
        v_b, v_m, v_e, v_s = n_b, n_m, n_e, n_s
    state = _S if v_s >= v_e else _E
    tags = [state]
    for pointers in reversed(back):
        state = pointers[state]
        tags.append(state)
    tags.reverse()
    words: list[str] = []
    begin = next_i = 0
    for i, tag in enumerate(tags):
        if tag == _B:
            begin = i
        elif tag == _E:
            words.append(block[begin : i + 1])
            next_i = i + 1
        elif tag == _S:
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
