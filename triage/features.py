"""Stage 3: features. Word TF-IDF on jieba tokens (and token pairs, as training sets it) plus character n-grams,
fitted once, shared by every head.

Words carry the meaning (拖欠工资, 公积金); character n-grams carry what segmentation misses in a
new city's place names and in speech-to-text errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from triage.classifiers.compiled import CompiledFeaturizer, CompiledTfidf, check_texts, hstack_csr
from triage.segment import tokenize


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
        few = len(texts) <= 20  # a handful of texts: every feature counts, or too few would remain
        max_df = 1.0 if few else self.max_df
        min_df = 1 if few else self.min_df
        self.min_df_ = min_df
        self.words_ = TfidfVectorizer(
            tokenizer=self.tokenizer,
            token_pattern=None,
            lowercase=False,
            ngram_range=self.word_ngram_range,
            min_df=min_df,
            max_df=max_df,
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self.chars_ = TfidfVectorizer(
            analyzer="char",
            lowercase=False,
            ngram_range=self.char_ngram_range,
            min_df=min_df,
            max_df=max_df,
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        words = self.words_.fit_transform(texts)
        chars = self.chars_.fit_transform(texts)
        self.__dict__.pop("compiled_", None)
        self.n_features_out_ = words.shape[1] + chars.shape[1]
        if self.word_weight != 1.0:
            words = words * self.word_weight
        return sp.hstack([words, chars], format="csr")

    def compiled(self) -> CompiledFeaturizer:
        """The transform as plain arrays (what a bundle stores); ValueError for a configuration it cannot
        reproduce, such as a tokenizer other than the project's."""
        check_is_fitted(self, ("words_", "chars_"))
        compiled = self.__dict__.get("compiled_")
        if compiled is None:
            compiled = CompiledFeaturizer(
                CompiledTfidf.from_vectorizer(self.words_, tokenize),
                CompiledTfidf.from_vectorizer(self.chars_, tokenize),
                self.word_weight,
            )
            self.compiled_ = compiled
        return compiled

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        check_is_fitted(self, ("words_", "chars_"))
        try:
            compiled = self.compiled()
        except ValueError:  # a configuration only scikit-learn reproduces (a custom tokenizer …): its way
            texts = check_texts(texts)
            words = self.words_.transform(texts)
            return hstack_csr(words * self.word_weight if self.word_weight != 1.0 else words, self.chars_.transform(texts))
        return compiled.transform(texts)  # which checks `texts` as above

    def word_vocabulary(self) -> np.ndarray:
        """Word features in column order (the first block of `transform`)."""
        check_is_fitted(self, "words_")
        return self.words_.get_feature_names_out()
