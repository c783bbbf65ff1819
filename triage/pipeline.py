"""The whole path in one object: transcript -> normalise -> segment/features -> heads -> routing -> suggestion."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from triage.classifiers import MultiHeadClassifier
from triage.deadlines import DeadlinePolicy, WorkingCalendar, default_calendar
from triage.normalise import normalise
from triage.places import Gazetteer, Location
from triage.routing import Evidence, RankedUnit, RankingWeights, UnitRanker
from triage.rules import Rules
from triage.schemas import Suggestion
from triage.scope import ScopeDecider
from triage.segment import default_segmenter, general_idf
from triage.suggest import ReviewThresholds, SuggestionParts, assemble, label_prediction
from triage.units import Catalogue

logger = logging.getLogger(__name__)
N_KEYWORDS = 6
MIN_GENERAL_IDF = 7.0
"""Words common in general Chinese (jieba's idf below 7: 电话, 门口, 怎么) say nothing about this call."""


@dataclass(frozen=True)
class Knowledge:
    """The routing knowledge a pipeline was built with: catalogue, gazetteer, rules, calendar."""

    catalogue: Catalogue
    gazetteer: Gazetteer
    rules: Rules
    calendar: WorkingCalendar | None = None


class TriagePipeline:
    """Turns transcripts into suggestions. Built by training, saved and loaded as a bundle."""

    def __init__(
        self,
        classifier: MultiHeadClassifier,
        knowledge: Knowledge,
        *,
        thresholds: ReviewThresholds | None = None,
        weights: RankingWeights | None = None,
        refusal_threshold: float | None = None,
        version: str = "unversioned",
    ) -> None:
        self.classifier = classifier
        self.knowledge = knowledge
        self.thresholds = thresholds or ReviewThresholds()
        self.version = version
        self.ranker = UnitRanker(knowledge.catalogue, weights)
        self.scope = ScopeDecider(knowledge.rules, refusal_threshold)
        self.deadlines = DeadlinePolicy(
            knowledge.rules.deadlines, knowledge.rules.urgent.patterns, knowledge.calendar or default_calendar()
        )
        heads = classifier.head_names
        for required in ("category", "topic"):
            if required not in heads:
                raise ValueError(f"a pipeline needs a {required!r} head; the classifier has {heads}")
        self._word_vocabulary = classifier.featurizer_.word_vocabulary()
        # unit duty lists in the model's own feature space: one sparse product per batch gives similarities
        self._unit_features = classifier.transform(self.ranker.documents).T.tocsc()
        self._keyword_weights = self._keyword_weight_vector()

    def _keyword_weight_vector(self) -> np.ndarray:
        """Per word feature: how strongly it pulls any category or topic (max |coefficient|); 0 for common words."""
        n_words = len(self._word_vocabulary)
        weight = np.zeros(n_words)
        for head in ("category", "topic"):
            coef = self.classifier.heads_[head].coefficients()[:, :n_words]
            weight = np.maximum(weight, np.abs(np.asarray(coef)).max(axis=0))
        idf = general_idf()
        project_words = default_segmenter().user_words
        for j, word in enumerate(self._word_vocabulary):
            word = str(word)
            if not (idf.get(word, 0.0) >= MIN_GENERAL_IDF or (word not in idf and word in project_words)):
                weight[j] = 0.0
        return weight

    @property
    def heads(self) -> list[str]:
        return self.classifier.head_names

    def suggest(
        self,
        text: str,
        *,
        id: str | None = None,
        address: str | None = None,
        created_at: dt.datetime | None = None,
    ) -> Suggestion:
        """One transcript's suggestion. Raises InvalidTranscriptError for unusable text."""
        return self.suggest_many([text], ids=[id], addresses=[address], created_at=created_at)[0]

    def suggest_many(
        self,
        texts: Sequence[str],
        *,
        ids: Sequence[str | None] | None = None,
        addresses: Sequence[str | None] | None = None,
        created_at: dt.datetime | None = None,
    ) -> list[Suggestion]:
        """Suggestions for a batch: features and heads run once for the whole batch."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of transcripts, not a single string")
        clean = [normalise(t) for t in texts]
        ids = list(ids) if ids is not None else [None] * len(clean)
        addresses = list(addresses) if addresses is not None else [None] * len(clean)
        if not clean:
            return []
        X, rows = self._score(clean)
        return [
            self._suggest_one(text, ids[i], addresses[i], X[i], proba, similarity, created_at)
            for i, (text, (proba, similarity)) in enumerate(zip(clean, rows, strict=True))
        ]

    def _score(self, clean: list[str]) -> tuple[sp.csr_matrix, list[tuple[dict[str, dict[str, float]], np.ndarray]]]:
        """Features once for the batch, then per row: each head's probabilities by label, and unit similarities."""
        X = self.classifier.transform(clean)
        proba = self.classifier.predict_proba_features(X)
        similarity = np.asarray((X @ self._unit_features).todense())
        classes = self.classifier.classes_
        rows = [
            ({h: dict(zip(map(str, classes[h]), p[i].tolist(), strict=True)) for h, p in proba.items()}, similarity[i])
            for i in range(len(clean))
        ]
        return X, rows

    def _evidence(self, text: str, location: Location, proba: dict[str, dict[str, float]], similarity: np.ndarray) -> Evidence:
        return self.ranker.evidence(
            text, location=location, similarity=similarity, topic_proba=proba.get("topic"), unit_proba=proba.get("unit")
        )

    def routing_evidence(self, texts: Sequence[str]) -> list[Evidence]:
        """The ranking's evidence for normalised texts, exactly as `suggest_many` computes it (used for tuning)."""
        _, rows = self._score(list(texts))
        return [
            self._evidence(text, self.knowledge.gazetteer.locate(text), proba, similarity)
            for text, (proba, similarity) in zip(texts, rows, strict=True)
        ]

    def _suggest_one(
        self,
        text: str,
        id: str | None,
        address: str | None,
        x: sp.csr_matrix,
        proba: dict[str, dict[str, float]],
        similarity: np.ndarray,
        created_at: dt.datetime | None,
    ) -> Suggestion:
        category = label_prediction(proba["category"])
        topic = label_prediction(proba["topic"])
        location = self.knowledge.gazetteer.locate(text)
        if location.district is None and address:
            location = self.knowledge.gazetteer.locate(normalise(address))
        scope = self.scope.decide(text, proba.get("scope"))
        units = self.ranker.rank_evidence(self._evidence(text, location, proba, similarity))
        deadline_class = self.deadlines.classify(text, category.label)
        deadline = self.deadlines.due(deadline_class, created_at)
        parts = SuggestionParts(
            id=id,
            text=text,
            category=category,
            topic=topic,
            units=units,
            location=location,
            scope=scope,
            deadline=deadline,
            keywords=self._keywords(x, text, units),
        )
        return assemble(parts, self.thresholds, self.version)

    def _keywords(self, x: sp.csr_matrix, text: str, units: list[RankedUnit]) -> list[str]:
        """Words that drove the suggestion: duty phrases found, then the strongest weighted words."""
        found: list[str] = []
        for unit in units[:1]:
            for why in unit.why:
                if why.startswith("权责清单："):
                    found.extend(why.removeprefix("权责清单：").split("、"))
        n_words = len(self._word_vocabulary)
        row = x[:, :n_words].tocoo()
        strength = row.data * self._keyword_weights[row.col]
        for k in np.argsort(-strength):
            if strength[k] <= 0:
                break
            word = str(self._word_vocabulary[row.col[k]])
            if " " not in word and len(word) >= 2 and word in text:
                found.append(word)
            if len(dict.fromkeys(found)) >= N_KEYWORDS:
                break
        return list(dict.fromkeys(found))[:N_KEYWORDS]

