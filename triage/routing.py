"""Unit ranking: whose duty is it (职权原则), where is it (属地原则), and what past orders say.

Districts and zones share one local duty list, so evidence first decides *whether* a matter is local
and the place then decides *which* district: the learned head's probability that the matter is local
(its `属地` class, or its mass over all local units) goes to the district where the problem is. When no
place decides the district, one local unit stands for the local option (the best evidenced one) and its
`why` says that the district is still to be found. Every ranked unit carries `why`: the duty phrase, the
place or the model evidence that put it there.

Serving ranks one call at a time and training tunes the weights over thousands of calls; both go through
`UnitRanker.probabilities`, one vectorised function, so what is tuned is what is served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from triage.places import Location, pair_finder
from triage.units import LOCAL, Catalogue


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
    placed: bool | None = None
    """For a district or zone: whether the place of the problem decided it (False: the district is still to be found);
    None for a unit that does not take matters by place."""

    @property
    def local(self) -> bool:
        """A district or zone: it takes the matter by place, so dispatching it needs the district."""
        return self.placed is not None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "score": round(self.score, 4), "why": self.why}


@dataclass
class Evidence:
    """Everything the ranking looks at for one transcript, computed once so weights can be tuned cheaply."""

    hits: list[list[str]]
    duty: np.ndarray
    """Per unit, how strongly its duty list matched (from `hits`)."""
    similarity: np.ndarray
    topic: np.ndarray
    model: np.ndarray
    topic_p: np.ndarray
    """The topic head's probabilities in `UnitRanker.topics` order (empty without a topic head)."""
    best_topic: np.ndarray
    """Per unit, the index in `topic_p` of its most likely topic (-1 without a topic head)."""
    location: Location
    local: float = 0.0
    """The head's probability that the matter is local (its `属地` class), whichever district it is in."""
    zone: int = -1
    """The index of a zone (经开区, 湘江新区, 高新区) the caller names as the problem's place, -1 when none is."""


@dataclass
class EvidenceBatch:
    """The arrays of many calls' evidence stacked (calls x units): what the weights act on."""

    duty: np.ndarray
    similarity: np.ndarray
    topic: np.ndarray
    model: np.ndarray
    local: np.ndarray
    target: np.ndarray
    """Per call, the index of the local unit where the problem is, -1 when no place decides it."""

    @classmethod
    def stack(cls, evidence: list[Evidence], ranker: UnitRanker) -> EvidenceBatch:
        return cls(
            duty=np.vstack([ev.duty for ev in evidence]),
            similarity=np.vstack([ev.similarity for ev in evidence]),
            topic=np.vstack([ev.topic for ev in evidence]),
            model=np.vstack([ev.model for ev in evidence]),
            local=np.array([ev.local for ev in evidence], dtype=float),
            target=np.array([ranker.target(ev) for ev in evidence], dtype=int),
        )


class UnitRanker:
    """Combines duty-list matching, topic, place and the learned unit head into one ranking."""

    def __init__(self, catalogue: Catalogue, weights: RankingWeights | None = None) -> None:
        self.catalogue = catalogue
        self.weights = weights or RankingWeights()
        self.units = list(catalogue)
        self.names = [u.name for u in self.units]
        self._index = {name: i for i, name in enumerate(self.names)}
        # longest first, ties in catalogue order: sorting a set made the order of equally long phrases (and so
        # `why` and the keywords) change with Python's string hashing from one process to the next
        self._duties = [sorted(dict.fromkeys(u.duties), key=len, reverse=True) for u in self.units]
        # a transcript names few duties: find those through their first two characters, then only the
        # units listing them are filtered (checking all ~900 duty phrases of every unit was most of `evidence`)
        self._duty_units: dict[str, list[int]] = {}
        for i, duties in enumerate(self._duties):
            for duty in duties:
                self._duty_units.setdefault(duty, []).append(i)
        self._duty_starts: dict[str, list[str]] = {}
        for duty in self._duty_units:
            if len(duty) >= 2:
                self._duty_starts.setdefault(duty[:2], []).append(duty)
        self._short_duties = [d for d in self._duty_units if len(d) < 2]
        self._duty_first = pair_finder(self._duty_starts)
        """Where the first two characters of a duty may stand: one regex pass instead of every pair of a text."""
        self._duty_places: dict[str, list[tuple[int, int]]] = {}
        """Per duty phrase, the units listing it and its place in each list (the order of `hits`)."""
        for i, duties in enumerate(self._duties):
            for k, duty in enumerate(duties):
                self._duty_places.setdefault(duty, []).append((i, k))
        self.documents = [" ".join([u.name, *u.aliases, *u.duties]) for u in self.units]
        """Each unit's name, aliases and duties: the pipeline embeds them in its own feature space."""
        self._local = np.array([u.is_local for u in self.units])
        self._zones = {name: self._index[u.name] for u in self.units if u.kind == "zone" for name in (u.name, *u.aliases)}
        """A zone's names and aliases: when the place said is the zone itself, the zone takes the matter, not its district."""
        self.topics = sorted({t for u in self.units for t in u.topics})
        self._covers = np.array([[t in u.topics for t in self.topics] for u in self.units], dtype=float)
        self._covered = self._covers > 0

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
        topic_p = None
        if topic_proba:
            topic_p = np.fromiter((topic_proba.get(t, 0.0) for t in self.topics), dtype=float, count=len(self.topics))
        model = None
        local = 0.0
        if unit_proba:
            model = np.zeros(len(self.units))
            for name, p in unit_proba.items():
                if name in self._index:
                    model[self._index[name]] = p
            local = float(unit_proba.get(LOCAL, 0.0))
        return self.evidence_arrays(text, location=location, similarity=similarity, topic_p=topic_p, model=model, local=local)

    def evidence_arrays(
        self,
        text: str,
        *,
        location: Location,
        similarity: np.ndarray,
        topic_p: np.ndarray | None = None,
        model: np.ndarray | None = None,
        local: float = 0.0,
    ) -> Evidence:
        """`evidence` with the heads' probabilities already as arrays: topics in `topics` order, units in `names`
        order, and `local` the head's `属地` probability."""
        hits = self._duty_hits(text)
        duty = np.zeros(len(self.units))
        for i, h in enumerate(hits):
            if h:
                duty[i] = min(1.0, 0.5 * len(h) + 0.05 * max(len(x) for x in h))
        top = similarity.max()
        similarity = similarity / top if top > 0 else similarity
        if topic_p is not None:
            topic = self._covers @ topic_p
            best = np.where(self._covered, topic_p, -1.0).argmax(axis=1)
        else:
            topic, topic_p, best = np.zeros(len(self.units)), np.zeros(0), np.full(len(self.units), -1)
        model = model if model is not None else np.zeros(len(self.units))
        zone = next((self._zones[m.place.name] for m in location.evidence if not m.residence and m.place.name in self._zones), -1)
        return Evidence(hits, duty, similarity, topic, model, topic_p, best, location, local, zone)

    def _duty_hits(self, text: str) -> list[list[str]]:
        """Per unit, the duty phrases of its list found in `text`, in list order (longest first)."""
        hits: list[list[str]] = [[] for _ in self.units]
        starts = self._duty_starts
        # the text's pairs of characters that may begin a duty, in one regex pass (building every pair of the text
        # as a string cost more than the rest)
        pairs = set(self._duty_first.findall(text)) if self._duty_first else set()
        found = {duty for head in pairs & starts.keys() for duty in starts[head] if duty in text}
        found.update(d for d in self._short_duties if d in text)
        # each unit's phrases found, in its list's order, from where each phrase stands in the lists
        for i, _, phrase in sorted((i, k, duty) for duty in found for i, k in self._duty_places[duty]):
            hits[i].append(phrase)
        return hits

    def target(self, ev: Evidence) -> int:
        """The index of the local unit where the problem is (-1 when no place decides it): a zone the caller
        names, else the district the place lies in."""
        if ev.zone >= 0:
            return ev.zone
        district = ev.location.district
        if district and district not in self._index:  # a catalogue of before a rename knows it by an alias (宁乡县)
            district = self.catalogue.resolve(district)
        i = self._index.get(district, -1) if district else -1
        return i if i >= 0 and self._local[i] else -1

    def probabilities(self, batch: EvidenceBatch, weights: RankingWeights | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(calls x units scores that sum to 1, per call the local unit standing for the local option).

        The local option is one candidate: the district where the problem is, else the local unit with the best
        evidence; it takes the head's whole local mass, and the other local units keep `other_district` of theirs.
        """
        w = weights or self.weights
        scores = w.duty * batch.duty + w.similarity * batch.similarity + w.topic * batch.topic + w.model * batch.model
        n = scores.shape[0]
        rows = np.arange(n)
        local_columns = np.flatnonzero(self._local)
        if len(local_columns):
            local_scores = scores[:, local_columns]
            local_mass = batch.local + batch.model[:, local_columns].sum(axis=1)
            local_best = local_scores.max(axis=1)
            placed = batch.target >= 0
            chosen = np.where(placed, batch.target, local_columns[local_scores.argmax(axis=1)])
            scores[:, local_columns] *= w.other_district
            bonus = np.where(placed, w.place * np.maximum(local_mass, batch.duty[rows, chosen]), 0.0)
            scores[rows, chosen] = local_best + w.model * (local_mass - batch.model[rows, chosen]) + bonus
        else:
            chosen = np.full(n, -1)
        logits = scores / max(w.temperature, 1e-6)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return probs, chosen

    def rank_evidence(self, ev: Evidence, *, top_k: int = 5, weights: RankingWeights | None = None) -> list[RankedUnit]:
        target = self.target(ev)
        # `EvidenceBatch.stack([ev], self)`: the same one-row arrays, as views rather than copies
        batch = EvidenceBatch(
            ev.duty[None, :], ev.similarity[None, :], ev.topic[None, :], ev.model[None, :],
            np.array([ev.local], dtype=float), np.array([target], dtype=int),
        )
        probs, chosen = self.probabilities(batch, weights)
        p = probs[0]
        order = np.argsort(-p, kind="stable")[:top_k]
        representative = int(chosen[0]) if target < 0 and chosen[0] >= 0 else None
        local_mass = ev.local + float(ev.model[self._local].sum())
        return [
            RankedUnit(
                self.names[i],
                float(p[i]),
                self._why(i, ev, ev.duty, target if target >= 0 else None, representative, local_mass),
                bool(i == target) if self._local[i] else None,
            )
            for i in order
        ]

    def _why(
        self,
        i: int,
        ev: Evidence,
        duty: np.ndarray,
        target: int | None,
        representative: int | None = None,
        local_mass: float | None = None,
    ) -> list[str]:
        """`local_mass`: the head's local probability and its mass over the local units, when the caller has it."""
        why = []
        if ev.hits[i]:
            why.append("权责清单：" + "、".join(ev.hits[i][:3]))
        if i == target:
            places = "、".join(dict.fromkeys(ev.location.places[:3])) or self.names[i]
            why.append(f"属地：问题发生在{self.names[i]}（{places}）")
            why.extend(ev.location.why)  # a place matched by its sound says so
        if local_mass is None:
            local_mass = ev.local + float(ev.model[self._local].sum())
        if i == representative and local_mass >= 0.1:
            why.append("属地事项：未能确定问题发生的区县，请核实地点后派单")
        if ev.model[i] >= 0.1 or (i in (target, representative) and local_mass >= 0.1):
            p = local_mass if i in (target, representative) else ev.model[i]
            why.append(f"模型：相似历史工单 {p:.2f}")
        j = ev.best_topic[i]
        if j >= 0 and ev.topic_p[j] >= 0.4:
            why.append(f"主题：{self.topics[j]}")
        return why or ["文本与该单位职责描述相近"]


def put_first(units: list[RankedUnit], name: str, why: str) -> list[RankedUnit]:
    """`name` first, at the top unit's score, with `why`; the others after it in their order, as many as before.

    For a call redirected to an emergency number: the unit behind the number acts, whatever the words resemble."""
    top = units[0].score if units else 1.0
    rest = [u for u in units if u.name != name]
    return [RankedUnit(name, top, [why]), *rest[: max(len(units) - 1, 0)]]
