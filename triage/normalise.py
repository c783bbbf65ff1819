"""Stage 1: turn a raw call transcript into clean, simplified, PII-masked text.

Everything downstream (storage, logs, features) sees only the output of `normalise`, so personal
numbers are masked here, before anything can keep them. Licence plates and addresses are kept:
units need them to act.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import opencc

from triage.errors import FillersOnlyError, InvalidTranscriptError
from triage.fastre import FastPattern
from triage.regex_cache import compiled
from triage.rules import Fillers, default_rules

MAX_CHARS = 20_000
"""Longest transcript accepted (characters, before normalisation)."""

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPACE = re.compile(r"\s+")
# Spaces matter between Latin words only; beside Chinese or a placeholder they are ASR noise.
_SPACE_NEAR_CJK = re.compile(r"(?<=[^\x00-\x7f\[\]]) | (?=[^\x00-\x7f\[\]])|(?<=\]) | (?=\[)")
# lone surrogates (valid in JSON escapes, not in UTF-8) would make every later encode fail
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff\ud800-\udfff]")
_PAUSE = "，。！？、；：,.!?;:\\s…—~"
# Emoji and other pictographs (Unicode category So) say how a caller feels, not what the call is about, and a
# model can still read them as words: an angry complaint about a barbecue shop with a 🔥 in it went to the fire
# brigade. They are dropped, with what only glues them together (variation selectors, the keycap mark, skin
# tones, tag characters); the degree sign and the CJK symbol blocks (radicals, 〒, 〓) are text and stay.
_NOT_ASCII_OR_HAN = re.compile(r"[^\x00-\x7f\u3400-\u4dbf\u4e00-\u9fff]")
_EMOJI_GLUE = re.compile(r"[\ufe0e\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]")
_SYMBOLS_KEPT = re.compile(r"[\u00b0\u2e80-\u33ff\u4dc0-\u4dff]")

# Digits may be spoken in groups: 138 7311 2345, 138-7311-2345.
_SEP = r"[\s\-]?"
_NOT_DIGIT_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_DIGIT_AFTER = r"(?![0-9])"
_ID_CARD = re.compile(
    _NOT_DIGIT_BEFORE
    + r"[1-9]\d{5}"  # region
    + r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"  # birth date
    + r"\d{3}[0-9Xx]"
    + _NOT_DIGIT_AFTER
)
_BANK_CARD = re.compile(_NOT_DIGIT_BEFORE + r"(?:\d" + _SEP + r"){15,18}\d" + _NOT_DIGIT_AFTER)
_MOBILE = re.compile(
    _NOT_DIGIT_BEFORE + r"(?:\+?86[\s\-]?)?1[3-9]\d" + _SEP + r"\d{4}" + _SEP + r"\d{4}" + _NOT_DIGIT_AFTER
)
_LANDLINE = re.compile(
    _NOT_DIGIT_BEFORE + r"(?:\(0\d{2,3}\)|0\d{2,3})[\s\-]?[2-9]\d{3}[\s\-]?\d{3,4}" + _NOT_DIGIT_AFTER
)
# A bare local number (8xxxxxxx) only counts as a phone number when the caller says it is one.
_LOCAL_AFTER_CUE = re.compile(
    r"((?:电话|号码|座机|手机|联系方式|打)[^0-9]{0,6})" + _NOT_DIGIT_BEFORE + r"[2-9]\d{6,7}" + _NOT_DIGIT_AFTER
)
# Numbers read out in characters by speech-to-text: 幺三八七三幺幺二三四五.
_SPOKEN_DIGITS = re.compile(r"[零〇一二三四五六七八九幺两]{7,}")

PII_MASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("[身份证号]", _ID_CARD),
    ("[银行卡号]", _BANK_CARD),
    ("[电话]", _MOBILE),
    ("[电话]", _LANDLINE),
    ("[电话]", _SPOKEN_DIGITS),
)


def validate_transcript(text: object) -> str:
    """Refuse what no stage can work on, with a message an operator understands."""
    if not isinstance(text, str):
        raise InvalidTranscriptError(f"transcript must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InvalidTranscriptError("transcript is empty")
    if len(text) > MAX_CHARS:
        raise InvalidTranscriptError(f"transcript is {len(text)} characters; the limit is {MAX_CHARS}")
    if not _HAN.search(text):
        raise InvalidTranscriptError("transcript contains no Chinese characters")
    return text


_SENTENCE_END = "。！？!?.…"


def with_title(title: object, text: str) -> str:
    """A letter's text with its title in front: the title is part of what the writer wrote, and it often names
    the request (投诉/举报/建议/咨询). Joined by `。` unless the title already ends a sentence; the text is kept
    as it is when there is no title (None, not a string, or blank) or when it already starts with the title
    (whitespace aside).

    >>> with_title("K8县商户乱摆摊", "最近商户又把商品摆到路中间")
    'K8县商户乱摆摊。最近商户又把商品摆到路中间'
    >>> with_title("能否延长公交线路？", "希望延长5路车")
    '能否延长公交线路？希望延长5路车'
    >>> with_title("乱摆摊", "乱摆摊，影响交通")
    '乱摆摊，影响交通'
    """
    if not isinstance(title, str) or not title.strip() or not isinstance(text, str):
        return text
    title = title.strip()
    if _SPACE.sub("", text).startswith(_SPACE.sub("", title)):
        return text
    return title + ("" if title.endswith(tuple(_SENTENCE_END)) else "。") + text


def _pictograph_to_space(match: re.Match[str]) -> str:
    char = match.group()
    if _EMOJI_GLUE.match(char) or (unicodedata.category(char) == "So" and not _SYMBOLS_KEPT.match(char)):
        return " "  # a space, not nothing: 138🔥7311🔥2345 is still a phone number to mask
    return char


def drop_pictographs(text: str) -> str:
    """Emoji and other pictographs (category So) as spaces: what the classifier reads is the caller's words.

    >>> drop_pictographs("烧烤店营业到半夜🔥，30°的天😡")
    '烧烤店营业到半夜 ，30°的天 '
    """
    return _NOT_ASCII_OR_HAN.sub(_pictograph_to_space, text)


_SPACES_NEAR_CJK = FastPattern(_SPACE_NEAR_CJK)
"""`_SPACE_NEAR_CJK` tried at spaces only: its alternatives start with lookarounds (`triage.fastre`)."""
_FAST_MASKS = tuple((placeholder, FastPattern(pattern)) for placeholder, pattern in PII_MASKS)
"""`PII_MASKS` with a faster search: most start with a lookbehind, which left the regex engine trying every
character of the call (`triage.fastre`)."""


def mask_pii(text: str) -> str:
    """Replace phone, ID-card and bank-card numbers with placeholders."""
    for placeholder, pattern in _FAST_MASKS:
        text = pattern.sub(placeholder, text)
    return _LOCAL_AFTER_CUE.sub(lambda m: m.group(1) + "[电话]", text)


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=8)
def _filler_pattern(anywhere: tuple[str, ...], at_pause: tuple[str, ...]) -> FastPattern:
    def alternation(words: Iterable[str]) -> str:
        return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))

    parts = []
    if anywhere:
        parts.append(f"(?:{alternation(anywhere)})[{_PAUSE}]*")
    if at_pause:
        pause_words = alternation(at_pause)
        # at a clause start (optionally followed by a pause) or right before a pause / the end
        parts.append(f"(?:(?<=^)|(?<=[{_PAUSE}]))(?:{pause_words})(?:[{_PAUSE}]+|$)")
        parts.append(f"(?:{pause_words})(?=[{_PAUSE}]|$)")
    return FastPattern(compiled("|".join(parts)))  # alternatives behind lookbehinds: searched faster


def remove_fillers(text: str, fillers: Fillers | None = None) -> str:
    """Drop spoken fillers (嗯、啊、那个、就是说) without touching the words they sit beside."""
    fillers = fillers or default_rules().fillers
    pattern = _filler_pattern(tuple(fillers.anywhere), tuple(fillers.at_pause))
    previous = None
    while previous != text:  # fillers come in runs: 嗯，那个，就是说
        previous, text = text, pattern.sub("", text)
    return re.sub(r"^[，。、,.\s]+", "", text)


def normalise(text: str, *, fillers: Fillers | None = None) -> str:
    """Validate, then NFKC + full-width to half-width, emoji dropped, traditional to simplified, whitespace,
    PII, fillers.

    >>> normalise("喂，你好，嗯，我電話是 138 7311 2345，那個小區門口的路燈壞了")
    '我电话是[电话],那个小区门口的路灯坏了'
    """
    text = validate_transcript(text)
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    text = drop_pictographs(text)
    text = _converter().convert(text)
    text = _SPACE.sub(" ", text).strip()
    text = mask_pii(text)
    text = remove_fillers(text, fillers)
    text = _SPACES_NEAR_CJK.sub("", text)
    if not text.strip():
        raise FillersOnlyError("transcript holds only fillers and no content")
    return text
