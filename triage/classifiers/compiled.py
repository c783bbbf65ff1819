"""Stages 3 and 4 as served: the fitted featurizer and heads as plain arrays, without scikit-learn.

Training fits scikit-learn estimators (triage/features.py, linear.py, multihead.py); what they compute at
prediction time is a few array operations. Each estimator's `compiled()` gives that computation as one of these
objects, which the estimators themselves use to predict and a bundle stores as arrays plus a little JSON.
Loading one therefore imports neither scikit-learn (over half a second) nor a pickle, and a served suggestion is
the same to the bit as the estimator's (tests/triage/test_compiled.py).

Only numpy and scipy's sparse matrices are imported here: scipy.special alone took 0.05-0.08 s of every start, for
two functions written out below as scipy computes them.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from triage.collector import collection_paused
from triage.segment import tokenize

WHITE_SPACES = re.compile(r"\s\s+")
"""scikit-learn's whitespace rule for character n-grams (`_VectorizerMixin._white_spaces`)."""
CODE_BITS = 21
"""Unicode code points fit in 21 bits, so up to three characters pack into one 64-bit key."""
MAX_PACKED = 64 // CODE_BITS
EPS = 1e-6
"""The probability floor of temperature and isotonic recalibration (calibration.py fits with the same)."""
SEPARATOR = "\x00"
"""Joins a vocabulary's terms into one stored string (normalised text never holds it)."""


def check_texts(texts: object, *, name: str = "texts") -> list[str]:
    """Accept a sequence of strings; refuse a bare string (a classic mistake) or non-strings."""
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of strings, not a single string; wrap it in a list")
    if not isinstance(texts, Sequence | np.ndarray) and not hasattr(texts, "__iter__"):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    values = list(texts)  # type: ignore[call-overload]
    for i, text in enumerate(values):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] is {type(text).__name__}, expected str")
    return values


# ------------------------------------------------------------------------------------------- vocabularies


def pack_vocabulary(vocabulary: Mapping[str, int], lengths: range) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per n-gram length in `lengths`: the vocabulary's n-grams as sorted packed keys, and their columns."""
    keys: dict[int, list[int]] = {n: [] for n in lengths}
    columns: dict[int, list[int]] = {n: [] for n in lengths}
    for gram, column in vocabulary.items():
        if len(gram) in keys:
            key = 0
            for char in gram:
                key = (key << CODE_BITS) | ord(char)
            keys[len(gram)].append(key)
            columns[len(gram)].append(column)
    out_keys, out_columns = [], []
    for n in lengths:
        packed = np.asarray(keys[n], dtype=np.uint64)
        order = np.argsort(packed, kind="stable")
        out_keys.append(packed[order])
        out_columns.append(np.asarray(columns[n], dtype=np.int64)[order])
    return out_keys, out_columns


HASH_FROM = 20_000
"""Characters in a batch from which its n-grams are found in a hash table (built on first need, once per
vocabulary and process) rather than by binary search: a few milliseconds to build, several times faster to read."""
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.uint64(2**64 - 1)
"""No packed key is all ones: three characters take 63 bits."""


class PackedHash:
    """Sorted packed keys and their columns as an open-addressing hash table (linear probing, half full)."""

    def __init__(self, keys: np.ndarray, columns: np.ndarray) -> None:
        bits = max(4, int(2 * len(keys) - 1).bit_length())
        self.shift = np.uint64(64 - bits)
        self.mask = np.int64((1 << bits) - 1)
        self.keys = np.full(1 << bits, _EMPTY, dtype=np.uint64)
        self.columns = np.full(1 << bits, -1, dtype=np.int64)
        slot = self._slot(keys)
        todo = np.arange(len(keys))
        while len(todo):
            at = slot[todo]
            free = self.keys[at] == _EMPTY
            # of the keys that want one free slot this round, the first takes it; the rest probe on
            claim, first = np.unique(at[free], return_index=True)
            placed = todo[free][first]
            self.keys[claim], self.columns[claim] = keys[placed], columns[placed]
            waiting = np.ones(len(todo), dtype=bool)
            waiting[np.flatnonzero(free)[first]] = False
            todo = todo[waiting]
            slot[todo] = (slot[todo] + 1) & self.mask

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _MULTIPLIER) >> self.shift).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Each key's column, -1 where it is not in the vocabulary."""
        out = np.full(len(keys), -1, dtype=np.int64)
        slot = self._slot(keys)
        todo = np.arange(len(keys))
        while len(todo):
            at = slot[todo]
            held = self.keys[at]
            hit = held == keys[todo]
            out[todo[hit]] = self.columns[at[hit]]
            todo = todo[~hit & (held != _EMPTY)]
            slot[todo] = (slot[todo] + 1) & self.mask
        return out


def packed_hits(
    docs: Sequence[str],
    lengths: range,
    keys: Sequence[np.ndarray],
    columns: Sequence[np.ndarray],
    hashed: list[PackedHash | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every character n-gram of `docs` in a packed vocabulary, n by n, in text order.

    The batch is one array of code points; an n-gram is packed into one integer and found by binary search (or,
    for a large batch, in the hash table kept in `hashed`, one per length), and n-grams that would run from one
    text into the next are dropped.
    """
    sizes = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    ends = np.cumsum(sizes)
    code = np.frombuffer("".join(docs).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    row_of = np.repeat(np.arange(len(docs), dtype=np.int64), sizes)
    rows, found = [], []
    for n, table, cols in zip(lengths, keys, columns, strict=True):
        m = len(code) - n + 1
        if m <= 0 or not len(table):
            continue
        key = code[:m].copy()
        for k in range(1, n):
            key <<= np.uint64(CODE_BITS)
            key |= code[k : k + m]
        row = row_of[:m]
        inside = np.arange(n, m + n, dtype=np.int64) <= ends[row]
        k = n - lengths[0]
        if hashed is not None and len(code) >= HASH_FROM:
            if hashed[k] is None:
                hashed[k] = PackedHash(table, cols)
            column = hashed[k].lookup(key)  # type: ignore[union-attr]
            hit = (column >= 0) & inside
            column = column[hit]
        else:
            at = np.minimum(np.searchsorted(table, key), len(table) - 1)
            hit = (table[at] == key) & inside
            column = cols[at[hit]]
        rows.append(row[hit])
        found.append(column)
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(rows), np.concatenate(found)


def join_terms(terms: Sequence[str]) -> np.ndarray:
    """Terms in column order as one stored array (UTF-8 bytes joined by SEPARATOR)."""
    if any(SEPARATOR in t for t in terms):
        raise ValueError("a vocabulary term holds the separator character U+0000")
    return np.frombuffer(SEPARATOR.join(terms).encode("utf-8"), dtype=np.uint8)


def split_terms(blob: np.ndarray, count: int) -> list[str]:
    terms = bytes(blob).decode("utf-8").split(SEPARATOR) if count else []
    if len(terms) != count:
        raise ValueError(f"a stored vocabulary holds {len(terms)} terms, expected {count}")
    return terms


# ------------------------------------------------------------------------------------------- TF-IDF


def counts_matrix(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_features: int, dtype: np.dtype) -> sp.csr_matrix:
    """Term counts as scikit-learn's vectorisers build them: same dtype, same sorted indices."""
    keys, counts = np.unique(rows * n_features + columns, return_counts=True)  # sorted by row, then column
    index_dtype = np.int32 if max(len(keys), n_features) <= np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    np.cumsum(np.bincount(keys // n_features, minlength=n_rows), out=indptr[1:])
    X = sp.csr_matrix((counts.astype(dtype), (keys % n_features).astype(index_dtype), indptr), shape=(n_rows, n_features))
    X.has_sorted_indices = True
    return X


def normalise_rows_l2(X: sp.csr_matrix) -> None:
    """Scale each row to unit length in place, as scikit-learn's `inplace_csr_row_normalize_l2` does to the bit.

    That loop adds each row's squares (products in the data's precision) one by one in double precision; adding
    the k-th entry of every row at once, k by k, keeps that order while numpy does the work.
    """
    lengths = np.diff(X.indptr).astype(np.int64)
    if not X.nnz:
        return
    squares = X.data * X.data
    order = np.argsort(-lengths, kind="stable")  # longest rows first: the rows still adding are a prefix
    starts = X.indptr[:-1].astype(np.int64)[order]
    active = np.searchsorted(-lengths[order], -np.arange(1, int(lengths.max()) + 1), side="right")
    total = np.zeros(len(order))
    for k, n in enumerate(active.tolist()):
        total[:n] += squares[starts[:n] + k]
    norms = np.zeros(len(order))
    norms[order] = np.sqrt(total)
    per_entry = np.repeat(norms, lengths)
    scale = per_entry != 0.0
    X.data[scale] = (X.data[scale].astype(np.float64) / per_entry[scale]).astype(X.data.dtype)


@dataclass(eq=False)
class CompiledTfidf:
    """One fitted TF-IDF vectoriser: its vocabulary, IDF and weighting, as `TfidfVectorizer.transform` applies them.

    Words (`analyzer="word"`, the project's tokenizer) are found by a binary search or a dictionary lookup each
    (`_word_lookup`); character n-grams among packed keys (`keys` and `columns`, one array per length; `packed_hits`).
    """

    analyzer: str
    ngram_range: tuple[int, int]
    n_features: int
    idf: np.ndarray
    sublinear_tf: bool = True
    norm: str | None = "l2"
    dtype: str = "float32"
    terms: np.ndarray | None = None
    """Words only: the vocabulary in column order (`join_terms`)."""
    keys: list[np.ndarray] = field(default_factory=list)
    columns: list[np.ndarray] = field(default_factory=list)
    tokens: np.ndarray | None = None
    """Words only: the tokens the terms are made of, in id order (`join_terms`; `_NgramTable`). None in a bundle
    trained before it: words are then looked up as strings."""
    ngram_keys: list[np.ndarray] = field(default_factory=list)
    ngram_columns: list[np.ndarray] = field(default_factory=list)
    """Words only: per n-gram length from `ngram_range[0]` on, the terms' token ids packed into one integer each
    (sorted), and each one's column."""

    def __post_init__(self) -> None:
        self.ngram_range = (int(self.ngram_range[0]), int(self.ngram_range[1]))
        if self.analyzer not in ("word", "char") or self.norm not in ("l2", None):
            raise ValueError(f"cannot serve analyzer={self.analyzer!r}, norm={self.norm!r}")
        self._index: dict[str, int] | None = None
        self._terms: list[str] | None = None
        self._sorted: bool | None = None
        self._hashed: list[PackedHash | None] = [None] * len(self.keys)
        self._table: _NgramTable | None = None

    @classmethod
    def from_vectorizer(cls, vectorizer: Any, tokenizer: Callable[[str], list[str]]) -> CompiledTfidf:
        """The serving form of a fitted `TfidfVectorizer`; ValueError for a configuration it cannot reproduce."""
        plain = (
            not vectorizer.binary and vectorizer.input == "content" and not vectorizer.lowercase
            and vectorizer.preprocessor is None and vectorizer.strip_accents is None and vectorizer.stop_words is None
            and vectorizer.use_idf
        )
        min_n, max_n = vectorizer.ngram_range
        if vectorizer.analyzer == "char":
            plain = plain and 1 <= min_n <= max_n <= MAX_PACKED
        else:
            plain = plain and vectorizer.analyzer == "word" and vectorizer.tokenizer is tokenizer
        if not plain:
            raise ValueError("this vectoriser's configuration has no compiled form (a custom tokenizer, lowercase, binary …)")
        vocabulary = vectorizer.vocabulary_
        common = {
            "ngram_range": (min_n, max_n), "n_features": len(vocabulary), "idf": np.asarray(vectorizer.idf_),
            "sublinear_tf": bool(vectorizer.sublinear_tf), "norm": vectorizer.norm, "dtype": np.dtype(vectorizer.dtype).name,
        }
        if vectorizer.analyzer == "char":
            keys, columns = pack_vocabulary(vocabulary, range(min_n, max_n + 1))
            return cls("char", keys=keys, columns=columns, **common)
        terms = [""] * len(vocabulary)
        for term, column in vocabulary.items():
            terms[column] = term
        table = _NgramTable.build(terms, (min_n, max_n))
        if table is None:  # no table for this vocabulary (`_NgramTable.build`): its words are looked up as strings
            return cls("word", terms=join_terms(terms), **common)
        return cls(
            "word", terms=join_terms(terms), tokens=join_terms(list(table.ids)),
            ngram_keys=[table.keys[n] for n in range(min_n, max_n + 1)],
            ngram_columns=[table.columns[n] for n in range(min_n, max_n + 1)], **common,
        )

    def vocabulary(self) -> list[str]:
        """Word features in column order."""
        if self._terms is None:
            self._terms = split_terms(self.terms, self.n_features) if self.terms is not None else []
        return self._terms

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        if not texts:
            return sp.csr_matrix((0, self.n_features), dtype=self.dtype)
        if self.analyzer == "char":
            docs = [WHITE_SPACES.sub(" ", text) for text in texts]
            rows, columns = packed_hits(docs, range(self.ngram_range[0], self.ngram_range[1] + 1), self.keys, self.columns, self._hashed)
        else:
            rows, columns = self._word_hits(texts)
        X = counts_matrix(rows, columns, len(texts), self.n_features, np.dtype(self.dtype))
        if self.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        X.data *= self.idf[X.indices]
        if self.norm == "l2":
            normalise_rows_l2(X)
        return X

    def _word_hits(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        characters = sum(map(len, texts))
        tokens = [tokenize(text) for text in texts]
        if self.tokens is not None and (characters >= HASH_FROM or self._table is not None):
            if self._table is None:  # once per process: a dictionary of the tokens (50,000 in the full model)
                self._table = _NgramTable.stored(self.tokens, self.ngram_range[0], self.ngram_keys, self.ngram_columns)
            return self._table.hits(tokens, self._string_hits)
        return self._string_hits(tokens, range(len(texts)), characters)

    def _string_hits(self, tokens: Sequence[list[str]], rows: Sequence[int], characters: int = HASH_FROM) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of each word n-gram of tokenised texts, looked up as strings (tokens joined by a space)."""
        lookup = self._word_lookup(characters)
        min_n, max_n = self.ngram_range
        columns: list[int] = []
        lengths: list[int] = []
        for words in tokens:
            found = [j for j in map(lookup, _word_ngrams(words, min_n, max_n)) if j is not None]
            columns.extend(found)
            lengths.append(len(found))
        return np.repeat(np.asarray(rows, dtype=np.int64), lengths), np.asarray(columns, dtype=np.int64)

    def _word_lookup(self, characters: int) -> Callable[[str], int | None]:
        """Term -> column. A batch of at least HASH_FROM characters gets a dictionary (built once, kept); a
        smaller one, while none is built, a binary search of the vocabulary, which scikit-learn keeps sorted
        (so one call does not pay for hashing 300,000 terms first)."""
        if self._index is None and characters < HASH_FROM and self._vocabulary_sorted():
            terms = self.vocabulary()
            size = len(terms)

            def search(term: str) -> int | None:
                j = bisect.bisect_left(terms, term)
                return j if j < size and terms[j] == term else None

            return search
        if self._index is None:
            self._index = {term: j for j, term in enumerate(self.vocabulary())}
        return self._index.get

    def _vocabulary_sorted(self) -> bool:
        if self._sorted is None:
            terms = self.vocabulary()
            self._sorted = all(map(operator.lt, terms, itertools.islice(terms, 1, None)))
        return self._sorted


@dataclass(eq=False)
class _NgramTable:
    """A word vocabulary as integers: each token of its terms an id, each n-gram its ids packed into one integer
    (base `base`), sorted per length beside its column. A batch's n-grams are then found by numpy: no n-gram is
    joined into a string or hashed, and the (row, column) pairs are those the strings give."""

    ids: dict[str, int]
    base: int
    keys: dict[int, np.ndarray]
    columns: dict[int, np.ndarray]

    @classmethod
    def build(cls, terms: Sequence[str], ngram_range: tuple[int, int]) -> _NgramTable | None:
        """The table of a vocabulary in column order; None where a term does not split into its tokens at the
        spaces (a token that holds a space) or the packed keys would not fit in 62 bits."""
        min_n, max_n = ngram_range
        with collection_paused():  # 300,000 terms' parts: the collector would walk the heap again and again
            split = [term.split(" ") for term in terms]
            lengths = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
            parts = list(itertools.chain.from_iterable(split))
            ids = {part: k for k, part in enumerate(dict.fromkeys(parts))}
        base = len(ids) + 1
        if not len(lengths) or not min_n <= lengths.min() <= lengths.max() <= max_n or "" in ids or base**max_n >= 2**62:
            return None
        token = np.fromiter(map(ids.__getitem__, parts), dtype=np.int64, count=len(parts))
        starts = np.cumsum(lengths) - lengths
        keys, columns = {}, {}
        for n in range(min_n, max_n + 1):
            column = np.flatnonzero(lengths == n)
            key = token[starts[column]]
            for k in range(1, n):
                key = key * base + token[starts[column] + k]
            order = np.argsort(key, kind="stable")
            keys[n], columns[n] = key[order], column[order].astype(np.int64)
        return cls(ids, base, keys, columns)

    @classmethod
    def stored(cls, tokens: np.ndarray, first: int, keys: Sequence[np.ndarray], columns: Sequence[np.ndarray]) -> _NgramTable:
        """The table from what a bundle stores (`CompiledTfidf.tokens`, `ngram_keys`, `ngram_columns`)."""
        ids = {token: k for k, token in enumerate(bytes(tokens).decode("utf-8").split(SEPARATOR))}
        return cls(ids, len(ids) + 1, {first + n: a for n, a in enumerate(keys)}, {first + n: a for n, a in enumerate(columns)})

    def hits(
        self, tokens: Sequence[list[str]], fallback: Callable[[Sequence[list[str]], Sequence[int]], tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every n-gram of the tokenised texts that is a term, in no set order (the counts do not
        depend on it). A text with a token holding a space is looked up by `fallback`, as strings."""
        get = self.ids.get
        flat: list[int] = []
        lengths: list[int] = []
        odd: list[int] = []
        for row, words in enumerate(tokens):
            if " " in "".join(words):
                odd.append(row)
                lengths.append(0)
                continue
            flat.extend([get(word, -1) for word in words])  # -1: a token of no term, so in no n-gram that is one
            lengths.append(len(words))
        token = np.asarray(flat, dtype=np.int64)
        row_of = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
        rows_out, columns_out = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for n, keys in self.keys.items():
            m = len(token) - n + 1
            if m <= 0 or not len(keys):
                continue
            key = token[:m].copy()
            valid = key >= 0
            for k in range(1, n):
                following = token[k : k + m]
                valid &= following >= 0
                key = key * self.base + following
            valid &= row_of[:m] == row_of[n - 1 : n - 1 + m]  # an n-gram never runs from one text into the next
            key, rows = key[valid], row_of[:m][valid]
            at = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
            found = keys[at] == key
            rows_out.append(rows[found])
            columns_out.append(self.columns[n][at[found]])
        if odd:
            odd_rows, odd_columns = fallback([tokens[row] for row in odd], odd)
            rows_out.append(odd_rows)
            columns_out.append(odd_columns)
        return np.concatenate(rows_out), np.concatenate(columns_out)


def _word_ngrams(tokens: list[str], min_n: int, max_n: int) -> list[str]:
    """scikit-learn's word n-grams (`_VectorizerMixin._word_ngrams` without stop words): n tokens joined by a space."""
    if max_n == 1:
        return tokens
    out = list(tokens) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n, len(tokens)) + 1):
        shifted = (itertools.islice(tokens, k, None) for k in range(n))  # the shortest run ends the n-grams
        out.extend(map(" ".join, zip(*shifted, strict=False)))
    return out


@dataclass(eq=False)
class CompiledFeaturizer:
    """`TextFeaturizer.transform`: word TF-IDF (weighted) beside character TF-IDF."""

    words: CompiledTfidf
    chars: CompiledTfidf
    word_weight: float = 1.0

    @property
    def n_features_out_(self) -> int:
        return self.words.n_features + self.chars.n_features

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        texts = check_texts(texts)
        words = self.words.transform(texts)
        if self.word_weight != 1.0:
            words = words * self.word_weight
        return hstack_csr(words, self.chars.transform(texts))

    def word_vocabulary(self) -> np.ndarray:
        """Word features in column order (the first block of `transform`)."""
        return np.asarray(self.words.vocabulary(), dtype=object)


def hstack_csr(left: sp.csr_matrix, right: sp.csr_matrix) -> sp.csr_matrix:
    """`sp.hstack([left, right], format="csr")` for two CSR blocks of the same rows, without scipy's generic path."""
    n_rows = left.shape[0]
    n_left = left.shape[1]
    indptr = left.indptr.astype(np.int64) + right.indptr
    size = int(indptr[-1])
    index_dtype = np.int32 if max(size, n_left + right.shape[1]) <= np.iinfo(np.int32).max else np.int64
    data = np.empty(size, dtype=np.result_type(left.dtype, right.dtype))
    indices = np.empty(size, dtype=index_dtype)
    left_rows = np.repeat(np.arange(n_rows), np.diff(left.indptr))
    right_rows = np.repeat(np.arange(n_rows), np.diff(right.indptr))
    to_left = np.arange(left.nnz) + right.indptr[left_rows]
    to_right = np.arange(right.nnz) + left.indptr[right_rows + 1]
    data[to_left], indices[to_left] = left.data, left.indices
    data[to_right], indices[to_right] = right.data, right.indices + n_left
    return sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=(n_rows, n_left + right.shape[1]))


# ------------------------------------------------------------------------------------------- heads


@dataclass(eq=False)
class ScoreMaps:
    """Per class, the map from a margin (or a probability) to a probability: Platt's sigmoid, or an increasing
    piecewise-linear map (isotonic regression: clipped to its range, then interpolated, as scikit-learn does).
    A class without a map (`isotonic_x[k]` empty, recalibration only) keeps its value."""

    kind: str
    a: np.ndarray | None = None
    b: np.ndarray | None = None
    isotonic_x: list[np.ndarray] = field(default_factory=list)
    isotonic_y: list[np.ndarray] = field(default_factory=list)

    def apply(self, k: int, values: np.ndarray) -> np.ndarray:
        if self.kind == "sigmoid":
            return expit(-(self.a[k] * values + self.b[k]))  # type: ignore[index]
        x, y = self.isotonic_x[k], self.isotonic_y[k]
        if not len(x):
            return values
        return np.interp(np.clip(values, x[0], x[-1]), x, y)

    @classmethod
    def sigmoid(cls, a: Sequence[float], b: Sequence[float]) -> ScoreMaps:
        return cls("sigmoid", a=np.asarray(a, dtype=np.float64), b=np.asarray(b, dtype=np.float64))

    @classmethod
    def isotonic(cls, maps: Sequence[Any]) -> ScoreMaps:
        """From fitted `IsotonicRegression`s (None: no map for that class)."""
        xs = [np.asarray(m.X_thresholds_, dtype=np.float64) if m is not None else np.zeros(0) for m in maps]
        ys = [np.asarray(m.y_thresholds_, dtype=np.float64) if m is not None else np.zeros(0) for m in maps]
        return cls("isotonic", isotonic_x=xs, isotonic_y=ys)


PRODUCT_ROWS = 32
"""Rows of a batch multiplied at once by a sparse head (`sparse_product`): the weights' rows they use, made dense,
take about 19 MB at most for the unit head of the full model (55 MB for 256 rows, no faster)."""


def sorted_unique(indices: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """`np.unique(indices)` for column indices below `len(seen)`, several times faster: marked in `seen` (all False,
    and left so), then read back in order. numpy's unique sorts: 4.5 ms for 20,000 indices among 400,000 columns, this 0.7."""
    seen[indices] = True
    used = np.flatnonzero(seen)
    seen[used] = False
    return used


def sparse_product(X: sp.csr_matrix, weights: sp.csr_matrix) -> np.ndarray:
    """`(X @ weights).toarray()` to the bit, about twice as fast for a wide sparse head.

    A sparse-by-sparse product walks a linked list per row, entry by entry. Here each block of rows takes only the
    weights' rows its features use, made dense, and multiplies them as scipy multiplies a sparse matrix by a dense
    one. Each output still sums its terms one by one in the order of the row's features; the terms a sparse product
    skips are products with zero, which leave a sum as it was.
    """
    X = X.tocsr()
    out = np.zeros((X.shape[0], weights.shape[1]), dtype=np.result_type(X.dtype, weights.dtype))
    remap = np.zeros(X.shape[1], dtype=np.int64)
    seen = np.zeros(X.shape[1], dtype=bool)
    for start in range(0, X.shape[0], PRODUCT_ROWS):
        block = X[start : start + PRODUCT_ROWS]
        if not block.nnz:
            continue
        used = sorted_unique(block.indices, seen)
        remap[used] = np.arange(len(used))
        narrow = sp.csr_matrix((block.data, remap[block.indices], block.indptr), shape=(block.shape[0], len(used)))
        out[start : start + block.shape[0]] = narrow @ weights[used].toarray()
    return out


@dataclass(eq=False)
class CompiledHead:
    """`CalibratedLinearClassifier.predict_proba`: margins of the linear model, each class's calibration map, and
    scikit-learn's one-vs-rest normalisation (a two-class head calibrates its one margin as the positive class)."""

    classes: list[str]
    weights: np.ndarray | sp.csr_matrix
    """n_features x n_classes (one column for two classes), sparse when the model was sparsified."""
    intercept: np.ndarray
    maps: ScoreMaps

    def __post_init__(self) -> None:
        self.classes_ = np.asarray(self.classes)

    @property
    def n_features_in_(self) -> int:
        return int(self.weights.shape[0])

    def margins(self, X: Any) -> np.ndarray:
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input")
        if not sp.issparse(self.weights) or not sp.issparse(X):
            product = X @ self.weights
            return (product.toarray() if sp.issparse(product) else np.asarray(product)) + self.intercept
        return sparse_product(X, self.weights) + self.intercept

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.proba_from_margins(self.margins(X))

    def proba_from_margins(self, scores: np.ndarray) -> np.ndarray:
        if len(self.classes) == 2:
            positive = self.maps.apply(0, scores[:, 0])
            return np.column_stack([1 - positive, positive])
        if self.maps.kind == "sigmoid":
            proba = expit(-(self.maps.a * scores + self.maps.b))
        else:
            proba = np.column_stack([self.maps.apply(k, scores[:, k]) for k in range(scores.shape[1])])
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1 / proba.shape[1])
        return np.divide(proba, total, out=uniform, where=total != 0)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def coefficients(self) -> np.ndarray:
        """Per-class weights (n_classes x n_features), for evidence and keywords."""
        coef = (self.weights.toarray() if sp.issparse(self.weights) else np.asarray(self.weights)).T
        if coef.shape[0] == 1:  # binary: one row for the positive class
            coef = np.vstack([-coef[0], coef[0]])
        return coef


@dataclass(eq=False)
class Recalibration:
    """A head's recalibration (`ProbabilityCalibrator`): none, a temperature, or per-class isotonic maps."""

    method: str
    temperature: float = 1.0
    maps: ScoreMaps | None = None
    info: dict[str, Any] = field(default_factory=dict)
    """What training chose and why (`ProbabilityCalibrator.summary()`), for the model card and the report."""

    def transform(self, proba: np.ndarray) -> np.ndarray:
        if self.method == "temperature":
            return apply_temperature(proba, self.temperature)
        if self.method == "isotonic" and self.maps is not None:
            out = np.column_stack([self.maps.apply(k, proba[:, k]) for k in range(proba.shape[1])])
            out = np.clip(out, EPS, None)
            return out / out.sum(axis=1, keepdims=True)
        return proba

    def summary(self) -> dict[str, Any]:
        return dict(self.info)


def _expit(value: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-value))
    except OverflowError:  # exp(-x) is inf in C: 1 / inf
        return 0.0


def expit(x: np.ndarray) -> np.ndarray:
    """`scipy.special.expit` to the bit: 1 / (1 + exp(-x)) with the C library's exp, as scipy computes it.

    numpy's own exp is vectorised where the processor has AVX-512 and then differs from the C library's by an
    ulp now and then, which would make a served probability differ from the trained estimator's (linear.py
    calls scipy's expit). Element by element this costs about 0.13 s per million values: a suggestion needs 80
    (full model), so 0.3% of a batch's time, against 0.05-0.08 s at every start for importing scipy.special."""
    values = np.asarray(x, dtype=np.float64)
    out = np.fromiter(map(_expit, values.ravel().tolist()), dtype=np.float64, count=values.size)
    return out.reshape(values.shape)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """`scipy.special.log_softmax`, operation for operation: the row's maximum (0 where it is not finite)
    subtracted, minus the log of the sum of the exponentials."""
    x_max = np.max(x, axis=axis, keepdims=True)
    x_max[~np.isfinite(x_max)] = 0
    shifted = x - x_max
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))  # type: ignore[no-any-return]


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    return np.exp(log_softmax(np.log(np.clip(proba, EPS, 1.0)) / temperature, axis=1))


def reweight(proba: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Posteriors times a prior ratio, renormalised per row (a row of zeros stays uniform)."""
    weighted = proba * ratio
    total = weighted.sum(axis=1, keepdims=True)
    uniform = np.full_like(weighted, 1.0 / weighted.shape[1])
    return np.divide(weighted, total, out=uniform, where=total > 0)


@dataclass(eq=False)
class CompiledClassifier:
    """`MultiHeadClassifier` as served: shared features, then per head its probabilities, recalibrated and (after
    `adapt_priors`) re-weighted by the local priors. Offers what the pipeline reads of the estimator."""

    featurizer: CompiledFeaturizer
    heads: dict[str, CompiledHead]
    recalibration: dict[str, Recalibration] = field(default_factory=dict)
    prior_ratios: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.featurizer_ = self.featurizer
        self.heads_ = self.heads
        self.classes_ = {head: est.classes_ for head, est in self.heads.items()}
        self.calibrators_ = self.recalibration

    @property
    def head_names(self) -> list[str]:
        return list(self.heads)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.featurizer.transform(texts)

    def predict_proba_features(self, X: sp.csr_matrix, *, shifted: bool = True) -> dict[str, np.ndarray]:
        out = {}
        for head, est in self.heads.items():
            proba = est.predict_proba(X)
            if head in self.recalibration:
                proba = self.recalibration[head].transform(proba)
            out[head] = reweight(proba, self.prior_ratios[head]) if shifted and head in self.prior_ratios else proba
        return out

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.predict_proba_features(self.transform(texts))

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return {head: self.classes_[head][p.argmax(axis=1)] for head, p in self.predict_proba(texts).items()}

    def compiled(self) -> CompiledClassifier:
        return self
