"""Stage 2: words, with an owned jieba tokenizer that knows the hotline's terms and 长沙's places.

jieba's module-level functions share one global tokenizer; a library that adds words to it changes
every other user's segmentation. We build our own `jieba.Tokenizer`, load the dictionaries into it
once, and expose a module-level `tokenize` function that pickles (vectorisers store it).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

with warnings.catch_warnings():  # jieba imports pkg_resources, which warns on every start
    warnings.simplefilter("ignore")
    import jieba

from triage.errors import DataFileError
from triage.resources import TERMS_FILE

jieba.setLogLevel(logging.WARNING)
logger = logging.getLogger(__name__)

_WORD = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
PLACE_FREQ = 50_000
"""Frequency given to gazetteer and catalogue words so that jieba keeps them whole."""


class Segmenter:
    """A jieba tokenizer with user dictionaries and extra words, loaded once at construction."""

    def __init__(self, user_dicts: Sequence[str | Path] = (), words: Iterable[str] = ()) -> None:
        self.user_dicts = tuple(str(p) for p in user_dicts)
        self.words = tuple(sorted(set(words)))
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        self.user_words: set[str] = set(self.words)
        """Every word the project added: hotline terms, places, units and duties."""
        for path in self.user_dicts:
            self._load_user_dict(Path(path))
        for word in self.words:
            self._tokenizer.add_word(word, freq=PLACE_FREQ)

    def _load_user_dict(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise DataFileError(path, "user dictionary not found") from exc
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataFileError(path, f"not valid UTF-8 at byte {exc.start}") from exc
        for number, line in enumerate(lines, start=1):
            parts = line.strip().split()
            if not parts:
                continue
            if len(parts) > 3 or (len(parts) >= 2 and not parts[1].isdigit()):
                raise DataFileError(path, "expected 'word [freq] [tag]'", line=number)
            freq = int(parts[1]) if len(parts) >= 2 else None
            self.user_words.add(parts[0])
            self._tokenizer.add_word(parts[0], freq=freq, tag=parts[2] if len(parts) == 3 else None)

    def cut(self, text: str) -> list[str]:
        """Words of `text`, without spaces and punctuation."""
        return [w for w in self._tokenizer.lcut(text, HMM=True) if _WORD.search(w)]

    def __call__(self, text: str) -> list[str]:
        return self.cut(text)

    def __reduce__(self) -> tuple[type[Segmenter], tuple[tuple[str, ...], tuple[str, ...]]]:
        return (Segmenter, (self.user_dicts, self.words))


@lru_cache(maxsize=1)
def default_segmenter() -> Segmenter:
    """The project's segmenter: hotline terms, every gazetteer place, every unit name and duty."""
    from triage.places import default_gazetteer
    from triage.units import default_catalogue

    words = set(default_gazetteer().names()) | set(default_catalogue().vocabulary())
    segmenter = Segmenter([TERMS_FILE], words)
    logger.debug("segmenter ready with %d extra words", len(words))
    return segmenter


@lru_cache(maxsize=1)
def general_idf() -> dict[str, float]:
    """Inverse document frequencies of a general Chinese corpus (shipped with jieba): how common a word is."""
    from jieba.analyse.tfidf import DEFAULT_IDF, IDFLoader

    return dict(IDFLoader(DEFAULT_IDF).idf_freq)


def tokenize(text: str) -> list[str]:
    """Segment with the default segmenter. Module-level so that vectorisers holding it pickle."""
    return default_segmenter().cut(text)
