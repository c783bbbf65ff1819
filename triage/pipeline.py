"""The whole path in one object: transcript -> normalise -> segment/features -> heads -> routing -> suggestion."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import multiprocessing
import os
import pickle
import threading
import unicodedata
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from triage.caller_state import StateResult, StateScorer, redirected
from triage.classifiers.compiled import CompiledClassifier
from triage.classifiers.ensemble import mix
from triage.deadlines import DeadlinePolicy, WorkingCalendar, default_calendar
from triage.elements import ElementRules, extract_elements
from triage.errors import FillersOnlyError
from triage.normalise import normalise, validate_transcript
from triage.places import Gazetteer, Location
from triage.routing import Evidence, RankedUnit, RankingWeights, UnitRanker, put_first
from triage.rules import ACCEPTED, Rules
from triage.schemas import Register, Suggestion
from triage.scope import ScopeDecider
from triage.segment import default_segmenter, general_idf
from triage.suggest import ReviewThresholds, SuggestionParts, assemble, label_prediction
from triage.summary import summarise
from triage.transformer import TransformerHeads
from triage.units import LOCAL, Catalogue

if TYPE_CHECKING:
    from triage.classifiers.caller_state import CallerState
    from triage.classifiers.multihead import MultiHeadClassifier

logger = logging.getLogger(__name__)
N_KEYWORDS = 6
KEYWORD_STOP_WORDS = frozenset(
    "请问 问下 问一下 想问 一下 带些 多久 多少 好多 很多 一到 一直 每天 现在 这个 那个 这样 那样 怎么 怎么办 怎样 如何 什么 为什么 "
    "是不是 能不能 可不可以 有没有 可以 能否 是否 还是 已经 然后 但是 因为 所以 如果 麻烦 谢谢 你好 您好 我们 你们 他们 自己 "
    "时候 东西 事情 问题 情况 一个 几个 这边 那边 一点 有点 还有 就是 而且 或者 只是 不过 的话".split()
)
"""Words of asking, of quantity and of talk that a dispatcher should never see highlighted as a call's keywords."""
MIN_GENERAL_IDF = 7.0
"""Words common in general Chinese (jieba's idf below 7: 电话, 门口, 怎么) say nothing about this call."""


def _keyword_candidate(word: str) -> bool:
    """A word feature that can be shown as a keyword: one word (not an n-gram) of two characters or more, not a
    word of asking or of quantity that says nothing about the matter (请问, 多久, 好多)."""
    return " " not in word and len(word) >= 2 and word not in KEYWORD_STOP_WORDS


MIN_ROWS_PER_JOB = 32
"""Below this many transcripts per process a batch runs in this process: shipping it costs more than it saves."""



@dataclass(frozen=True)
class _Scored:
    """One row of a scored batch: head probabilities by label, unit similarities, routing arrays, keyword strengths."""

    proba: dict[str, dict[str, float]]
    similarity: np.ndarray
    topic_p: np.ndarray | None
    model: np.ndarray | None
    local: float
    words: tuple[np.ndarray, np.ndarray]
    state: StateResult


@dataclass(frozen=True)
class Knowledge:
    """The routing knowledge a pipeline was built with: catalogue, gazetteer, rules, calendar."""

    catalogue: Catalogue
    gazetteer: Gazetteer
    rules: Rules
    calendar: WorkingCalendar | None = None
    elements: ElementRules | None = None
    """data/elements.yaml as the bundle was built with (the project's when None)."""


class TriagePipeline:
    """Turns transcripts into suggestions. Built by training, saved and loaded as a bundle."""

    def __init__(
        self,
        classifier: MultiHeadClassifier | CompiledClassifier,
        knowledge: Knowledge,
        *,
        thresholds: ReviewThresholds | None = None,
        weights: RankingWeights | None = None,
        refusal_threshold: float | None = None,
        version: str = "unversioned",
        n_jobs: int = 1,
        transformer: TransformerHeads | None = None,
        blend: dict[str, float] | None = None,
        precomputed: dict[str, Any] | None = None,
        caller_state: CallerState | StateScorer | None = None,
    ) -> None:
        """`precomputed`: what `precomputed()` gave when the bundle was saved (keyword weights, the units' duty
        lists as features), so that loading does no work that training already did. `classifier` and
        `caller_state`: the estimators training fitted, or (from a bundle) their compiled forms."""
        self.classifier = classifier
        self.transformer = transformer
        """A fine-tuned encoder mixed into the heads it has; the linear model still gives features, keywords and units."""
        self.blend = dict(blend or {})
        """Per head, the transformer's share of the probabilities (chosen on validation)."""
        self.n_jobs = n_jobs
        """Processes `suggest_many` uses by default (1: this one only; -1: one per core)."""
        self.caller_state = caller_state or StateScorer()
        """The caller's state: cue rules and, when training had labelled calls, a small learned head on them."""
        self._state_rules = knowledge.elements if getattr(self.caller_state, "rules_path", None) is None else None
        """The cues the caller state reads: the bundle's data/elements.yaml (what it was trained with), unless the
        head names its own file."""
        self.knowledge = knowledge
        self.thresholds = thresholds or ReviewThresholds()
        self.version = version
        self.ranker = UnitRanker(knowledge.catalogue, weights)
        self._redirect_units = {r.number: r.unit for r in knowledge.rules.reason("emergency").redirects if r.unit}
        unknown = sorted(u for u in self._redirect_units.values() if u not in knowledge.catalogue)
        if unknown:
            raise ValueError(f"rules: emergency redirect unit(s) {', '.join(unknown)} not in the unit catalogue")
        self.scope = ScopeDecider(knowledge.rules, refusal_threshold)
        self.deadlines = DeadlinePolicy(
            knowledge.rules.deadlines, knowledge.rules.urgent.patterns, knowledge.calendar or default_calendar(), timing=knowledge.rules.timing
        )
        heads = classifier.head_names
        for required in ("category", "topic"):
            if required not in heads:
                raise ValueError(f"a pipeline needs a {required!r} head; the classifier has {heads}")
        self._word_vocabulary = classifier.featurizer_.word_vocabulary()
        # unit duty lists in the model's own feature space: one sparse product per batch gives similarities;
        # kept as CSR, the format the product converts its right side to, instead of converting on every call
        stored = precomputed or {}
        unit_features = stored.get("unit_features")
        if unit_features is None or unit_features.shape[1] != len(self.ranker.documents):
            unit_features = classifier.transform(self.ranker.documents).T.tocsr()
        self._unit_features = unit_features
        self._pool: ProcessPoolExecutor | None = None
        self._pool_size = 0
        self._pool_config: tuple[object, ...] = ()
        self._pool_lock = threading.Lock()
        self._workers_failed: str | None = None
        """Why worker processes could not start (e.g. a script without a main guard); until `close()`, batches run here."""
        keyword_weights = stored.get("keyword_weights")
        if keyword_weights is None or len(keyword_weights) != len(self._word_vocabulary):
            keyword_weights = self._keyword_weight_vector()
        self._keyword_weights = keyword_weights

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

    def precomputed(self) -> dict[str, Any]:
        """What loading would otherwise rebuild (a bundle stores it): keyword weights, which need jieba's general
        IDF table, and the units' duty lists in the model's feature space, which need the segmenter."""
        return {"keyword_weights": self._keyword_weights, "unit_features": self._unit_features}

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
        register: Register = "spoken",
    ) -> Suggestion:
        """One transcript's suggestion. Raises InvalidTranscriptError for unusable text."""
        return self.suggest_many([text], ids=[id], addresses=[address], created_at=created_at, register=register)[0]

    def suggest_many(
        self,
        texts: Sequence[str],
        *,
        ids: Sequence[str | None] | None = None,
        addresses: Sequence[str | None] | None = None,
        created_at: dt.datetime | None = None,
        n_jobs: int | None = None,
        register: Register = "spoken",
    ) -> list[Suggestion]:
        """Suggestions for a batch: features and heads run once per batch (per chunk when `n_jobs` > 1); `register`
        (spoken or written) picks the review thresholds.

        With `n_jobs` > 1 (default: the pipeline's `n_jobs`) a large batch is cut into contiguous chunks:
        this process does the first and worker processes, started once and kept, do the rest (they hold a copy
        of this pipeline and are restarted when its version, thresholds or ranking weights change). Segmentation
        is pure Python and holds the GIL, so processes, not threads, are what use a second core. The
        suggestions, and the first invalid transcript's error, are the same as with one process.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a list of transcripts, not a single string")
        texts = list(texts)
        ids = list(ids) if ids is not None else [None] * len(texts)
        addresses = list(addresses) if addresses is not None else [None] * len(texts)
        jobs = min(_resolve_jobs(self.n_jobs if n_jobs is None else n_jobs), len(texts) // MIN_ROWS_PER_JOB)
        if jobs <= 1 or self._workers_failed is not None:
            return self._suggest_batch(texts, ids, addresses, created_at, register)
        bounds = [len(texts) * k // jobs for k in range(jobs + 1)]
        chunks = [slice(a, b) for a, b in itertools.pairwise(bounds)]
        try:
            pool = self._workers(jobs - 1)
        except (BrokenProcessPool, RuntimeError, OSError) as exc:  # cannot start workers here: say so once, stay correct
            logger.warning(
                "worker processes cannot start (%s); this pipeline suggests in one process from now on (close() retries)", exc
            )
            self.close()
            self._workers_failed = str(exc)
            return self._suggest_batch(texts, ids, addresses, created_at, register)
        try:
            futures: list[Future[list[Suggestion]]] = [
                pool.submit(_worker_suggest, texts[c], ids[c], addresses[c], created_at, register) for c in chunks[1:]
            ]
        except (BrokenProcessPool, RuntimeError, OSError) as exc:  # a worker died between batches: the next batch restarts them
            logger.warning("worker processes unavailable (%s); suggesting this batch in this process", exc)
            self.close()
            return self._suggest_batch(texts, ids, addresses, created_at, register)
        try:
            out = self._suggest_batch(texts[chunks[0]], ids[chunks[0]], addresses[chunks[0]], created_at, register)
            for chunk, future in zip(chunks[1:], futures, strict=True):
                try:
                    out.extend(future.result())
                except BrokenProcessPool as exc:
                    logger.warning("a worker process died (%s); finishing the batch in this process", exc)
                    self.close()
                    out.extend(self._suggest_batch(texts[chunk], ids[chunk], addresses[chunk], created_at, register))
        finally:
            for future in futures:
                future.cancel()
        return out

    def _suggest_batch(
        self,
        texts: list[str],
        ids: list[str | None],
        addresses: list[str | None],
        created_at: dt.datetime | None,
        register: Register = "spoken",
    ) -> list[Suggestion]:
        """One process's share: normalise, featurise and score the batch at once, then assemble row by row."""
        normalised = [_normalise_call(t) for t in texts]
        if not normalised:
            return []
        clean = [text for text, _ in normalised]
        return [
            self._suggest_one(text, ids[i], addresses[i], row, created_at, fillers_only=normalised[i][1], register=register)
            for i, (text, row) in enumerate(zip(clean, self._score(clean), strict=True))
        ]

    def _workers(self, size: int) -> ProcessPoolExecutor:
        """The worker pool, started on first use with a copy of this pipeline (restarted if `size` changes)."""
        with self._pool_lock:
            config = self._worker_config()
            if self._pool is not None and self._pool_size == size and self._pool_config == config:
                return self._pool
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
            # spawn, not fork: the API serves from threads, and forking a threaded process can deadlock
            pool = ProcessPoolExecutor(
                max_workers=size,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL),),
            )
            weakref.finalize(self, pool.shutdown, wait=True, cancel_futures=True)
            # start every worker and load its jieba dictionary now, so the first batch is not charged for it
            try:
                for ready in [pool.submit(_worker_ready) for _ in range(size)]:
                    ready.result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            self._pool, self._pool_size, self._pool_config = pool, size, config
            return pool

    def _worker_config(self) -> tuple[object, ...]:
        """What workers copied that training and operators change in place: a change restarts the workers."""
        return (self.version, id(self.classifier), self.thresholds, self.ranker.weights, self.scope.refusal_threshold)

    def close(self) -> None:
        """Stop the worker processes, if any were started (they also stop with the pipeline or the program)."""
        with self._pool_lock:
            if self._pool is not None:
                # waiting lets the idle workers exit cleanly; not waiting left the executor's wake-up pipe
                # closed under its manager thread, which then failed noisily at interpreter exit
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._pool_size, self._workers_failed = None, 0, None

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.update(_pool=None, _pool_size=0, _pool_config=(), _pool_lock=None, _workers_failed=None)  # workers and locks belong to one process
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._pool_lock = threading.Lock()

    def head_proba(self, clean: Sequence[str]) -> dict[str, np.ndarray]:
        """Each head's probabilities for normalised texts (columns follow `classifier.classes_`), as served."""
        return self._proba(list(clean), self.classifier.transform(list(clean)))

    def _proba(self, clean: list[str], X: object) -> dict[str, np.ndarray]:
        proba = self.classifier.predict_proba_features(X)  # type: ignore[arg-type]
        if self.transformer is not None and any(w > 0 for w in self.blend.values()):
            proba = mix(proba, self.classifier.classes_, self.transformer.predict_proba(clean), self.transformer.classes_, self.blend)
        return proba

    def _score(self, clean: list[str], given: dict[str, np.ndarray] | None = None, X: object = None) -> list[_Scored]:
        """Features and heads once for the batch; per row, what routing and the suggestion read from them.

        `given` replaces the heads' probabilities (columns in `classifier.classes_` order): training passes
        out-of-fold ones, so that what it tunes on is exactly what this path serves (with their features `X`).
        """
        X = self.classifier.transform(clean) if X is None else X
        proba = given if given is not None else self._proba(clean, X)
        similarity = np.asarray((X @ self._unit_features).todense())
        labels = {h: [str(c) for c in self.classifier.classes_[h]] for h in proba}
        values = {h: p.tolist() for h, p in proba.items()}  # one conversion per head, not one per row
        # the routing's view of the topic and unit heads, as arrays in the ranker's order, for the whole batch
        topics = self._aligned(proba.get("topic"), labels.get("topic"), self.ranker.topics)
        model = self._aligned(proba.get("unit"), labels.get("unit"), self.ranker.names)
        local = self._aligned(proba.get("unit"), labels.get("unit"), [LOCAL])
        words = X[:, : len(self._word_vocabulary)].tocsr()
        strength = words.data * self._keyword_weights[words.indices]
        bounds = words.indptr
        states = self.caller_state.assess(clean, self._state_rules)  # the n-grams of the whole batch at once
        return [
            _Scored(
                {h: dict(zip(labels[h], values[h][i], strict=True)) for h in proba},
                similarity[i],
                topics[i] if topics is not None else None,
                model[i] if model is not None else None,
                float(local[i, 0]) if local is not None else 0.0,
                (words.indices[bounds[i] : bounds[i + 1]], strength[bounds[i] : bounds[i + 1]]),
                states[i],
            )
            for i in range(len(clean))
        ]

    @staticmethod
    def _aligned(proba: np.ndarray | None, labels: list[str] | None, order: list[str]) -> np.ndarray | None:
        """A head's probabilities with columns in `order` (0 for a name the head does not know)."""
        if proba is None or labels is None or not len(labels):
            return None
        out = np.zeros((proba.shape[0], len(order)))
        position = {name: j for j, name in enumerate(order)}
        for k, label in enumerate(labels):
            if label in position:
                out[:, position[label]] = proba[:, k]
        return out

    def _evidence(self, text: str, location: Location, row: _Scored) -> Evidence:
        return self.ranker.evidence_arrays(
            text, location=location, similarity=row.similarity, topic_p=row.topic_p, model=row.model, local=row.local
        )

    def routing_evidence(self, texts: Sequence[str], proba: dict[str, np.ndarray] | None = None, *, X: object = None) -> list[Evidence]:
        """The ranking's evidence for normalised texts, exactly as `suggest_many` computes it (used for tuning);
        `proba` replaces the heads' probabilities (out-of-fold ones in training), `X` the texts' features."""
        return [
            self._evidence(text, self.knowledge.gazetteer.locate(text), row)
            for text, row in zip(texts, self._score(list(texts), proba, X), strict=True)
        ]

    def suggest_scored(
        self,
        clean: Sequence[str],
        proba: dict[str, np.ndarray],
        *,
        ids: Sequence[str | None] | None = None,
        X: object = None,
        registers: Sequence[Register] | None = None,
    ) -> list[Suggestion]:
        """Suggestions for normalised texts from given head probabilities instead of this pipeline's heads.

        Training passes out-of-fold probabilities: thresholds are then chosen on the suggestions this very
        pipeline would make for calls it never trained on.
        """
        clean = list(clean)
        ids = list(ids) if ids is not None else [None] * len(clean)
        registers = list(registers) if registers is not None else ["spoken"] * len(clean)
        rows = self._score(clean, proba, X)
        return [
            self._suggest_one(text, ids[i], None, row, None, register=registers[i]) for i, (text, row) in enumerate(zip(clean, rows, strict=True))
        ]

    def _suggest_one(
        self,
        text: str,
        id: str | None,
        address: str | None,
        row: _Scored,
        created_at: dt.datetime | None,
        *,
        fillers_only: bool | None = None,
        register: Register = "spoken",
    ) -> Suggestion:
        proba = row.proba
        category = label_prediction(proba["category"])
        topic = label_prediction(proba["topic"])
        location = self.knowledge.gazetteer.locate(text)
        if location.district is None and address:
            location = self.knowledge.gazetteer.locate(normalise(address))
        scope = self.scope.decide(text, proba.get("scope"), fillers_only=fillers_only)
        units = self.ranker.rank_evidence(self._evidence(text, location, row))
        if scope.reason == "emergency" and scope.redirect in self._redirect_units:
            unit = self._redirect_units[scope.redirect]
            units = put_first(units, unit, f"紧急转{scope.redirect}：{unit}处置")
        deadline_class = self.deadlines.classify(text, category.label, emergency=scope.reason == "emergency")
        deadline = self.deadlines.due(deadline_class, created_at)
        keywords = self._keywords(row.words, text, units)
        elements = extract_elements(text, location, rules=self.knowledge.elements)
        state = row.state
        if register == "written" and state.likeliest is not None:
            state = state.likeliest  # the rescue threshold was chosen on calls: a letter keeps its likeliest state
        if scope.reason == "emergency":
            state = redirected(state, text, scope.redirect, self.knowledge.elements)
        parts = SuggestionParts(
            id=id,
            text=text,
            category=category,
            topic=topic,
            units=units,
            location=location,
            scope=scope,
            deadline=deadline,
            keywords=keywords,
            p_accepted=proba["scope"].get(ACCEPTED) if "scope" in proba else None,
            elements=elements,
            summary=summarise(text, elements, keywords, register=register),
            caller_state=state,
        )
        return assemble(parts, self.thresholds, self.version, register)

    def _keywords(self, words: tuple[np.ndarray, np.ndarray], text: str, units: list[RankedUnit]) -> list[str]:
        """Words that drove the suggestion: duty phrases found, then the strongest weighted words."""
        found: list[str] = []
        for unit in units[:1]:
            for why in unit.why:
                if why.startswith("权责清单："):
                    found.extend(why.removeprefix("权责清单：").split("、"))
        columns, strength = words
        vocabulary = self._word_vocabulary
        for k in np.argsort(-strength):
            if strength[k] <= 0:
                break
            j = columns[k]
            word = vocabulary[j]
            if _keyword_candidate(word) and word in text:
                found.append(word)
            if len(dict.fromkeys(found)) >= N_KEYWORDS:
                break
        return list(dict.fromkeys(found))[:N_KEYWORDS]


def _normalise_call(text: str) -> tuple[str, bool]:
    """(`normalise`d text, whether it held fillers only). A call of fillers only ("喂？喂？") is kept as said: it gets
    a suggestion (诉求不明确, reviewed as too short) instead of an error, since the operator has a caller on the line."""
    try:
        return normalise(text), False
    except FillersOnlyError:
        return unicodedata.normalize("NFKC", validate_transcript(text)).strip(), True


def _resolve_jobs(n_jobs: int) -> int:
    """joblib's convention: a positive count, or -1 for every core, -2 for all but one, and so on."""
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive count or negative (-1: one process per core), not 0")
    return n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)


_worker_pipeline: TriagePipeline | None = None


def _init_worker(state: bytes) -> None:
    global _worker_pipeline
    _worker_pipeline = pickle.loads(state)


def _worker_ready() -> bool:
    default_segmenter()  # jieba's dictionary, the slow part of a cold start
    return True


def _worker_suggest(
    texts: list[str], ids: list[str | None], addresses: list[str | None], created_at: dt.datetime | None, register: Register = "spoken"
) -> list[Suggestion]:
    assert _worker_pipeline is not None, "worker started without a pipeline"
    return _worker_pipeline._suggest_batch(texts, ids, addresses, created_at, register)
