"""Hot spots and duplicates: group open orders into incidents, so twenty calls about one problem are one job.

A new order joins the best-scoring open incident when its problem description reads like the
incident's (TF-IDF cosine over character 1-2 grams and the project's hotline terms, against the incident's
closest member, with place names cut out of the text so that wording and place are judged separately), the districts agree, and it is inside the time window. A shared specific
place (a road, estate or landmark, never a whole district or 街道) raises the score; two different
specific places lower it, because the same complaint about another road is another incident. Orders
that name no district and no specific place never link: they cannot be told apart from the same
question asked by two callers about two places.

The tracker is incremental and deterministic: replaying the same orders (sorted by time, then id)
with the same dispatcher separations gives the same incidents and ids, so the API can rebuild it from
its database with `IncidentTracker.from_orders`.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

from triage.places import Gazetteer, default_gazetteer
from triage.resources import CORPUS_DIR, TERMS_FILE

N_FEATURES = 2**18
SPECIFIC_KINDS = frozenset({"road", "estate", "landmark"})
"""Place kinds precise enough to say two calls are about the same spot; streets and towns are areas."""
_SPECIFIC_SUFFIX = re.compile(r"(路|大道|街|桥|大桥|隧道|小区|广场)$")
"""Names listed as ambiguous (they span districts) still name one spot when they are roads or bridges."""
_PLACEHOLDER = re.compile(r"\[[^\]]{1,6}\]")
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class OrderSignal:
    """What the tracker needs of an order: masked text, when, and where the triage put it."""

    id: str
    text: str
    created_at: datetime
    district: str | None = None
    places: list[str] = field(default_factory=list)
    topic: str | None = None

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError(f"order {self.id}: created_at must be timezone-aware")


@dataclass(frozen=True)
class Link:
    """Why an order joined an incident: the score that won, its text similarity, and the shared place."""

    order_id: str
    incident_id: str
    score: float
    similarity: float
    shared_place: str | None
    merged: tuple[str, ...] = ()
    """Incidents this order showed to be the same problem, folded into `incident_id` (their ids are gone)."""


@dataclass(frozen=True)
class Unlinked:
    """A dispatcher's override: the order now stands alone and is kept apart from its former incident."""

    order_id: str
    from_incident: str
    incident_id: str
    separated_from: tuple[str, ...]


@dataclass(frozen=True)
class Incident:
    """One problem as the hotline sees it, with how fast it is growing."""

    id: str
    order_ids: tuple[str, ...]
    count: int
    first_seen: datetime
    last_seen: datetime
    last_24h: int
    previous_24h: int
    daily: tuple[int, ...]
    """Orders per 24 h, oldest first, the last bucket ending at `now`."""
    district: str | None
    place: str | None
    places: tuple[str, ...]
    topic: str | None
    open: bool
    alerting: bool


@dataclass
class _Order:
    signal: OrderSignal
    indices: np.ndarray
    data: np.ndarray
    specific: frozenset[str]


@dataclass
class _Group:
    id: str
    members: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    districts: Counter[str] = field(default_factory=Counter)
    places: Counter[str] = field(default_factory=Counter)
    topics: Counter[str] = field(default_factory=Counter)
    district: str | None = None


def _most_common(counter: Counter[str]) -> str | None:
    """The most frequent value; ties go to the one counted first (Counter keeps insertion order)."""
    return max(counter, key=lambda k: counter[k]) if counter else None


class TextVectoriser:
    """Character 1-2 grams (sublinear counts, hashed) plus the project's hotline terms, weighted up.

    Two callers rarely word a problem alike, but both say 路灯 or 井盖: the terms of data/hotline_terms.txt
    carry the problem across wordings. Document frequencies come from a background corpus.

    The tracker weighs them with IDF from the background plus every order it has seen, so the hotline's
    set phrases (你好, 我要反映, 麻烦尽快处理) fade as they recur and the words of the problem carry the score.
    """

    def __init__(
        self,
        background: Iterable[str] = (),
        gazetteer: Gazetteer | None = None,
        ngram_range: tuple[int, int] = (1, 2),
        terms: Iterable[str] | None = None,
        term_weight: float = 3.0,
    ) -> None:
        from sklearn.feature_extraction.text import (
            HashingVectorizer,  # here: a service worker imports it on its first order, not at start
        )

        self.gazetteer = gazetteer or default_gazetteer()
        self._hasher = HashingVectorizer(
            analyzer="char", ngram_range=ngram_range, n_features=N_FEATURES, alternate_sign=False, norm=None
        )
        self.term_weight = term_weight
        self._terms = tuple(sorted(_hotline_terms() if terms is None else set(terms)))
        self._term_hasher = HashingVectorizer(
            analyzer=self._term_tokens, n_features=N_FEATURES, alternate_sign=False, norm=None
        )
        docs = [self.content(t) for t in background]
        self.documents = len(docs)
        self.df = np.zeros(N_FEATURES)
        if docs:
            self.df = np.bincount(self._matrix(docs).indices, minlength=N_FEATURES).astype(float)

    def _term_tokens(self, text: str) -> list[str]:
        """The project's hotline terms (路灯, 井盖, 停水, 广场舞...) said in the text, as features of their own."""
        return [f"§{term}" for term in self._terms if term in text]  # 路灯不亮 counts as 路灯 too

    def _matrix(self, docs: list[str]) -> Any:
        chars = self._hasher.transform(docs).tocsr()
        chars.data = 1.0 + np.log(chars.data)
        if not self._terms or not self.term_weight:
            return chars
        return (chars + self.term_weight * self._term_hasher.transform(docs).sign()).tocsr()

    def content(self, text: str, places: Sequence[str] = ()) -> str:
        """The text without place names and placeholders: what the problem is, not where."""
        for match in reversed(self.gazetteer.find(text)):
            text = text[: match.start] + " " + text[match.end :]
        for place in places:
            text = text.replace(place, " ")
        return _PLACEHOLDER.sub(" ", text)

    def transform(self, texts: Sequence[str], places: Sequence[Sequence[str]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Sparse sublinear term counts as (indices, values), one per text."""
        if not texts:
            return []  # the hashers cannot transform an empty batch
        matrix = self._matrix([self.content(t, p) for t, p in zip(texts, places, strict=True)])
        out = []
        for row in range(matrix.shape[0]):
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            out.append((matrix.indices[start:end].astype(np.int64), matrix.data[start:end].astype(float)))
        return out


@lru_cache(maxsize=1)
def _hotline_terms() -> frozenset[str]:
    """Words of data/hotline_terms.txt: the project's own vocabulary of problems and services."""
    lines = TERMS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(p.split()[0] for p in lines if p.strip() and len(p.split()[0]) >= 2)


BACKGROUND_CALLS = 820
"""Calls of the corpus the background IDF is taken from. The linking threshold is tuned on this scale (IDF grows
with the number of documents), so the background keeps its size as the corpus grows: a fixed random sample."""


def _corpus_texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS_DIR.glob("calls_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    return texts


def background_texts(size: int = BACKGROUND_CALLS) -> list[str]:
    """A fixed sample of the corpus's calls (seeded), the same on every machine for the same corpus."""
    texts = _corpus_texts()
    return texts if len(texts) <= size else random.Random(0).sample(texts, size)


@lru_cache(maxsize=1)
def default_vectoriser() -> TextVectoriser:
    """IDF from the project's own calls: the hotline's register (你好, 我要反映, 麻烦) weighs little."""
    return TextVectoriser(background_texts())


class IncidentTracker:
    """Links a stream of open orders into incidents; see the module docstring for the rule."""

    def __init__(
        self,
        *,
        threshold: float = 0.6,
        place_boost: float = 0.3,
        place_penalty: float = 1.0,
        window: timedelta = timedelta(hours=72),
        max_age: timedelta = timedelta(days=14),
        alert_orders: int = 10,
        trend_days: int = 7,
        compare_last: int = 20,
        merge: bool = True,
        top_k: int = 1,
        idf_power: float = 1.5,
        core_share: float = 0.3,
        gazetteer: Gazetteer | None = None,
        vectoriser: TextVectoriser | None = None,
    ) -> None:
        """
        threshold: score an order needs to join an incident (similarity, plus or minus the place terms).
        Defaults were tuned on training.incident_stream seed 0 (python -m training.bench_incidents).
        window: the longest quiet gap an incident survives; an order after it starts a new incident.
        max_age: an incident older than this takes no more orders (a recurring problem is a new incident).
        alert_orders: an open incident with at least this many orders is alerting.
        """
        self.threshold = threshold
        self.place_boost = place_boost
        self.place_penalty = place_penalty
        self.window = window
        self.max_age = max_age
        self.alert_orders = alert_orders
        self.trend_days = trend_days
        self.compare_last = compare_last
        self.merge = merge
        self.top_k = top_k
        self.idf_power = idf_power
        self.core_share = core_share
        self.gazetteer = gazetteer or default_gazetteer()
        self.vectoriser = vectoriser or (default_vectoriser() if gazetteer is None else TextVectoriser(gazetteer=gazetteer))
        self._orders: dict[str, _Order] = {}
        self._group_of: dict[str, str] = {}
        self._groups: dict[str, _Group] = {}
        self._active: set[str] = set()
        self._by_district: dict[str, set[str]] = {}
        self._by_place: dict[str, set[str]] = {}
        self._apart: dict[str, set[str]] = {}
        self._df = self.vectoriser.df.copy()
        self._documents = self.vectoriser.documents
        self._buffer = np.zeros(N_FEATURES)
        self._latest: datetime | None = None
        self._since_prune = 0
        self._specific_cache: dict[str, bool] = {}

    # ---- building -------------------------------------------------------------------------------

    @classmethod
    def from_orders(
        cls,
        orders: Iterable[OrderSignal],
        *,
        assignments: Mapping[str, str] | None = None,
        apart: Mapping[str, Iterable[str]] | None = None,
        **params: object,
    ) -> IncidentTracker:
        """Rebuild from stored orders, oldest first (ties by id), so every rebuild gives the same incidents.

        assignments: order id -> incident id already given out (kept as is, not re-scored).
        apart: order id -> order ids a dispatcher separated it from (`separations()`), honoured on replay.
        """
        tracker = cls(**params)  # type: ignore[arg-type]
        for order_id, others in (apart or {}).items():
            for other in others:
                tracker._keep_apart(order_id, other)
        tracker.add_many(orders, assignments=assignments)
        return tracker

    def add_many(self, orders: Iterable[OrderSignal], *, assignments: Mapping[str, str] | None = None) -> list[Link | None]:
        """Add orders in time order (vectorised in one batch): what `add` returns, for each."""
        ordered = sorted(orders, key=lambda o: (o.created_at, o.id))
        vectors = self.vectoriser.transform([o.text for o in ordered], [o.places for o in ordered])
        results: list[Link | None] = []
        for order, vector in zip(ordered, vectors, strict=True):
            assigned = (assignments or {}).get(order.id)
            if assigned is not None:
                self._store(order, vector)
                self._advance(order.created_at)
                self._join(order.id, self._groups.get(assigned) or self._new_group(order.id, assigned))
                results.append(None)
            else:
                results.append(self._add(order, vector))
        return results

    def add(self, order: OrderSignal) -> Link | None:
        """Link `order` to the best matching open incident, or start a new one (then None)."""
        vector = self.vectoriser.transform([order.text], [order.places])[0]
        return self._add(order, vector)

    def _add(self, order: OrderSignal, vector: tuple[np.ndarray, np.ndarray]) -> Link | None:
        stored = self._store(order, vector)
        self._advance(order.created_at)
        matches = self._matches(stored)
        if not matches:
            self._join(order.id, self._new_group(order.id))
            return None
        group, score, similarity, shared = matches[0]
        merged = self._merge(group, [m[0] for m in matches[1:]]) if self.merge else ()
        self._join(order.id, group)
        return Link(order.id, group.id, round(score, 4), round(similarity, 4), shared, merged)

    def _store(self, order: OrderSignal, vector: tuple[np.ndarray, np.ndarray]) -> _Order:
        if order.id in self._orders:
            raise ValueError(f"order {order.id} is already tracked")
        specific = frozenset(p for p in order.places if self._is_specific(p))
        stored = _Order(order, vector[0], vector[1], specific)
        self._orders[order.id] = stored
        self._df[stored.indices] += 1.0
        self._documents += 1
        return stored

    def _is_specific(self, name: str) -> bool:
        cached = self._specific_cache.get(name)
        if cached is None:
            matches = self.gazetteer.find(name)
            whole = [m for m in matches if m.start == 0 and m.end == len(name)]
            if not whole:
                cached = True  # a place the gazetteer does not know: an address the triage extracted
            elif whole[0].place.kind == "ambiguous":
                cached = bool(_SPECIFIC_SUFFIX.search(name))
            else:
                cached = whole[0].place.kind in SPECIFIC_KINDS
            self._specific_cache[name] = cached
        return cached

    # ---- matching ---------------------------------------------------------------------------------

    def _candidates(self, order: _Order) -> list[_Group]:
        signal = order.signal
        ids: set[str] = set()
        for place in order.specific:
            ids |= self._by_place.get(place, set())
        if signal.district is not None:
            ids |= self._by_district.get(signal.district, set())
        blocked = self._apart.get(signal.id, set())
        out = []
        for gid in sorted(ids):
            group = self._groups[gid]
            assert group.first_seen is not None and group.last_seen is not None
            t = signal.created_at
            if t - group.last_seen > self.window or group.first_seen - t > self.window:
                continue
            if t - group.first_seen > self.max_age:
                continue
            if signal.district and group.district and signal.district != group.district:
                continue
            if blocked and blocked.intersection(group.members):
                continue
            out.append(group)
        return out

    def _idf(self, indices: np.ndarray) -> np.ndarray:
        return (np.log((self._documents + 1.0) / (self._df[indices] + 1.0)) + 1.0) ** self.idf_power

    def _similarities(self, order: _Order, groups: Sequence[_Group]) -> np.ndarray:
        """Cosine of the order with each group's closest recent member, under the current IDF.

        The closest member rather than a centroid: callers word one problem in a few ways, and a new
        call usually repeats one of them.
        """
        rows = [[self._orders[m] for m in g.members[-self.compare_last :]] for g in groups]
        members = [m for row in rows for m in row]
        lengths = np.array([len(m.indices) for m in members])
        indices = np.concatenate([m.indices for m in members])
        weights = np.concatenate([m.data for m in members]) * self._idf(indices)
        own = order.data * self._idf(order.indices)
        own_norm = float(np.sqrt(own @ own))
        if own_norm == 0.0 or not len(indices):
            return np.zeros(len(groups))
        self._buffer[order.indices] = own / own_norm
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        dots = np.add.reduceat(weights * self._buffer[indices], starts)
        norms = np.sqrt(np.add.reduceat(weights * weights, starts))
        self._buffer[order.indices] = 0.0
        cosines = np.divide(dots, norms, out=np.zeros_like(dots), where=(norms > 0) & (lengths > 0))
        starts_of_groups = np.concatenate(([0], np.cumsum([len(r) for r in rows])[:-1]))
        if self.top_k == 1:
            return np.maximum.reduceat(cosines, starts_of_groups)
        out = np.zeros(len(groups))
        at = 0
        for g, row in enumerate(rows):
            top = np.sort(cosines[at : at + len(row)])[::-1][: self.top_k]
            out[g] = float(top.mean())
            at += len(row)
        return out

    def _matches(self, order: _Order) -> list[tuple[_Group, float, float, str | None]]:
        """Every open incident the order could join, best first (ties: the older incident)."""
        candidates = self._candidates(order)
        if not candidates:
            return []
        out = []
        for group, similarity in zip(candidates, self._similarities(order, candidates).tolist(), strict=True):
            shared = sorted(order.specific.intersection(self._core(group)), key=lambda p: (-group.places[p], p))
            score = similarity
            if shared:
                score += self.place_boost
            elif order.specific and group.places:
                score -= self.place_penalty
            if score >= self.threshold:
                out.append((group, score, similarity, shared[0] if shared else None))
        out.sort(key=lambda m: (-m[1], m[0].first_seen, m[0].id))
        return out

    def _core(self, group: _Group) -> list[str]:
        """The places most of an incident's callers name; a landmark one caller adds says little."""
        if not group.places:
            return []
        top = max(group.places.values())
        return [p for p, n in group.places.items() if n == top or n >= self.core_share * len(group.members)]

    def _merge(self, target: _Group, others: Sequence[_Group]) -> tuple[str, ...]:
        """Fold incidents that one order matches into the best one: the same problem reported in two ways.

        The first calls of an incident are often worded differently and start separate incidents; the call
        that reads like both shows they are one. Incidents a dispatcher separated are never merged.
        """
        merged = []
        for other in others:
            if self._separated(target, other):
                continue
            self._unindex(other)
            self._active.discard(other.id)
            del self._groups[other.id]
            for member in other.members:
                target.members.append(member)
                self._group_of[member] = target.id
            merged.append(other.id)
        if merged:
            target.members.sort(key=lambda m: (self._orders[m].signal.created_at, m))
            self._refresh(target)
        return tuple(merged)

    def _separated(self, a: _Group, b: _Group) -> bool:
        return any(self._apart.get(m, set()).intersection(b.members) for m in a.members)

    # ---- groups -------------------------------------------------------------------------------

    def _new_group(self, order_id: str, incident_id: str | None = None) -> _Group:
        gid = incident_id or f"inc-{order_id}"
        n = 1
        while gid in self._groups:
            n += 1
            gid = f"inc-{order_id}-{n}"
        group = _Group(gid)
        self._groups[gid] = group
        self._active.add(gid)
        return group

    def _join(self, order_id: str, group: _Group) -> None:
        group.members.append(order_id)
        self._group_of[order_id] = group.id
        self._refresh(group)

    def _refresh(self, group: _Group) -> None:
        """Recompute the group's summary and re-index it (members change on join and unlink)."""
        self._unindex(group)
        signals = [self._orders[m].signal for m in group.members]
        group.first_seen = min(s.created_at for s in signals)
        group.last_seen = max(s.created_at for s in signals)
        group.districts = Counter(s.district for s in signals if s.district)
        group.places = Counter(p for m in group.members for p in sorted(self._orders[m].specific))
        group.topics = Counter(s.topic for s in signals if s.topic)
        group.district = _most_common(group.districts)
        if group.id in self._active:
            self._index(group)

    def _index(self, group: _Group) -> None:
        if group.district is not None:
            self._by_district.setdefault(group.district, set()).add(group.id)
        for place in group.places:
            self._by_place.setdefault(place, set()).add(group.id)

    def _unindex(self, group: _Group) -> None:
        for ids in (self._by_district.get(group.district or ""), *(self._by_place.get(p) for p in group.places)):
            if ids is not None:
                ids.discard(group.id)

    def _advance(self, t: datetime) -> None:
        """Drop incidents that can take no more orders from the indices, every few hundred orders."""
        if self._latest is None or t > self._latest:
            self._latest = t
        self._since_prune += 1
        if self._since_prune < 256:
            return
        self._since_prune = 0
        horizon = self._latest - self.window - DAY  # a day of slack for orders that arrive out of order
        for gid in sorted(self._active):
            group = self._groups[gid]
            assert group.last_seen is not None
            if group.last_seen < horizon:
                self._unindex(group)
                self._active.discard(gid)

    def _keep_apart(self, a: str, b: str) -> None:
        if a != b:
            self._apart.setdefault(a, set()).add(b)
            self._apart.setdefault(b, set()).add(a)

    # ---- dispatcher and reading ----------------------------------------------------------------

    def unlink(self, order_id: str) -> Unlinked:
        """Take an order out of its incident: it becomes its own, and a replay never puts them back together."""
        former = self._groups[self._group_of[order_id]]
        others = tuple(m for m in former.members if m != order_id)
        if not others:
            return Unlinked(order_id, former.id, former.id, ())
        former.members.remove(order_id)
        self._refresh(former)
        for other in others:
            self._keep_apart(order_id, other)
        group = self._new_group(order_id)
        self._join(order_id, group)
        return Unlinked(order_id, former.id, group.id, others)

    def incident_of(self, order_id: str) -> str:
        return self._group_of[order_id]

    def separations(self) -> dict[str, tuple[str, ...]]:
        """Dispatcher separations to store and pass back to `from_orders(apart=...)`."""
        return {k: tuple(sorted(v)) for k, v in sorted(self._apart.items())}

    def assignments(self) -> dict[str, str]:
        """Order id -> incident id, for every tracked order."""
        return dict(self._group_of)

    def __len__(self) -> int:
        return len(self._orders)

    def incidents(self, now: datetime, *, include_closed: bool = False, min_orders: int = 1) -> list[Incident]:
        """Incidents as of `now`, alerting and fastest-growing first."""
        out = []
        for group in self._groups.values():
            if len(group.members) < min_orders:
                continue
            incident = self._describe(group, now)
            if incident.open or include_closed:
                out.append(incident)
        out.sort(key=lambda i: (not i.alerting, -i.last_24h, -i.count, i.id))
        return out

    def incident(self, incident_id: str, now: datetime) -> Incident:
        return self._describe(self._groups[incident_id], now)

    def _describe(self, group: _Group, now: datetime) -> Incident:
        assert group.first_seen is not None and group.last_seen is not None
        times = sorted(self._orders[m].signal.created_at for m in group.members)
        members = tuple(sorted(group.members, key=lambda m: (self._orders[m].signal.created_at, m)))

        def between(start: datetime, end: datetime) -> int:
            return sum(1 for t in times if start < t <= end)

        daily = tuple(between(now - (self.trend_days - i) * DAY, now - (self.trend_days - i - 1) * DAY) for i in range(self.trend_days))
        is_open = now - group.last_seen <= self.window and now - group.first_seen <= self.max_age
        return Incident(
            id=group.id,
            order_ids=members,
            count=len(members),
            first_seen=group.first_seen,
            last_seen=group.last_seen,
            last_24h=between(now - DAY, now),
            previous_24h=between(now - 2 * DAY, now - DAY),
            daily=daily,
            district=group.district,
            place=_most_common(group.places),
            places=tuple(sorted(group.places, key=lambda p: (-group.places[p], p))),
            topic=_most_common(group.topics),
            open=is_open,
            alerting=is_open and len(members) >= self.alert_orders,
        )


def signal_from_text(
    order_id: str, text: str, created_at: datetime, *, topic: str | None = None, gazetteer: Gazetteer | None = None
) -> OrderSignal:
    """An order signal from normalised text, placed by the gazetteer (what the suggestion's district/places hold)."""
    location = (gazetteer or default_gazetteer()).locate(text)
    return OrderSignal(order_id, text, created_at, location.district, location.places, topic)
