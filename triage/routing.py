"""Unit ranking: whose duty is it (职权原则), where is it (属地原则), and what past orders say.

Districts and zones share one local duty list, so evidence first decides *whether* a matter is local
and the place then decides *which* district: the learned head's probability mass over all local units
goes to the district where the problem is. Every ranked unit carries `why`: the duty phrase, the
place or the model evidence that put it there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from triage.places import Location
from triage.units import Catalogue


@dataclass(frozen=True)
class RankingWeights:
    """How much each kind of evidence counts. Tuned on the development split by training."""

    model: float = 1.0
    duty: float = 0.6
    similarity: float = 0.4
    topic: float = 0.3
    place: float = 0.8
    other_district: float = 0.1
    """Factor for a district or zone that is not where the problem is."""
    temperature: float = 0.15
    """Softmax temperature that turns combined evidence into the scores shown (tuned for log-loss)."""


@dataclass(frozen=True)
class RankedUnit:
    name: str
    score: float
    why: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "score": round(self.score, 4), "why": self.why}


@dataclass
class Evidence:
    """Everything the ranking looks at for one transcript, computed once so weights can be tuned cheaply."""

    hits: list[list[str]]
    similarity: np.ndarray
    topic: np.ndarray
    model: np.ndarray
    best_topic: list[tuple[str, float]]
    location: Location


class UnitRanker:
    """Combines duty-list matching, topic, place and the learned unit head into one ranking."""

    def __init__(self, catalogue: Catalogue, weights: RankingWeights | None = None) -> None:
        self.catalogue = catalogue
        self.weights = weights or RankingWeights()
        self.units = list(catalogue)
        self.names = [u.name for u in self.units]
        self._index = {name: i for i, name in enumerate(self.names)}
        self._duties = [sorted(set(u.duties), key=len, reverse=True) for u in self.units]
        self.documents = [" ".join([u.name, *u.aliases, *u.duties]) for u in self.units]
        """Each unit's name, aliases and duties: the pipeline embeds them in its own feature space."""
        self._local = np.array([u.is_local for u in self.units])
        self.topics = sorted({t for u in self.units for t in u.topics})
        self._covers = np.array([[t in u.topics for t in self.topics] for u in self.units], dtype=float)

    def evidence(
        self,
        text: str,
        *,
        location: Location,
        similarity: np.ndarray,
        topic_proba: Mapping[str, float] | None = None,
        unit_proba: Mapping[str, float] | None = None,
    ) -> Evidence:
        """Evidence for one transcript; `similarity` to each unit's `documents` comes from the caller's features."""
        hits = [[d for d in duties if d in text] for duties in self._duties]
        top = similarity.max()
        similarity = similarity / top if top > 0 else similarity
        topic = np.zeros(len(self.units))
        best_topic: list[tuple[str, float]] = [("", 0.0)] * len(self.units)
        if topic_proba:
            p = np.array([topic_proba.get(t, 0.0) for t in self.topics])
            topic = self._covers @ p
            covered = np.where(self._covers > 0, p, -1.0)
            best = covered.argmax(axis=1)
            best_topic = [(self.topics[j], float(p[j])) for j in best]
        model = np.zeros(len(self.units))
        if unit_proba:
            for name, p in unit_proba.items():
                if name in self._index:
                    model[self._index[name]] = p
        return Evidence(hits, similarity, topic, model, best_topic, location)

    def rank_evidence(self, ev: Evidence, *, top_k: int = 5, weights: RankingWeights | None = None) -> list[RankedUnit]:
        w = weights or self.weights
        duty = np.array([min(1.0, 0.5 * len(h) + 0.05 * max((len(x) for x in h), default=0)) if h else 0.0 for h in ev.hits])
        scores = w.duty * duty + w.similarity * ev.similarity + w.topic * ev.topic + w.model * ev.model
        district = ev.location.district
        target = self._index.get(district) if district else None
        if target is not None and self._local[target]:
            local_mass = float(ev.model[self._local].sum())
            local_best = float(scores[self._local].max())
            scores[self._local] *= w.other_district
            scores[target] = local_best + w.model * (local_mass - ev.model[target]) + w.place * max(local_mass, duty[target])
        logits = scores / max(w.temperature, 1e-6)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        order = np.argsort(-probs, kind="stable")[:top_k]
        return [RankedUnit(self.names[i], float(probs[i]), self._why(i, ev, duty, target)) for i in order]

    def _why(self, i: int, ev: Evidence, duty: np.ndarray, target: int | None) -> list[str]:
        why = []
        if ev.hits[i]:
            why.append("权责清单：" + "、".join(ev.hits[i][:3]))
        if i == target:
            places = "、".join(dict.fromkeys(ev.location.places[:3])) or self.names[i]
            why.append(f"属地：问题发生在{self.names[i]}（{places}）")
        if ev.model[i] >= 0.1 or (i == target and ev.model[self._local].sum() >= 0.1):
            p = ev.model[self._local].sum() if i == target else ev.model[i]
            why.append(f"模型：相似历史工单 {p:.2f}")
        name, p = ev.best_topic[i]
        if p >= 0.4:
            why.append(f"主题：{name}")
        return why or ["文本与该单位职责描述相近"]
