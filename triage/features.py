"""Stage 3: features. Word TF-IDF on jieba tokens plus character n-grams, fitted once, shared by every head.

Words carry the meaning (拖欠工资, 公积金); character n-grams carry what segmentation misses in a
new city's place names and in speech-to-text errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2
from sklearn.utils.validation import check_is_fitted

from triage.segment import tokenize

_WHITE_SPACES = re.compile(r"\s\s+")
"""sklearn's own whitespace rule for character n-grams (`_VectorizerMixin._white_spaces`)."""


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


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """Sparse TF-IDF features of normalised transcripts: words (jieba) and characters, side by side."""

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 1),
        char_ngram_range: tuple[int, int] = (1, 2),
        min_df: int = 1,
        max_df: float = 0.9,
        max_features: int | None = 300_000,
        word_weight: float = 1.0,
        tokenizer: Callable[[str], list[str]] = tokenize,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.word_weight = word_weight
        self.tokenizer = tokenizer

    def fit(self, texts: Sequence[str], y: object = None) -> TextFeaturizer:
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: Sequence[str], y: object = None, **fit_params: object) -> sp.csr_matrix:
        """Fit both vocabularies and return the features in one pass (jieba runs once per text)."""
        texts = check_texts(texts)
        if not texts:
            raise ValueError("cannot fit features on zero texts")
        max_df = self.max_df if len(texts) > 20 else 1.0
        self.words_ = TfidfVectorizer(
            tokenizer=self.tokenizer,
            token_pattern=None,
            lowercase=False,
            ngram_range=self.word_ngram_range,
            min_df=self.min_df,
            max_df=max_df,
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self.chars_ = TfidfVectorizer(
            analyzer="char",
            lowercase=False,
            ngram_range=self.char_ngram_range,
            min_df=self.min_df,
            max_df=max_df,
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        words = self.words_.fit_transform(texts)
        chars = self.chars_.fit_transform(texts)
        _char_table(self.chars_)  # built now, saved with the model
        self.n_features_out_ = words.shape[1] + chars.shape[1]
        if self.word_weight != 1.0:
            words = words * self.word_weight
        return sp.hstack([words, chars], format="csr")

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        check_is_fitted(self, ("words_", "chars_"))
        texts = check_texts(texts)
        words = _tfidf_transform(self.words_, texts)
        if self.word_weight != 1.0:
            words = words * self.word_weight
        return _hstack(words, _tfidf_transform(self.chars_, texts))

    def word_vocabulary(self) -> np.ndarray:
        """Word features in column order (the first block of `transform`)."""
        check_is_fitted(self, "words_")
        return self.words_.get_feature_names_out()


def _tfidf_transform(vectorizer: TfidfVectorizer, texts: list[str]) -> sp.csr_matrix:
    """`vectorizer.transform(texts)`, the same to the bit, without sklearn's per-feature loop and per-call checks.

    The counts are found per batch (character n-grams with numpy, tokens with one dictionary lookup each), the
    matrix is built as sklearn builds it (same vocabulary, dtype and sorted indices), and TF-IDF is applied with
    the same operations as `TfidfTransformer.transform`; its input validation cost more than the maths for one
    transcript.
    """
    tfidf = getattr(vectorizer, "_tfidf", None)
    if tfidf is None or vectorizer.binary or vectorizer.input != "content" or not texts:
        return vectorizer.transform(texts)  # built differently, or nothing to do (sklearn refuses zero rows): sklearn's way
    table = _char_table(vectorizer)
    rows, columns = _char_features(vectorizer, table, texts) if table is not None else _token_features(vectorizer, texts)
    n_features = len(vectorizer.vocabulary_)
    keys, counts = np.unique(rows * n_features + columns, return_counts=True)  # sorted by row, then column
    index_dtype = np.int32 if max(len(keys), n_features) <= np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(len(texts) + 1, dtype=index_dtype)
    np.cumsum(np.bincount(keys // n_features, minlength=len(texts)), out=indptr[1:])
    X = sp.csr_matrix(
        (counts.astype(vectorizer.dtype), (keys % n_features).astype(index_dtype), indptr),
        shape=(len(texts), n_features),
    )
    X.has_sorted_indices = True
    return _apply_tfidf(tfidf, X)


def _apply_tfidf(tfidf: TfidfTransformer, X: sp.csr_matrix) -> sp.csr_matrix:
    """`TfidfTransformer.transform(X, copy=False)` for the float CSR counts built above, without its validation."""
    if X.dtype not in (np.float32, np.float64):
        return tfidf.transform(X, copy=False)
    if tfidf.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1.0
    if hasattr(tfidf, "idf_"):
        X.data *= tfidf.idf_[X.indices]
    if tfidf.norm == "l2":
        inplace_csr_row_normalize_l2(X)
    elif tfidf.norm is not None:
        X = normalize(X, norm=tfidf.norm, copy=False)
    return X


def _token_features(vectorizer: TfidfVectorizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every analysed token or n-gram found in the vocabulary, for any analyzer."""
    analyze = vectorizer.build_analyzer()
    lookup = vectorizer.vocabulary_.get
    columns: list[int] = []
    lengths: list[int] = []
    for text in texts:
        found = [j for j in map(lookup, analyze(text)) if j is not None]
        columns.extend(found)
        lengths.append(len(found))
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    return rows, np.asarray(columns, dtype=np.int64)


_CODE_BITS = 21
"""Unicode code points fit in 21 bits, so up to three characters pack into one 64-bit key."""
_TABLE = "_packed_table"
"""Attribute of a fitted char vectorizer holding (its vocabulary, the packed table): pickled with it, so that a
bundle maps the table instead of rebuilding it from 300,000 n-grams at every start."""


def _char_table(vectorizer: TfidfVectorizer) -> dict[int, tuple[np.ndarray, np.ndarray]] | None:
    """Per n-gram length, the vocabulary as sorted packed keys and their columns; None when not plain char n-grams.

    Built once per fitted vectorizer (and again if its vocabulary is replaced) and kept on it.
    """
    min_n, max_n = vectorizer.ngram_range
    plain = (
        vectorizer.analyzer == "char"
        and not vectorizer.lowercase
        and vectorizer.preprocessor is None
        and vectorizer.strip_accents is None
        and 1 <= min_n <= max_n <= 64 // _CODE_BITS
    )
    if not plain:
        return None
    cached = getattr(vectorizer, _TABLE, None)
    if cached is not None and cached[0] is vectorizer.vocabulary_:
        return cached[1]
    by_length: dict[int, tuple[list[int], list[int]]] = {n: ([], []) for n in range(min_n, max_n + 1)}
    for gram, column in vectorizer.vocabulary_.items():
        if len(gram) in by_length:
            key = 0
            for char in gram:
                key = (key << _CODE_BITS) | ord(char)
            by_length[len(gram)][0].append(key)
            by_length[len(gram)][1].append(column)
    table = {}
    for n, (keys, columns) in by_length.items():
        packed = np.asarray(keys, dtype=np.uint64)
        order = np.argsort(packed)
        table[n] = (packed[order], np.asarray(columns, dtype=np.int64)[order])
    setattr(vectorizer, _TABLE, (vectorizer.vocabulary_, table))
    return table


def _char_features(
    vectorizer: TfidfVectorizer, table: dict[int, tuple[np.ndarray, np.ndarray]], texts: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every character n-gram found in the vocabulary, as sklearn's `_char_ngrams` makes them.

    The batch is one array of code points; an n-gram is packed into one integer and looked up by binary search,
    and n-grams that would run from one text into the next are dropped.
    """
    spaces = getattr(vectorizer, "_white_spaces", _WHITE_SPACES)  # the rule of the sklearn that fitted it
    docs = [spaces.sub(" ", text) for text in texts]
    lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    ends = np.cumsum(lengths)
    code = np.frombuffer("".join(docs).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    row_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    rows, columns = [], []
    for n, (keys, cols) in table.items():
        m = len(code) - n + 1
        if m <= 0 or not len(keys):
            continue
        key = code[:m].copy()
        for k in range(1, n):
            key <<= np.uint64(_CODE_BITS)
            key |= code[k : k + m]
        row = row_of[:m]
        at = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
        hit = (keys[at] == key) & (np.arange(n, m + n, dtype=np.int64) <= ends[row])
        rows.append(row[hit])
        columns.append(cols[at[hit]])
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows), np.concatenate(columns)


def _hstack(left: sp.csr_matrix, right: sp.csr_matrix) -> sp.csr_matrix:
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
