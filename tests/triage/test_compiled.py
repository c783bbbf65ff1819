"""The compiled (served) form computes what scikit-learn computes, to the bit, however a batch is looked up."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from triage.classifiers import compiled
from triage.classifiers.compiled import CompiledTfidf, PackedHash, normalise_rows_l2, pack_vocabulary, packed_hits
from triage.segment import tokenize

TEXTS = [
    "我想问一下住房公积金怎么提取",
    "岳麓区麓山南路有人占道经营  已经半个月了!!",
    "Hello 302路公交车 司机态度很差，投诉",
    "",
    "救命啊楼下着火了快点来人",
] * 7


def test_row_normalisation_is_scikit_learns_to_the_bit() -> None:
    rng = np.random.default_rng(0)
    X = sp.random(200, 500, density=0.05, format="lil", dtype=np.float32, random_state=1)
    X[3] = 0  # an empty row stays empty
    X = X.tocsr()
    X.data = (rng.random(X.nnz) * 10).astype(np.float32)
    expected = X.copy()
    inplace_csr_row_normalize_l2(expected)
    normalise_rows_l2(X)
    np.testing.assert_array_equal(X.data, expected.data)


def test_the_served_sigmoid_and_log_softmax_are_scipys() -> None:
    """Written out so that serving never imports scipy.special; scipy's are the reference, to the bit for the
    sigmoid (whatever exp numpy vectorises on this processor) and within an ulp for the log-softmax."""
    from scipy.special import expit, log_softmax

    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 8, 100_000), [0.0, -0.0, 709.78, -709.78, -709.79, 745.0, -745.0, 1e308, -1e308, np.inf, -np.inf, np.nan]])
    np.testing.assert_array_equal(compiled.expit(x), expit(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compiled.expit(np.array([-1e308]))[0] == 0.0  # quietly, as scipy's
    scores = rng.normal(0, 3, (500, 110))
    scores[0, 0] = -np.inf  # a class the temperature's clipped log never gives, still as scipy gives it
    np.testing.assert_array_max_ulp(compiled.log_softmax(scores, axis=1), log_softmax(scores, axis=1), maxulp=1)


@pytest.mark.parametrize("analyzer", ["word", "char"])
def test_a_compiled_vectoriser_transforms_as_scikit_learn(analyzer: str) -> None:
    params = {"tokenizer": tokenize, "token_pattern": None} if analyzer == "word" else {"analyzer": "char", "ngram_range": (1, 3)}
    vectorizer = TfidfVectorizer(lowercase=False, sublinear_tf=True, dtype=np.float32, **params).fit(TEXTS[:3])
    served = CompiledTfidf.from_vectorizer(vectorizer, tokenize)
    expected = vectorizer.transform(TEXTS)
    got = served.transform(TEXTS)
    assert (got != expected).nnz == 0 and got.dtype == expected.dtype


def test_the_hash_table_finds_what_binary_search_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    keys = np.unique(rng.integers(0, 2**42, 5000).astype(np.uint64))
    columns = rng.permutation(len(keys)).astype(np.int64)
    queries = np.concatenate([keys[rng.integers(0, len(keys), 3000)], rng.integers(0, 2**42, 3000).astype(np.uint64)])
    at = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    np.testing.assert_array_equal(PackedHash(keys, columns).lookup(queries), np.where(keys[at] == queries, columns[at], -1))
    # and a batch found through the tables gives the same hits as one found by binary search
    vocabulary = {gram: j for j, gram in enumerate(sorted({t[i : i + n] for t in TEXTS[:3] for n in (1, 2, 3) for i in range(len(t) - n + 1)}))}
    packed_keys, packed_columns = pack_vocabulary(vocabulary, range(1, 4))
    searched = packed_hits(TEXTS, range(1, 4), packed_keys, packed_columns)
    monkeypatch.setattr(compiled, "HASH_FROM", 1)
    hashed: list[PackedHash | None] = [None, None, None]
    found = packed_hits(TEXTS, range(1, 4), packed_keys, packed_columns, hashed)
    assert all(h is not None for h in hashed)
    for a, b in zip(searched, found, strict=True):
        np.testing.assert_array_equal(a, b)


def test_word_features_are_found_alike_by_binary_search_and_by_the_dictionary(monkeypatch: pytest.MonkeyPatch) -> None:
    """One call searches the sorted vocabulary (no dictionary of every term built for it); a large batch builds
    the dictionary once; a vocabulary out of order (never scikit-learn's) always gets the dictionary."""
    vectorizer = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, ngram_range=(1, 2), lowercase=False, sublinear_tf=True, dtype=np.float32)
    vectorizer.fit(TEXTS[:3])
    expected = vectorizer.transform(TEXTS)
    served = CompiledTfidf.from_vectorizer(vectorizer, tokenize)
    one = sp.vstack([served.transform([text]) for text in TEXTS])
    assert served._index is None and (one != expected).nnz == 0  # searched
    monkeypatch.setattr(compiled, "HASH_FROM", 1)
    legacy = CompiledTfidf("word", (1, 2), served.n_features, served.idf, terms=served.terms)  # a bundle with no token ids
    assert (legacy.transform(TEXTS) != expected).nnz == 0 and legacy._index is not None  # looked up
    shuffled = CompiledTfidf("word", (1, 2), served.n_features, served.idf, terms=compiled.join_terms(served.vocabulary()[::-1]))
    monkeypatch.setattr(compiled, "HASH_FROM", 10**9)
    shuffled.transform(TEXTS[:1])
    assert shuffled._sorted is False and shuffled._index is not None


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 2), (1, 3), (2, 3)])
def test_word_n_grams_are_scikit_learns(ngram_range: tuple[int, int]) -> None:
    vectorizer = TfidfVectorizer(ngram_range=ngram_range)
    for n in range(8):
        tokens = [f"词{i % 3}" * (1 + i % 2) for i in range(n)]
        assert compiled._word_ngrams(tokens, *ngram_range) == vectorizer._word_ngrams(list(tokens))


def test_the_served_featurizer_refuses_a_bare_string_as_the_estimator_does() -> None:
    vectorizer = TfidfVectorizer(analyzer="char", lowercase=False, sublinear_tf=True, dtype=np.float32).fit(TEXTS[:3])
    words = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False, sublinear_tf=True, dtype=np.float32).fit(TEXTS[:3])
    served = compiled.CompiledFeaturizer(CompiledTfidf.from_vectorizer(words, tokenize), CompiledTfidf.from_vectorizer(vectorizer, tokenize))
    with pytest.raises(TypeError, match="not a single string"):
        served.transform("我想问一下住房公积金怎么提取")
    assert served.transform(["我想问一下住房公积金怎么提取"]).shape == (1, served.n_features_out_)


def test_a_sparse_head_multiplies_as_scipy_does_to_the_bit() -> None:
    """`sparse_product` is `(X @ W).toarray()` bit for bit: rows in blocks, each block through the weights' rows it
    uses made dense. Rows with no feature, terms that cancel to zero, a negative zero, float32 features against
    float64 weights, and more rows than one block."""
    rng = np.random.default_rng(7)
    n_rows, n_features, n_classes = compiled.PRODUCT_ROWS * 2 + 37, 5_000, 9
    X = sp.random(n_rows, n_features, density=0.01, format="csr", dtype=np.float32, random_state=rng)
    X.data = (X.data - 0.5).astype(np.float32)
    W = sp.random(n_features, n_classes, density=0.3, format="csr", dtype=np.float64, random_state=rng)
    W.data = rng.standard_normal(W.nnz) * np.exp(rng.uniform(-30, 30, W.nnz))  # magnitudes far apart: rounding shows
    X, W = X.tolil(), W.tolil()
    X[3, :] = 0  # an empty row
    columns = X.rows[0][:2]
    X[0, columns] = np.float32(1.0)  # two equal features whose weights cancel in class 0
    W[columns[0], 0], W[columns[1], 0] = 0.1, -0.1
    X, W = X.tocsr(), W.tocsr()
    X.eliminate_zeros()
    W.data[:5] = -0.0
    expected = (X @ W).toarray()
    got = compiled.sparse_product(X, W)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got.view(np.int64), expected.view(np.int64))
    empty = sp.csr_matrix((2, n_features), dtype=np.float32)
    assert np.array_equal(compiled.sparse_product(empty, W), np.zeros((2, n_classes)))


def test_a_blocks_used_columns_are_numpys_unique_and_the_marks_are_cleared() -> None:
    rng = np.random.default_rng(3)
    seen = np.zeros(1_000, dtype=bool)
    for size in (0, 1, 50, 5_000):
        indices = rng.integers(0, 1_000, size).astype(np.int32)
        assert np.array_equal(compiled.sorted_unique(indices, seen), np.unique(indices))
        assert not seen.any()  # the next block starts from nothing marked


def test_word_n_grams_are_found_alike_through_token_ids_and_as_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large batch finds its word n-grams through the vocabulary's token ids (`_NgramTable`, stored with the
    model); the features are those scikit-learn gives, and those the string lookup gives, for every text: one with
    no term, an empty one, one of a single token, and one whose token holds a space (looked up as strings)."""
    vectorizer = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, ngram_range=(1, 2), lowercase=False, sublinear_tf=True, dtype=np.float32)
    vectorizer.fit(TEXTS[:3])
    served = CompiledTfidf.from_vectorizer(vectorizer, tokenize)
    assert served.tokens is not None and len(served.ngram_keys) == 2
    texts = [*TEXTS, "", "喂", "ＸＹＺ qwerty", TEXTS[0] + TEXTS[1]]
    expected = vectorizer.transform(texts)
    monkeypatch.setattr(compiled, "HASH_FROM", 1)
    got = served.transform(texts)
    assert served._table is not None and (got != expected).nnz == 0 and got.dtype == expected.dtype
    tokens = [tokenize(text) for text in texts] + [["路灯 坏了", "路灯"]]
    rows, columns = served._table.hits(tokens, served._string_hits)
    strings = served._string_hits(tokens, range(len(tokens)))
    assert sorted(zip(rows.tolist(), columns.tolist(), strict=True)) == sorted(zip(*(a.tolist() for a in strings), strict=True))
    spaced = compiled._NgramTable.build(["路灯", "路灯  坏了"], (1, 2))  # an empty token between two spaces
    assert spaced is None
