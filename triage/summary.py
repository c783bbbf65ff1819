"""A one-line summary of the call for the work order: 来电人反映：…；诉求：…, at most 60 characters.

The operator's form shows it editable. It is extractive: every piece is copied from the transcript (the address,
the time, the call's key clause and the ask of `triage.elements`), joined by the register's fixed words and
commas, so it never says what the caller did not. The address and the ask are always kept when they exist; the
time and the key clause give way first, and an ask too long on its own is cut at a clause boundary.

The key clause is the one whose words weigh most: by the keyword weights the caller passes (the pipeline's
keywords), else by the general-Chinese rarity of its words (jieba's IDF over the project's segmenter; TextRank
needs part-of-speech tagging, a few milliseconds a call). A clause naming the call's object counts more; greetings,
fillers and the ask's own clauses are never the key clause.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from triage.elements import Elements, Span, clauses, is_pause
from triage.schemas import Register

MAX_CHARS = 60
LEAD = "来电人反映："
ASK_LEAD = "；诉求："
ASK_ONLY_LEAD = "来电人诉求："
"""The lead of a summary with nothing to report beside the ask (no place, time or other clause): not an empty 反映."""
WRITTEN_LEADS = ("来信人反映：", "来信人诉求：")
"""The same leads for written text (web, WeChat, app, letters): its writer did not call."""
_SALUTATION = re.compile(r"尊敬的[^，。！？,.!?]{0,10}?(?:领导|同志|部门|工作人员|市长|书记)[：:]?$")
"""A letter's salutation where it ends a clause: normalising joins a title to the 尊敬的领导 on the next line."""
SEPARATOR = "，"
MIN_WORD_IDF = 5.0
"""Words this common in general Chinese (jieba's IDF below it: 电话, 我们, 这个) weigh nothing in the key clause."""
_GREETING = frozenset("喂你好您嗯呃啊哎唉哦是这样的那个就对请问打扰了谢")


def _weights_from_keywords(keywords: Mapping[str, float] | Sequence[str]) -> dict[str, float]:
    """Keyword weights: a mapping as given, or a ranked list (the suggestion's keywords) weighted by rank."""
    if isinstance(keywords, Mapping):
        return {str(k): float(v) for k, v in keywords.items() if k and float(v) > 0}
    n = len(keywords)
    return {str(k): float(n - i) for i, k in enumerate(keywords) if k}


def _clause_weights(text: str, parts: list[tuple[int, int]], keywords: Mapping[str, float] | Sequence[str] | None) -> list[float]:
    """Each clause's weight: the keywords it holds, or (no keywords) the IDF of its rarer words."""
    if keywords is not None:
        weights = _weights_from_keywords(keywords)
        return [sum(w for word, w in weights.items() if word in text[s:e]) for s, e in parts]
    from triage.segment import default_segmenter, general_idf

    idf = general_idf()
    totals = [0.0] * len(parts)
    k, pos = 0, 0
    for word in default_segmenter().cut(text):
        at = text.find(word, pos)
        if at < 0:
            continue
        pos = at + len(word)
        while k < len(parts) and parts[k][1] <= at:
            k += 1
        if k == len(parts):
            break
        if len(word) >= 2 and parts[k][0] <= at:
            w = idf.get(word, 12.0)
            if w >= MIN_WORD_IDF:
                totals[k] += w
    return totals


_GREETING_CHARS = "".join(sorted(_GREETING))


def _is_greeting(piece: str) -> bool:
    return not piece.strip(_GREETING_CHARS)  # every character a greeting's


def _without_salutation(text: str, start: int, end: int) -> tuple[int, int]:
    """A clause without the salutation it ends with: the title before it may still be the key clause."""
    salutation = _SALUTATION.search(text, start, end)
    return (start, salutation.start()) if salutation is not None else (start, end)


def key_clause(
    text: str, elements: Elements | None = None, keywords: Mapping[str, float] | Sequence[str] | None = None
) -> Span | None:
    """The clause that says most about the matter, outside the ask; None for a text of greetings only."""
    elements = elements or Elements()
    parts = [_without_salutation(text, start, end) for start, end in clauses(text)]
    # with keywords, a clause's weight is worked out only for the clauses that may be the key clause
    weights = _clause_weights(text, parts, None) if keywords is None else None
    words = _weights_from_keywords(keywords) if keywords is not None else {}
    ask = elements.ask
    obj = elements.object
    best: tuple[float, int, int] | None = None
    for k, (start, end) in enumerate(parts):
        piece = text[start:end]
        if len(piece) < 3 or _is_greeting(piece):
            continue
        if ask is not None and start < ask.end and ask.start < end:
            continue
        weight = weights[k] if weights is not None else sum(w for word, w in words.items() if word in piece)
        score = weight / math.sqrt(len(piece))
        if obj is not None and start <= obj.start and obj.end <= end:
            score = score * 1.5 + 1.0
        if best is None or score > best[0]:
            best = (score, start, end)
    return Span.of(text, best[1], best[2]) if best else None


def _cut_at_clause(piece: str, limit: int) -> str:
    """The longest run of `piece`'s leading clauses that fits in `limit` characters (at least its first words)."""
    if len(piece) <= limit:
        return piece
    cut = 0
    for i in range(min(len(piece), limit + 1) - 1, 0, -1):
        if is_pause(piece, i):
            cut = i
            break
    text = piece[:cut] if cut else piece[:limit]
    return text.rstrip("，,。.！!？?；;：: ")


def _inside(inner: Span | None, outer: Span | None) -> bool:
    return inner is not None and outer is not None and outer.start <= inner.start and inner.end <= outer.end


def summarise(
    text: str,
    elements: Elements,
    keywords: Mapping[str, float] | Sequence[str] | None = None,
    max_chars: int = MAX_CHARS,
    register: Register = "spoken",
) -> str:
    """来电人反映：<address>，<time>，<key clause>；诉求：<ask> in at most `max_chars` characters (来信人 for a
    `written` text).

    Every piece is copied from `text`; the address and the ask are kept whenever they exist (the ask cut at a
    clause boundary when it alone is too long), the time and then the key clause are dropped first. Without an
    ask the summary ends after 反映's part; with nothing to report beside the ask it is 来电人诉求：<ask>.
    """
    lead, ask_only_lead = WRITTEN_LEADS if register == "written" else (LEAD, ASK_ONLY_LEAD)
    if not isinstance(text, str) or not text.strip():
        return lead.rstrip("：")
    key = key_clause(text, elements, keywords)
    address = elements.address.text if elements.address else ""
    ask = elements.ask.text.strip() if elements.ask else ""
    tail_budget = max_chars - len(lead)
    if ask:
        room = tail_budget - len(ASK_LEAD) - (len(address) + len(SEPARATOR) if address else 0)
        ask = _cut_at_clause(ask, max(room, 4))
        tail_budget -= len(ASK_LEAD) + len(ask)
    pieces: list[str] = []
    if address:
        pieces.append(address[: max(tail_budget, 0)])

    def used() -> int:
        return sum(len(p) for p in pieces) + len(SEPARATOR) * max(len(pieces) - 1, 0)

    def new(span: Span | None) -> bool:
        """Not already said by the address, the key clause or the ask."""
        return span is not None and not any(_inside(span, other) for other in (elements.address, key, elements.ask))

    obj = elements.object if new(elements.object) or (key is not None and _inside(elements.object, key)) else None
    if new(elements.time):
        time = elements.time.text  # type: ignore[union-attr]
        if used() + len(SEPARATOR) * bool(pieces) + len(time) <= tail_budget:
            pieces.append(time)
    candidates: list[str] = []
    if key is not None:
        candidates.append(key.text)
    if obj is not None and not _inside(obj, elements.address):
        candidates.append(obj.text)  # a key clause too long gives way to the object it names
    for candidate in candidates:
        if address and address in candidate and _inside(elements.address, key) and candidate == key.text:  # type: ignore[union-attr]
            # the key clause holds the address: it takes the address's place rather than repeat it
            if used() - len(address) + len(candidate) <= tail_budget:
                pieces[0] = candidate
                break
            continue
        if used() + len(SEPARATOR) * bool(pieces) + len(candidate) <= tail_budget:
            pieces.append(candidate)
            break
    body = SEPARATOR.join(pieces)
    if not body and ask:
        return ask_only_lead + _cut_at_clause(elements.ask.text.strip(), max(max_chars - len(ask_only_lead), 4))  # type: ignore[union-attr]
    summary = lead + body + (ASK_LEAD + ask if ask else "")
    return summary[:max_chars]
