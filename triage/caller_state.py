"""The caller's state (平静 / 焦急 / 愤怒 / 求救), so that a distressed or angry caller is handled first.

How the caller speaks, never what the matter is (data/corpus/elements/GUIDE.md): cues from data/elements.yaml
(救命, fire, someone collapsed, an attack under way; 曝光, 找媒体, 凭什么, 第三次打了; 快点, 急死了, 怎么办 …) give
each state a total. Untrained, a rule scorer takes the strongest state whose total reaches its threshold
(求救 > 愤怒 > 焦急 > 平静, as the guide says). Trained on labelled calls, a small logistic regression over the same
cue totals and character n-grams decides, but a strong 求救 cue (救命, 着火了, 叫不醒 …) still makes the call 求救:
recall of 求救 matters most, an emergency put behind calm callers costs far more than the reverse.

The state never changes a category, unit or scope: it only orders the dispatcher's queue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from triage.classifiers.compiled import WHITE_SPACES, PackedHash, packed_hits
from triage.elements import CALLER_STATES, ElementRules, default_element_rules

EMERGENCY = "求救"
CALM = "平静"
_NOW = re.compile(r"现在|正在|还在|刚刚|刚才|快点|快来|救命")
PAST_WINDOW = 16
"""Characters before a 求救 cue in which a word of the past or of "what if" (去年, 差点, 万一) silences it."""
PAST_FACTOR = 0.25
"""What a 求救 cue counts once silenced: a heart attack last year is told, not happening."""
STORY_CHARS = 300
"""A text this long with no word of now is a story told afterwards (most written letters), as data/rules.yaml's
`story_chars` says of emergencies: its 求救 cues count as silenced ones."""


@dataclass(frozen=True)
class CueHit:
    state: str
    name: str
    weight: float
    start: int
    end: int


@dataclass(frozen=True)
class StateResult:
    """One call's state, how sure (the probability of that state), and the cues that spoke for it."""

    state: str
    score: float
    cues: tuple[str, ...] = ()
    likeliest: StateResult | None = None
    """Set where the state is 求救 only because its probability reached the head's `rescue_threshold`: the likeliest
    state, which a written message keeps (the threshold was chosen on calls; a letter tells a danger afterwards)."""


def cue_hits(text: str, rules: ElementRules | None = None) -> list[CueHit]:
    """Every cue of data/elements.yaml the text holds, each counted once, with the weight it counts for."""
    rules = rules or default_element_rules()
    hits: list[CueHit] = []
    story = len(text) > STORY_CHARS and not _NOW.search(text)
    for state, cues in rules.state_cue_scans.items():  # `state_cues`, each searched faster (`triage.fastre`)
        for cue, pattern in cues:
            m = pattern.search(text)
            if m is None or m.end() == m.start():
                continue
            weight = cue.weight
            if state == EMERGENCY:
                before = text[max(0, m.start() - PAST_WINDOW) : m.start()]
                if story or (rules.state_past.search(before) and not _NOW.search(before)):
                    weight *= PAST_FACTOR
            hits.append(CueHit(state, cue.name, weight, m.start(), m.end()))
    return hits


RESCUE_NUMBERS = ("119", "120")
"""A call redirected to these is a danger to life or body now, so its caller's state is 求救 whatever the words."""
LIFE_CUE_WEIGHT = 3.0
"""A 求救 cue this heavy (data/elements.yaml: an attack, someone hurt or trapped, fire) is a danger to life or body."""


def redirected(state: StateResult, text: str, number: str | None, rules: ElementRules | None = None) -> StateResult:
    """The state of a call redirected to an emergency number: 求救 for 119/120, and for 110/122 when a cue of danger
    to life or body is said; a theft or a collision nobody was hurt in stays as the words say (urgent, not a cry
    for help: data/corpus/elements/GUIDE.md)."""
    if state.state == EMERGENCY:
        return state
    danger = [h.name for h in cue_hits(text, rules) if h.state == EMERGENCY and h.weight >= LIFE_CUE_WEIGHT]
    if number not in RESCUE_NUMBERS and not danger:
        return state
    return StateResult(EMERGENCY, 1.0, (*dict.fromkeys([*state.cues, *danger]), f"紧急转{number}"))


def cue_totals(text: str, rules: ElementRules | None = None) -> dict[str, float]:
    """Each state's total over the cues the text holds (平静's is the file's `calm`)."""
    rules = rules or default_element_rules()
    totals = dict.fromkeys(CALLER_STATES, 0.0)
    totals[CALM] = rules.state_calm
    for hit in cue_hits(text, rules):
        totals[hit.state] += hit.weight
    return totals


def rule_state(totals: Mapping[str, float], rules: ElementRules | None = None) -> str:
    """The strongest state whose total reaches its threshold (求救 > 愤怒 > 焦急), else 平静."""
    rules = rules or default_element_rules()
    for state in reversed(CALLER_STATES[1:]):
        if totals.get(state, 0.0) >= rules.state_thresholds[state]:
            return state
    return CALM


def _rule_proba(totals: Mapping[str, float], state: str) -> np.ndarray:
    """Probabilities in `CALLER_STATES` order from the totals (a softmax), the rule's state made the most likely."""
    raw = np.array([totals[s] for s in CALLER_STATES], dtype=float)
    k = CALLER_STATES.index(state)
    raw[k] = max(raw[k], raw.max() + 0.5)
    e = np.exp(raw - raw.max())
    return e / e.sum()


def _probabilities(z: np.ndarray) -> np.ndarray:
    """Logistic regression's probabilities from its scores: a sigmoid for two classes, else a softmax."""
    if z.shape[0] == 1:
        p = 1.0 / (1.0 + math.exp(-float(z[0])))
        return np.array([1.0 - p, p])
    e = np.exp(z - z.max())
    return e / e.sum()


def _lifted(row: np.ndarray, k: int) -> np.ndarray:
    """The probabilities with state `k` made the most likely, then renormalised."""
    row = row.copy()
    row[k] = row.max() + 0.05
    return row / row.sum()


def _result(row: np.ndarray, hits: list[CueHit], columns: list[str]) -> StateResult:
    """The likeliest state of a row, its probability, and the cues of that state that fired."""
    k = int(row.argmax())
    return StateResult(columns[k], round(float(row[k]), 4), tuple(h.name for h in hits if h.state == columns[k]))


@dataclass(eq=False)
class StateScorer:
    """The caller's state as served: `predict`, `predict_proba` and `assess` over transcripts.

    Without `classes` it scores by the cue rules (columns in `CALLER_STATES` order). Trained
    (`triage.classifiers.caller_state.CallerState`), it holds the logistic regression as arrays: character n-grams
    of the lower-cased text (packed keys, as the features store them), their IDF, and the weights of the n-grams
    and of the cue columns. `emergency_floor`: a 求救 total at or above which the call is 求救 whatever the model
    says (None: never). `rescue_threshold`: a probability of 求救 at or above which the call is 求救 even where
    another state is likelier (None: the likeliest state only), chosen out of fold for the recall of 求救.
    """

    classes: list[str] | None = None
    ngram_range: tuple[int, int] = (1, 3)
    char_keys: list[np.ndarray] = field(default_factory=list)
    char_columns: list[np.ndarray] = field(default_factory=list)
    char_idf: np.ndarray | None = None
    char_coef: np.ndarray | None = None
    """n_char_ngrams x n_classes."""
    cue_coef: np.ndarray | None = None
    """(4 state totals + one per cue) x n_classes."""
    intercept: np.ndarray | None = None
    cue_scale: float = 1.0
    emergency_floor: float | None = 3.0
    rules_path: str | None = None
    rescue_threshold: float | None = None

    def __post_init__(self) -> None:
        self.ngram_range = (int(self.ngram_range[0]), int(self.ngram_range[1]))
        if self.classes is not None:
            self.classes_ = np.asarray(self.classes)
        self._hashed: list[PackedHash | None] = [None] * len(self.char_keys)

    @property
    def fitted(self) -> bool:
        return self.classes is not None

    def rules(self) -> ElementRules:
        return default_element_rules(self.rules_path) if self.rules_path else default_element_rules()

    def cue_matrix(
        self, texts: Sequence[str], rules: ElementRules, hits_out: list[list[CueHit]] | None = None
    ) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Per text: the four state totals (log-scaled) and one column per cue (its weight when hit)."""
        names = [(state, cue.name) for state, cues in rules.state_cues.items() for cue, _ in cues]
        index = {name: i for i, name in enumerate(names)}
        X = np.zeros((len(texts), len(CALLER_STATES) + len(names)))
        totals_all: list[dict[str, float]] = []
        for row, text in enumerate(texts):
            totals = dict.fromkeys(CALLER_STATES, 0.0)
            totals[CALM] = rules.state_calm
            hits = cue_hits(text, rules)
            if hits_out is not None:
                hits_out.append(hits)
            for hit in hits:
                totals[hit.state] += hit.weight
                X[row, len(CALLER_STATES) + index[(hit.state, hit.name)]] = hit.weight
            for k, state in enumerate(CALLER_STATES):
                X[row, k] = math.log1p(totals[state])
            totals_all.append(totals)
        return X * self.cue_scale, totals_all

    def decisions(self, texts: Sequence[str], cues: np.ndarray) -> list[np.ndarray]:
        """The logistic regression's scores per text, as `TfidfVectorizer` + `LogisticRegression` give them:
        character n-grams of the lower-cased text (runs of whitespace as one space), 1 + log(count) times IDF,
        L2-normalised, then the cue columns. The n-grams of the whole batch are found at once; each text's sums
        run over its n-grams in order of first appearance, as the vectoriser's counting visits them."""
        docs = [WHITE_SPACES.sub(" ", text.lower()) for text in texts]
        lo, hi = self.ngram_range
        rows, columns = packed_hits(docs, range(lo, hi + 1), self.char_keys, self.char_columns, self._hashed)
        order = np.argsort(rows, kind="stable")
        bounds = np.searchsorted(rows[order], np.arange(len(docs) + 1))
        out = []
        for row in range(len(docs)):
            z = cues[row] @ self.cue_coef + self.intercept
            found = columns[order[bounds[row] : bounds[row + 1]]]
            if len(found):
                unique, first, counts = np.unique(found, return_index=True, return_counts=True)
                seen = np.argsort(first, kind="stable")
                cols, counts = unique[seen], counts[seen]
                values = (1.0 + np.log(counts.astype(float))) * self.char_idf[cols]
                z = z + (values / np.sqrt(values @ values)) @ self.char_coef[cols]
            out.append(z)
        return out

    @staticmethod
    def _texts(X: Iterable[str] | str) -> list[str]:
        if isinstance(X, str):
            raise TypeError("expected a list of transcripts, got one string")
        return ["" if t is None else str(t) for t in X]

    def predict_proba(self, X: Iterable[str]) -> np.ndarray:
        """Probabilities per state: columns `classes_` when trained, else `CALLER_STATES` (the rule scorer)."""
        return self._proba(self._texts(X))

    def _proba(
        self, texts: list[str], hits_out: list[list[CueHit]] | None = None, rules: ElementRules | None = None, rescue: bool = True
    ) -> np.ndarray:
        rules = rules or self.rules()
        cues, totals = self.cue_matrix(texts, rules, hits_out)
        if not texts:
            return np.zeros((0, len(self.columns())))
        if not self.fitted:
            return np.vstack([_rule_proba(t, rule_state(t, rules)) for t in totals])
        proba = np.vstack([_probabilities(z) for z in self.decisions(texts, cues)])
        classes = list(self.columns())
        if EMERGENCY not in classes:
            return proba
        k = classes.index(EMERGENCY)
        for row, t in enumerate(totals):
            floor = self.emergency_floor is not None and t[EMERGENCY] >= self.emergency_floor and proba[row].argmax() != k
            if floor or (rescue and self._rescued(proba[row], k)):
                proba[row] = _lifted(proba[row], k)
        return proba

    def _rescued(self, row: np.ndarray, k: int) -> bool:
        """Whether a row another state wins is 求救 by the rescue threshold."""
        return self.rescue_threshold is not None and row[k] >= self.rescue_threshold and row.argmax() != k

    def columns(self) -> list[str]:
        return list(self.classes) if self.classes is not None else list(CALLER_STATES)

    def predict(self, X: Iterable[str]) -> list[str]:
        """One state per transcript."""
        columns = self.columns()
        return [columns[int(i)] for i in self.predict_proba(X).argmax(axis=1)]

    def assess(self, X: Iterable[str], rules: ElementRules | None = None) -> list[StateResult]:
        """One `StateResult` per transcript: the state, its probability, and the names of the cues that fired.
        `rules`: the cues to read (a bundle's own data/elements.yaml; default: `rules_path`, else the project's)."""
        texts = self._texts(X)
        columns = self.columns()
        hits: list[list[CueHit]] = []
        proba = self._proba(texts, hits, rules, rescue=False)
        rescue = columns.index(EMERGENCY) if self.fitted and EMERGENCY in columns else -1
        out: list[StateResult] = []
        for row, row_hits in zip(proba, hits, strict=True):
            result = _result(row, row_hits, columns)
            if rescue >= 0 and self._rescued(row, rescue):
                result = replace(_result(_lifted(row, rescue), row_hits, columns), likeliest=result)
            out.append(result)
        return out

    def compiled(self) -> StateScorer:
        return self
