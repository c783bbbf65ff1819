"""Standard answers (信息库标准答案) for consultations, and BM25 retrieval over them.

Most consultations are answered on the spot: the operator reads a reviewed standard answer instead of
dispatching an order. `KnowledgeBase.search` finds the answers a caller's words most likely ask for;
`upsert` lets an analyst add or edit an entry (each edit is a new version, the old one kept) and
re-indexes at once, so the next search sees it.

Retrieval is BM25 (the `bm25s` library) on words of the project's own segmenter, after the same
normalisation the pipeline applies. Each entry is one document: its question, its variants and the
first sentences of its answer. Words of three characters or more also contribute their two-character
pieces, so that 住房公积金 still meets 公积金 and 养老保险 meets 养老金's 养老. Raw BM25 grows with query
length and has no scale, so its part of a hit's score is its raw score over the most the query's words could
earn (each word's best score in any entry, and a typical word's worth for each word the knowledge base has
never seen): 0-1, comparable across queries. Hits below `MIN_SCORE` are not offered.

BM25 is only the first stage. Its best `RERANK_DEPTH` hits are reranked by a relevance that adds to the
BM25 score the likeness of character profiles (`CHAR_WEIGHT`: character 1-2 grams of the caller's content
words against those of the whole entry, answer included, which meets what the segmenter cut differently),
then raised in proportion when the entry's unit is one the caller names (派出所, 车管所, 公积金中心 ...: the
catalogue's aliases) or, when the search comes with a suggestion (`with_answers`), the unit and topic the
heads predict (`NAMED_WEIGHT`, `UNIT_WEIGHT`, `TOPIC_WEIGHT`). So an answer of the predicted unit comes
first when relevances are close, and a prediction never lifts an answer the caller's words do not ask for.
A hit's score is that final value, 0-1.

Every entry names the document it rests on (`basis`) and the date it must be checked again by
(`valid_until`); `KnowledgeBase.overdue` lists the ones past it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from itertools import chain, product
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from triage.collector import collection_paused
from triage.datafile import read_yaml, validated
from triage.deadlines import TZ
from triage.errors import DataFileError, InvalidTranscriptError, TriageError
from triage.labels import CONSULTATION, TOPICS
from triage.normalise import normalise
from triage.places import pypinyin_version, toned_readings
from triage.resources import DATA_DIR
from triage.schemas import KnowledgeAnswer, Suggestion
from triage.segment import Segmenter, default_segmenter
from triage.units import LOCAL, Catalogue, default_catalogue

logger = logging.getLogger(__name__)

KNOWLEDGE_DIR = DATA_DIR / "knowledge"
KNOWLEDGE_FILE = KNOWLEDGE_DIR / "answers.yaml"
EVAL_FILE = KNOWLEDGE_DIR / "eval_phrasings.jsonl"

ANSWER_CHARS = 120
"""How much of the answer is indexed: its opening names the procedure; the rest is detail that matches anything."""
K1, B = 1.5, 0.75
"""BM25 parameters, chosen on held-out variants (not on the evaluation phrasings)."""
MIN_SCORE = 0.22
"""Hits below this are not offered. Chosen on the development phrasings and the corpus: it keeps 92% of the
right first answers to the development phrasings, while 24% of the corpus's complaints and requests for help
still get a (low-scoring) hit, so answers should be offered only when the call is a consultation."""
WRITTEN_MIN_SCORE = 0.15
"""The floor for written text (letters, web messages): a long letter spreads its words, so its right answer scores
lower than a call's. Chosen on tipdm2020c's training messages labelled 咨询 with a unit (316): at 0.22, 62% get
answers and 61.7% one from an acceptable unit; at 0.15, 90% and 87.0%, and of those answered 96.8% still come from
an acceptable unit (99.0% at 0.22)."""
RERANK_DEPTH = 20
"""How many BM25 hits the second stage reorders."""
CHAR_WEIGHT = 3.0
"""Weight of the character profile in an entry's relevance, against BM25's (1): the cosine of the character
1-2 grams of the caller's content words with those of the whole entry (question, variants and all the answer),
which meets words the segmenter cut differently (驾照掉了 / 驾驶证丢了 share 驾, 照 ...) and weighs the answer."""
UNIT_WEIGHT = 0.3
"""How much an entry's score grows, relatively, when its unit is the one the heads predict (times the unit's
probability). The weights below were chosen on the development phrasings and on held-out variants (each
variant searched for with itself left out of the index), never on the evaluation phrasings."""
TOPIC_WEIGHT = 0.1
"""The same for the predicted topic (times its probability)."""
NAMED_WEIGHT = 0.3
"""The same for a unit the caller names (派出所, 车管所 ...)."""
REVIEW_PERIOD = timedelta(days=365)
"""An entry without a `valid_until` is due for review this long after its `reviewed` date."""

STOP_WORDS: frozenset[str] = frozenset(
    """
    我 你 他 她 它 我们 你们 他们 她们 咱们 人家 自己 的 地 得 了 着 过 吗 呢 吧 啊 呀 嘛 么 哦 哈 喂 嗯 呃
    是 在 有 要 想 能 会 可以 能不能 可不可以 要不要 是不是 有没有 会不会 就 都 也 还 又 再 才 很 太 挺 蛮 比较 特别
    和 跟 与 及 或 或者 还是 给 把 被 让 对 从 向 往 这 那 这个 那个 这种 那种 这样 那样 这边 那边 什么 怎么 怎么办 怎样
    怎么样 如何 为什么 为啥 啥 哪 哪里 哪儿 哪个 哪些 去 来 到 一下 问 问问 问一下 想问 想问一下 请问 咨询 了解 一个 个 些
    一些 多少 几 不 没 没有 说 听说 人家说 现在 目前 然后 就是 反正 其实 一直 已经 时候 里 里面 上 下 中 多 大概 具体 知道
    不知道 需要 办 弄 搞 好 您好 你好 谢谢 麻烦 麻烦你 帮 帮忙 帮我 下子 下个 上个 今天 昨天 刚才 刚刚 那么 这么 所以 因为
    但是 可是 不过 如果 的话 之前 以后 后来 之后 一样 多少钱 怎么弄 怎么搞 一个月 东西 事情 情况 问题 时间 办法
    """.split()
)
"""Words every consultation says (question words, pronouns, particles): they only add noise to BM25."""
REQUEST_WORDS: frozenset[str] = frozenset("投诉 举报 反映 反应 建议 求助 意见 12345 热线".split())
"""Words naming the kind of call rather than its subject: a complaint says 投诉 whatever it is about."""

_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    # canonical term first, then how callers and documents also say it
    ("社保", "社会保险", "社会保障", "五险", "五险一金"),
    ("医保", "医疗保险", "医保卡", "合作医疗", "新农合"),
    ("养老金", "退休金", "退休工资", "退休费"),
    ("公积金", "住房公积金"),
    ("提取", "取", "取出", "取出来", "拿出来", "提出来", "提公积金"),
    ("驾驶证", "驾照", "驾驶照", "驾驶执照"),
    ("年检", "年审", "检验", "免检"),
    ("电动车", "电瓶车", "电动自行车", "电单车"),
    ("养犬", "狗", "狗狗", "狗证", "犬", "宠物狗", "养狗"),
    ("不动产权证", "房产证", "房本", "不动产证", "不动产权证书", "产权证"),
    ("燃气", "天然气", "煤气", "燃气费"),
    ("配偶", "老婆", "老公", "爱人", "媳妇", "丈夫", "妻子"),
    ("新生儿", "宝宝", "婴儿", "刚出生", "出生"),
    ("生育", "生孩子", "生小孩", "生娃", "怀孕", "产假"),
    ("出租车", "的士", "打车", "出租", "网约车", "滴滴"),
    ("离职", "辞职", "辞工", "不干了", "离开单位"),
    ("辞退", "开除", "裁员", "炒鱿鱼", "解除劳动合同"),
    ("收养", "领养"),
    ("欠薪", "拖欠", "欠工资", "不发工资", "拖工资"),
    ("户口簿", "户口本"),
    ("营业执照", "执照", "营业证"),
    ("个体户", "个体工商户", "开店", "门面", "小店"),
    ("公交卡", "乘车卡", "老年卡", "敬老卡", "爱心卡", "学生卡"),
    ("地铁", "轨道交通"),
    ("房贷", "按揭", "月供", "商贷", "商业贷款"),
    ("遗失", "丢", "丢了", "丢失", "掉", "掉了", "搞丢", "弄丢", "弄掉", "搞掉", "不见", "不见了", "找不到"),
    ("补办", "补", "补领", "补证", "补发", "重办", "重新办"),
    ("被盗", "被偷", "偷了", "被偷了", "偷走", "失窃"),
    ("挂失", "停掉", "冻结", "停用"),
    ("换证", "换领", "换新", "换发", "换本"),
    ("到期", "过期", "期满"),
    ("低保", "最低生活保障"),
    ("残疾证", "残疾人证"),
    ("失业金", "失业保险金", "失业补助", "失业保险"),
    ("加班费", "加班工资", "加班"),
    ("年休假", "年假", "带薪假"),
    ("补贴", "补助", "津贴", "补助金", "奖励"),
    ("出入境", "护照", "港澳通行证", "通行证", "签注", "香港", "澳门", "出国"),
    ("去世", "过世", "死亡", "走了", "过身", "死了"),
    ("殡葬", "火化", "后事", "丧事", "殡仪馆", "墓地", "公墓", "墓园"),
    ("结婚", "领证", "结婚证", "婚姻登记"),
    ("租房", "租房子", "租的房", "房租", "房东", "租客"),
    ("上牌", "上牌照", "挂牌", "牌照", "号牌"),
    ("违章", "罚单", "闯红灯", "交通违法"),
    ("记分", "扣分"),
    ("大病", "重病", "癌症", "肿瘤", "重大疾病"),
    ("慢特病", "慢性病", "高血压", "糖尿病", "透析", "尿毒症", "门特"),
    ("疫苗", "打针", "预防针", "接种"),
    ("异地", "外地", "外省", "跨省"),
    ("驾校", "学车"),
    ("大件垃圾", "沙发", "床垫", "旧家具", "大件"),
    ("招牌", "门头", "广告牌"),
    ("法律援助", "律师", "打官司"),
    ("体育场馆", "体育馆", "游泳馆", "球场", "羽毛球", "篮球场"),
    ("老年人", "老人", "老人家", "长辈"),
    ("退役军人", "退伍", "当兵", "部队", "军人"),
    ("入学", "上学", "读书", "一年级", "报名"),
    ("子女", "孩子", "小孩", "小孩子", "儿子", "女儿", "娃", "伢子"),
    ("单位", "公司", "厂里", "工厂", "老板", "用人单位", "企业"),
    ("工资", "薪水", "薪资", "工钱", "报酬", "薪酬"),
    ("网上", "线上", "手机", "手机上", "APP", "小程序", "公众号", "在线"),
    ("报警", "报案", "报了警", "报了案", "报过警"),
    ("看病", "就医", "就诊", "看医生", "看门诊"),
    ("延迟", "推迟", "延后", "晚退"),
    ("罚款", "罚钱", "被罚", "罚了"),
    ("离婚", "离了婚", "离婚证", "协议离婚"),
    ("证明", "证明书", "开证明", "开个证明"),
)
"""Words callers and written answers use for the same thing. Each term also adds its group's first word,
on both sides, so that 驾照 finds 驾驶证 and 房本 finds 不动产权证 without a dictionary in the segmenter."""
SYNONYMS: dict[str, str] = {word: group[0] for group in _SYNONYM_GROUPS for word in group[1:]}

_SENTENCE_END = re.compile(r"(?<=[。！？；])")


class InvalidEntryError(TriageError, ValueError):
    """An entry given to `upsert` that the knowledge base cannot take (bad field, unknown unit, duplicate
    question); `field` names the field at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class KnowledgeEntry(BaseModel):
    """One standard answer: the question it answers, how callers put it, who is responsible, what it rests
    on and until when it holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z]+-\d{4,}$", description="stable id, e.g. kb-0001")
    question: str = Field(min_length=4, max_length=200)
    variants: tuple[str, ...] = Field(default=(), max_length=20)
    answer: str = Field(min_length=10, max_length=2000)
    unit: str = Field(min_length=2, description="a unit of the catalogue, or 属地: the district, 街道 or 乡镇 of the caller answers")
    topic: str
    basis: str | None = Field(
        default=None,
        min_length=4,
        max_length=300,
        description="the law, regulation or policy document the answer rests on; every entry of the file has one "
        "(versions stored before it existed may lack it)",
    )
    reviewed: date
    valid_until: date | None = Field(
        default=None, description="the date the answer must be checked again by; reviewed + one year when not given"
    )
    version: int = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _default_review_date(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("valid_until") is None and data.get("reviewed") is not None:
            reviewed = data["reviewed"]
            try:
                reviewed = reviewed if isinstance(reviewed, date) else date.fromisoformat(str(reviewed))
            except ValueError:
                return data  # the field's own check reports it
            data = {**data, "valid_until": reviewed + REVIEW_PERIOD}
        return data

    @field_validator("question", "answer", "unit", "basis", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("variants", mode="before")
    @classmethod
    def _clean_variants(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if any(not isinstance(v, str) or not v.strip() for v in value):
                raise ValueError("blank variant")
            return tuple(dict.fromkeys(v.strip() for v in value))
        return value

    @field_validator("topic")
    @classmethod
    def _known_topic(cls, value: str) -> str:
        if value not in TOPICS:
            raise ValueError(f"unknown topic {value!r}; expected one of {', '.join(TOPICS)}")
        return value

    @field_validator("valid_until")
    @classmethod
    def _not_before_review(cls, value: date | None, info: ValidationInfo) -> date | None:
        reviewed = info.data.get("reviewed")
        if value is not None and reviewed is not None and value < reviewed:
            raise ValueError(f"{value} is before the entry's review on {reviewed}")
        return value

    def is_overdue(self, today: date) -> bool:
        """Past its review date: the answer may no longer hold and should be checked before it is read out."""
        return self.valid_until is not None and self.valid_until < today


Answer = KnowledgeAnswer
"""A search hit, as the suggestion and the console show it."""


class _FileEntry(KnowledgeEntry):
    """An entry of the knowledge file: there, the policy basis and the review date are required."""

    basis: str = Field(min_length=4, max_length=300)  # type: ignore[assignment]
    valid_until: date  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _default_review_date(cls, data: Any) -> Any:
        return data  # the file writes the review date out


class _KnowledgeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    entries: list[_FileEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Context:
    """What is known about a call besides its words: the probabilities the heads give units and topics."""

    units: Mapping[str, float]
    topics: Mapping[str, float]

    @classmethod
    def of(cls, suggestion: Suggestion) -> Context:
        topics = {a.label: a.score for a in suggestion.topic.alternatives}
        topics[suggestion.topic.label] = suggestion.topic.score
        return cls(units={u.name: u.score for u in suggestion.units}, topics=topics)


def _grams(words: list[str]) -> Counter[str]:
    """Character 1-grams and 2-grams of each word, the 2-grams with the word's edges (" 公", "公积", "金 "), counted
    in the order each first appears (one count of the whole list: the loop is the cost of profiling every entry)."""
    grams: list[str] = []
    for word in words:
        grams.extend(word)
        padded = f" {word} "
        grams.extend(map(str.__add__, padded[:-1], padded[1:]))
    return Counter(grams)


class _Profiles:
    """TF-IDF vectors (sublinear counts, smoothed IDF, L2-normalised) of character grams, one per entry.

    A caller's 驾照掉了 and an entry's 驾驶证丢了 are different words to BM25 but share 驾; the whole answer is
    in the profile, so an entry whose answer speaks of what the caller asks about gains too."""

    def __init__(self, contents: list[str]) -> None:
        """Built with whole-array operations (columns in the order grams first appear, as a loop over the grams would
        number them, so the arrays are the same to the last bit): an analyst's edit re-profiles every entry."""
        from scipy.sparse import csr_matrix

        counts = [_grams(content.split()) for content in contents]
        self.columns: dict[str, int] = {gram: j for j, gram in enumerate(dict.fromkeys(chain.from_iterable(counts)))}
        lengths = np.fromiter(map(len, counts), dtype=np.int64, count=len(counts))
        total = int(lengths.sum())
        rows = np.repeat(np.arange(len(counts)), lengths)
        cols = np.fromiter(map(self.columns.__getitem__, chain.from_iterable(counts)), dtype=np.int64, count=total)
        values = 1.0 + np.log(np.fromiter(chain.from_iterable(c.values() for c in counts), dtype=float, count=total))
        df = np.bincount(cols, minlength=len(self.columns)).astype(float)
        self.idf = np.log((1 + len(contents)) / (1 + df)) + 1.0
        matrix = csr_matrix((values, (rows, cols)), shape=(len(contents), len(self.columns)))
        matrix = matrix.multiply(self.idf).tocsr()
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self.matrix = matrix.multiply(1.0 / norms[:, None]).tocsr()

    def state(self) -> tuple[Any, ...]:
        """Everything the profiles are, as plain values (for the cache): columns, IDF, and the CSR matrix's arrays."""
        m = self.matrix
        arrays = (self.idf, m.data, m.indices, m.indptr)
        return (self.columns, m.shape, tuple(a.dtype.str for a in arrays), tuple(a.tobytes() for a in arrays))

    @classmethod
    def restore(cls, state: tuple[Any, ...]) -> _Profiles:
        """Profiles from `state()`: the same arrays, so the same similarities to the last bit."""
        from scipy.sparse import csr_matrix

        columns, shape, dtypes, buffers = state
        idf, data, indices, indptr = (np.frombuffer(b, dtype=d).copy() for b, d in zip(buffers, dtypes, strict=True))
        profiles = cls.__new__(cls)
        profiles.columns, profiles.idf = columns, idf
        profiles.matrix = csr_matrix((data, indices, indptr), shape=tuple(shape))
        return profiles

    def similarity(self, words: list[str], rows: np.ndarray) -> np.ndarray:
        """Cosine of the words' profile with each of the entries `rows` (a gram no entry has still counts
        towards the words' length, at the highest IDF)."""
        grams = _grams(words)
        if not grams or len(rows) == 0:
            return np.zeros(len(rows))
        cols = np.fromiter((self.columns.get(g, -1) for g in grams), dtype=np.int64, count=len(grams))
        counts = np.fromiter(grams.values(), dtype=float, count=len(grams))
        known = cols >= 0
        weights = (1.0 + np.log(counts)) * np.where(known, self.idf[np.maximum(cols, 0)], self.idf.max(initial=1.0))
        query = np.zeros(len(self.columns))
        query[cols[known]] = weights[known]
        return np.asarray(self.matrix[rows] @ query).ravel() / float(np.sqrt((weights**2).sum()))


@dataclass(frozen=True)
class _Index:
    """Everything a search reads, swapped in one assignment so searches never see half an update."""

    ids: tuple[str, ...]
    retriever: _BM25
    best: np.ndarray
    """Per vocabulary id, the highest score the term earns in any entry: the scale of a query's scores."""
    typical: float
    """The median of `best`: what a word unknown to the index is taken to be worth."""
    profiles: _Profiles
    """Character 1-2 grams of each entry's content words, for the second stage."""

    known_sounds: dict[str, str] | None = None
    """`sound_alike` read back from the cache with the index, when it was."""

    @cached_property
    def sound_alike(self) -> dict[str, str]:
        """Each reading (toned pinyin) of the vocabulary's words of 2-4 Chinese characters, to the word: the one in
        most entries where several read the same. Read back from the cache, or built on the first search that needs
        it (about 40 ms)."""
        return self.known_sounds if self.known_sounds is not None else _sound_alike(self.retriever)

    def heard(self, word: str) -> str:
        """A word the index has never seen, as the index word it sounds like, tones and all (a speech recogniser's
        原助 is 援助, 宽代 宽带, 气税 契税, 社宝卡 社保卡); any other word as it is."""
        vocabulary = self.retriever.vocab_dict
        if not _SOUNDED.fullmatch(word) or any(t in vocabulary for t in _terms(word)):
            return word
        alike = self.sound_alike
        return next((alike[key] for key in _sounds(word) if key in alike), word)


_SOUNDED = re.compile(r"[\u4e00-\u9fff]{2,4}")
"""Words matched by sound: two to four Chinese characters (one character sounds like too many others)."""


def _sound_alike(retriever: _BM25) -> dict[str, str]:
    vocabulary = retriever.vocab_dict
    spread = np.diff(np.asarray(retriever.scores["indptr"]))
    heard: dict[str, str] = {}
    for term, column in vocabulary.items():
        if _SOUNDED.fullmatch(term):
            for key in _sounds(term):
                other = heard.get(key)
                if other is None or spread[column] > spread[vocabulary[other]]:
                    heard[key] = term
    return heard


def _sounds(word: str) -> list[str]:
    """Every reading of a word, a character's usual readings combined (toned pinyin, space-separated)."""
    readings = [toned_readings(char) for char in word]
    return [] if not all(readings) else [" ".join(r) for r in product(*readings)]


def _terms(word: str) -> list[str]:
    """A content word as index terms: itself, its synonym group's canonical word, and its bigrams if long."""
    terms = [word]
    if word in SYNONYMS:
        terms.append(SYNONYMS[word])
    if len(word) >= 3:
        terms.extend(word[i : i + 2] for i in range(len(word) - 1))
    return terms


def _describe(raw: Any, loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
        try:
            name = raw["entries"][loc[1]].get("id") or f"#{loc[1] + 1}"
        except (KeyError, IndexError, TypeError, AttributeError):
            name = f"#{loc[1] + 1}"
        rest = ".".join(str(p) for p in loc[2:])
        return f"{name}" + (f" ({rest})" if rest else "")
    return ".".join(str(p) for p in loc)


def _question_key(question: str) -> str:
    return re.sub(r"[\W_]+", "", question).lower()


def _same_question(a: str, b: str) -> bool:
    """The same question but for spaces and punctuation: 社保卡怎么办？ and 社保卡怎么办"""
    return _question_key(a) == _question_key(b)


def answer_opening(answer: str, limit: int = ANSWER_CHARS) -> str:
    """Whole sentences of the answer up to about `limit` characters (at least the first)."""
    opening = ""
    for sentence in _SENTENCE_END.split(answer):
        if opening and len(opening) + len(sentence) > limit:
            break
        opening += sentence
    return opening


def _index_terms(documents: list[list[str]]) -> _BM25:
    """A bm25s index of the documents' terms (an entry without terms is indexed as one empty term)."""
    import bm25s  # imported here: only a knowledge base built afresh pays for it

    retriever = bm25s.BM25(k1=K1, b=B)
    retriever.index([tokens or [""] for tokens in documents], show_progress=False)
    return _BM25.of(retriever)


def _bm25s_sources(spec: Any) -> list[Path]:
    """The files of bm25s that build an index, found without importing it (a cache key needs them, a process that
    reads the index from the cache needs nothing else of bm25s)."""
    if spec is None or spec.origin is None:
        raise ImportError("the knowledge base needs bm25s: pip install bm25s")
    folder = Path(spec.origin).parent
    return [folder / "__init__.py", folder / "scoring.py"]


class _BM25:
    """A bm25s index as served and cached: its vocabulary and the CSC arrays of its precomputed scores, scored as
    `bm25s.BM25.get_scores` scores them (numpy backend: float32 sums, each known term's column added in the
    query's order; BM25 "lucene" has no non-occurrence term), so that the sums are the same to the bit. bm25s
    builds the index; a process that reads it from the cache never imports bm25s (about 40 ms of a one-call
    `triage predict`, most of it asyncio, through tqdm)."""

    def __init__(self, vocab_dict: dict[str, int], scores: dict[str, Any]) -> None:
        self.vocab_dict = vocab_dict
        self.scores = scores
        """data, indices and indptr (the CSC arrays), and num_docs: the names bm25s gives them."""

    @classmethod
    def of(cls, retriever: Any) -> _BM25:
        """The arrays of a `bm25s.BM25` index."""
        arrays = {k: np.asarray(retriever.scores[k]) for k in _CSC}
        return cls(dict(retriever.vocab_dict), {**arrays, "num_docs": int(retriever.scores["num_docs"])})

    def state(self) -> tuple[Any, ...]:
        """Plain values for the cache: the vocabulary, the number of documents, each CSC array's dtype and bytes."""
        arrays = tuple((self.scores[k].dtype.str, self.scores[k].tobytes()) for k in _CSC)
        return (dict(self.vocab_dict), int(self.scores["num_docs"]), arrays)

    @classmethod
    def restore(cls, state: tuple[Any, ...]) -> _BM25:
        vocabulary, num_docs, arrays = state
        restored: dict[str, Any] = {k: np.frombuffer(b, dtype=d).copy() for k, (d, b) in zip(_CSC, arrays, strict=True)}
        return cls(dict(vocabulary), {**restored, "num_docs": int(num_docs)})

    def get_scores(self, terms: list[str]) -> np.ndarray:
        """Each document's BM25 score for the terms (those outside the vocabulary count for nothing)."""
        data, indices, indptr = (self.scores[k] for k in _CSC)
        scores = np.zeros(self.scores["num_docs"], dtype=np.float32)
        for token in [self.vocab_dict[t] for t in terms if t in self.vocab_dict]:
            start, end = indptr[token], indptr[token + 1]
            np.add.at(scores, indices[start:end], data[start:end])
        return scores


_CSC = ("data", "indices", "indptr")


class KnowledgeBase:
    """Standard answers by id, with a BM25 index over them; `upsert` versions and re-indexes."""

    def __init__(
        self,
        entries: list[KnowledgeEntry],
        *,
        catalogue: Catalogue | None = None,
        segmenter: Segmenter | None = None,
        source: str = "<memory>",
        min_score: float = MIN_SCORE,
        documents: Mapping[str, tuple[list[str], str]] | None = None,
    ) -> None:
        """`documents`: BM25 terms and content words (`_document`) of entries, by id, already made for these very
        entries (`overlaid` passes those of the entries it keeps); the others are read from the cache or made."""
        self.source = source
        self.min_score = min_score
        self._catalogue = catalogue or default_catalogue()
        self._segmenter = segmenter or default_segmenter()
        self._entries: dict[str, KnowledgeEntry] = {}
        self._history: dict[str, list[KnowledgeEntry]] = {}
        self._documents_read: tuple[dict[str, list[str]], dict[str, str]] | None = None
        """Each entry's BM25 terms and content words (`_document`), once at hand: see `_tokens`."""
        self._read_documents: Callable[[], list[tuple[list[str], str]]] | None = None
        self._documents_lock = threading.Lock()
        self._lock = threading.Lock()
        self._named = sorted(
            (
                (alias, unit.name)
                for unit in self._catalogue
                if not unit.is_local
                for alias in (unit.name, *unit.aliases)
            ),
            key=lambda pair: -len(pair[0]),
        )
        for entry in entries:
            if entry.id in self._entries:
                raise DataFileError(source, "duplicate id", entry=entry.id)
            self._check_unit(entry, lambda reason, e=entry: DataFileError(source, reason, entry=e.id))
            self._entries[entry.id] = entry
        self.build_seconds = 0.0
        """Wall time of the last full index build (tokenising every entry and indexing)."""
        started = time.perf_counter()
        self._document_ids = list(self._entries)
        """The entries the documents were made for, in their order (those at construction)."""
        made, profiles, scores, sounds = self._documents(documents or {})
        if made is not None:
            self._keep_documents(made)
        self._index = self._build(profiles, scores, sounds)
        self.build_seconds = time.perf_counter() - started

    def _keep_documents(self, documents: list[tuple[list[str], str]]) -> None:
        ids = self._document_ids
        self._documents_read = (
            {i: tokens for i, (tokens, _) in zip(ids, documents, strict=True)},
            {i: content for i, (_, content) in zip(ids, documents, strict=True)},
        )

    def _documents_at_hand(self) -> tuple[dict[str, list[str]], dict[str, str]]:
        """The documents, read from the cache the first time they are needed: a search needs only the index, so
        a process that never edits an entry never reads them (2.3 MB of small strings, 0.05 s of every start)."""
        with self._documents_lock:
            if self._documents_read is None:
                assert self._read_documents is not None
                self._keep_documents(self._read_documents())
                self._read_documents = None
            return self._documents_read  # type: ignore[return-value]

    @property
    def _tokens(self) -> dict[str, list[str]]:
        """Each entry's BM25 terms, by id."""
        return self._documents_at_hand()[0]

    @property
    def _content(self) -> dict[str, str]:
        """Each entry's content words (for its character profile), by id."""
        return self._documents_at_hand()[1]

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[KnowledgeEntry]:
        return iter(list(self._entries.values()))

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def get(self, entry_id: str) -> KnowledgeEntry:
        """The current version of an entry; KeyError names an unknown id."""
        try:
            return self._entries[entry_id]
        except KeyError:
            raise KeyError(f"unknown knowledge entry {entry_id!r}") from None

    def history(self, entry_id: str) -> list[KnowledgeEntry]:
        """Earlier versions of an entry, oldest first (this process's edits only; the file keeps the latest)."""
        return list(self._history.get(entry_id, []))

    # ------------------------------------------------------------------ search

    def words(self, text: str) -> list[str]:
        """Content words of a text: normalised, segmented, without stop words, request words and numbers."""
        return self._content_words(normalise(text))

    def _content_words(self, clean: str) -> list[str]:
        return [
            w for w in self._segmenter.cut(clean) if w not in STOP_WORDS and w not in REQUEST_WORDS and not w.isdigit()
        ]

    def tokens(self, text: str) -> list[str]:
        """Index terms of a text: its content words, their synonyms' canonical word, long words also as bigrams."""
        return [term for word in self.words(text) for term in _terms(word)]

    def named_units(self, text: str) -> set[str]:
        """Units (not districts) a text names by their name or an alias: 派出所, 车管所, 公积金中心 ..."""
        return self._named_units(normalise(text))

    def _named_units(self, text: str) -> set[str]:
        named = set()
        for alias, unit in self._named:
            if alias in text:
                named.add(unit)
                text = text.replace(alias, " ")  # 长沙市公安局交通警察支队 is the traffic police, not also 公安局
        return named

    def search(
        self,
        text: str,
        k: int = 3,
        *,
        min_score: float | None = None,
        context: Context | Suggestion | None = None,
        today: date | None = None,
        spoken: bool = True,
    ) -> list[Answer]:
        """The `k` answers that best fit a caller's words, best first, each scoring at least `min_score`; each
        says whether it is past its review date on `today` (default: today in Beijing).

        BM25 finds the candidates; its best `RERANK_DEPTH` are reranked with the units the text names and,
        given a `context` (a suggestion, or its unit and topic probabilities), the predicted unit and topic.
        `min_score` defaults to the knowledge base's threshold; pass 0 to see every hit. A `spoken` text (a call's
        transcript, or what an operator types from it) has its words unknown to the index read as the index word
        they sound like (`_Index.heard`); a written letter's are left as written. Raises
        InvalidTranscriptError (as the pipeline does) for text with no Chinese or only fillers.
        """
        threshold = self.min_score if min_score is None else min_score
        if isinstance(context, Suggestion):
            context = Context.of(context)
        index = self._index
        vocabulary = index.retriever.vocab_dict
        clean = normalise(text)
        said = self._content_words(clean)
        if spoken:
            said = [index.heard(w) for w in said]  # a misheard word, as the word it sounds like
        words = set(said)
        terms = [t for t in dict.fromkeys(t for w in words for t in _terms(w)) if t in vocabulary]
        if not terms or k <= 0:
            return []
        raw = np.asarray(index.retriever.get_scores(terms), dtype=float)
        # A word the knowledge base has never seen says the call may be about something else: it counts
        # towards what a full match would earn as much as a typical known word.
        unknown = sum(1 for w in words if not any(t in vocabulary for t in _terms(w)))
        ceiling = float(index.best[[vocabulary[t] for t in terms]].sum()) + unknown * index.typical
        if ceiling <= 0:
            return []
        top = np.argsort(-raw, kind="stable")[: max(k, RERANK_DEPTH)]
        top = top[raw[top] > 0]
        entries = [self._entries[index.ids[p]] for p in top]
        alike = index.profiles.similarity(said, top)
        relevance = (np.minimum(1.0, raw[top] / ceiling) + CHAR_WEIGHT * alike) / (1.0 + CHAR_WEIGHT)
        scores = relevance * (1.0 + self._boost(entries, self._named_units(clean), context))
        hits = []
        today = today or datetime.now(TZ).date()
        for i in np.argsort(-scores, kind="stable")[:k]:
            score = min(1.0, float(scores[i]))
            if score < threshold or score <= 0.0:
                break
            entry = entries[i]
            hits.append(
                Answer(
                    id=entry.id, question=entry.question, answer=entry.answer, unit=entry.unit, score=round(score, 4),
                    valid_until=entry.valid_until, overdue=entry.is_overdue(today),
                )
            )
        return hits

    def _boost(self, entries: list[KnowledgeEntry], named: set[str], context: Context | None) -> np.ndarray:
        """Per candidate, how much more its relevance is worth: its unit is the one predicted or named, its
        topic the one predicted."""
        units = context.units if context is not None else {}
        topics = context.topics if context is not None else {}
        # a 属地 answer is the district's: it is worth what the likeliest district or zone is
        local = max((p for name, p in units.items() if self._catalogue.is_local(name)), default=0.0)
        return np.array(
            [
                UNIT_WEIGHT * (local if e.unit == LOCAL else units.get(e.unit, 0.0))
                + NAMED_WEIGHT * (e.unit in named)
                + TOPIC_WEIGHT * topics.get(e.topic, 0.0)
                for e in entries
            ],
            dtype=float,
        )

    def overdue(self, today: date | None = None) -> list[KnowledgeEntry]:
        """Entries past their review date (`valid_until` before `today`, default today), longest overdue first."""
        today = today or date.today()
        return sorted((e for e in self if e.is_overdue(today)), key=lambda e: (e.valid_until, e.id))

    # ------------------------------------------------------------------ editing

    def upsert(self, entry: KnowledgeEntry | Mapping[str, Any]) -> KnowledgeEntry:
        """Add an entry, or edit one (fields given replace the current ones); returns the stored version.

        An edit gets the next version number and, unless a review date is given, today's (an analyst's edit
        is a review), and its `valid_until` moves with it by the entry's review period unless one is given;
        the previous version goes to `history`. A mapping without an id gets the next free one. The index is
        rebuilt before returning, so the next search sees the change.

        Raises InvalidEntryError naming the field for a malformed field, an unknown unit or a question another
        entry already answers; a refused edit changes nothing.
        """
        with self._lock:
            stored = self._prepared(entry)
            entry_id, current = stored.id, self._entries.get(stored.id)
            tokens, content = self._document(stored)
            if current is not None:
                self._history.setdefault(entry_id, []).append(current)
            self._entries[entry_id] = stored
            self._tokens[entry_id], self._content[entry_id] = tokens, content
            self._index = self._build()
        logger.info("knowledge entry %s now at version %d", entry_id, stored.version)
        return stored

    def prepare(self, entry: KnowledgeEntry | Mapping[str, Any]) -> KnowledgeEntry:
        """The version `upsert` would store, checked as it checks it, without storing it or touching the index: a
        service that keeps versions in its database writes this and reloads, instead of indexing twice while it
        holds the database's write lock."""
        with self._lock:
            return self._prepared(entry)

    def _prepared(self, entry: KnowledgeEntry | Mapping[str, Any]) -> KnowledgeEntry:
        """`prepare`'s work, for a caller holding `_lock`."""
        changes = entry.model_dump() if isinstance(entry, KnowledgeEntry) else dict(entry)
        entry_id = changes.get("id") or self._next_id()
        current = self._entries.get(entry_id)
        if current is None:
            merged = {"reviewed": date.today(), **changes, "id": entry_id, "version": 1}
        else:
            edited = {**changes}
            edited.pop("version", None)
            if not isinstance(entry, KnowledgeEntry) and "reviewed" not in changes:
                edited["reviewed"] = date.today()
            merged = {**current.model_dump(), **edited, "version": current.version + 1}
            if changes.get("valid_until") is None:
                merged["valid_until"] = None  # set below, from the new review date
        try:
            stored = KnowledgeEntry.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise InvalidEntryError(f"entry {entry_id!r}, {field}: {first['msg']}", field=field or None) from exc
        if current is not None and changes.get("valid_until") is None and current.valid_until is not None:
            stored = stored.model_copy(
                update={"valid_until": stored.reviewed + (current.valid_until - current.reviewed)}
            )
        self._check_unit(
            stored, lambda reason: InvalidEntryError(f"entry {entry_id!r}, unit: {reason}", field="unit")
        )
        same = next(
            (
                e.id
                for e in self._entries.values()
                if e.id != entry_id and _same_question(e.question, stored.question)
            ),
            None,
        )
        if same is not None:
            raise InvalidEntryError(
                f"entry {entry_id!r}, question: {stored.question!r} is already answered by {same}", field="question"
            )
        return stored

    def overlaid(self, entries: Iterable[KnowledgeEntry], *, source: str | None = None) -> KnowledgeBase:
        """A new knowledge base: these entries with `entries` in place of (or beside) theirs, the later of two with
        one id winning. The entries left as they were keep their segmented documents, so a service applying its
        analysts' versions to the file's answers segments only the entries they changed, not all of them."""
        merged = dict(self._entries)
        for entry in entries:
            merged[entry.id] = entry
        tokens, content = self._documents_at_hand()
        kept = {i: (tokens[i], content[i]) for i, entry in merged.items() if self._entries.get(i) == entry}
        return KnowledgeBase(
            list(merged.values()),
            catalogue=self._catalogue,
            segmenter=self._segmenter,
            source=source or self.source,
            min_score=self.min_score,
            documents=kept,
        )

    def save(self, path: str | Path) -> Path:
        """Write the current entries as YAML, atomically: a reader sees the old file or the new one, never half."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = [e.model_dump(mode="json", exclude_none=True) for e in self]
        for entry in entries:
            entry["variants"] = list(entry["variants"])
        body = yaml.safe_dump({"version": 1, "entries": entries}, allow_unicode=True, sort_keys=False, width=200)
        handle = tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        )
        try:
            with handle:
                handle.write(_HEADER + body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        return path

    # ------------------------------------------------------------------ internals

    def _check_unit(self, entry: KnowledgeEntry, error: Any) -> None:
        if entry.unit == LOCAL or entry.unit in self._catalogue:
            return
        canonical = self._catalogue.resolve(entry.unit)
        hint = f" (the catalogue calls it {canonical!r})" if canonical else ""
        raise error(f"unknown unit {entry.unit!r}{hint}")

    def _documents(
        self, known: Mapping[str, tuple[list[str], str]]
    ) -> tuple[list[tuple[list[str], str]] | None, _Profiles | None, _BM25 | None, dict[str, str] | None]:
        """Every entry's `_document`, the entries' character profiles and their BM25 index, read back from the
        cache when the entries, the segmenter, bm25s and the code that tokenises are all the same (segmenting the
        answers, building their profiles and indexing them was most of a load), with the index words' readings
        (`_Index.sound_alike`); built and cached otherwise. None for the profiles, the index and the readings:
        `_build` makes them. None for the documents: they are in the cache too, and `_documents_at_hand` reads
        them when an edit needs them. `known`: documents already made, by id, used instead of segmenting again."""
        entries = list(self._entries.values())

        def build_documents() -> list[tuple[list[str], str]]:
            return [known[e.id] if e.id in known else self._document(e) for e in entries]

        segmenter_key = getattr(self._segmenter, "fingerprint", None)
        if not isinstance(segmenter_key, bytes):  # a segmenter the cache cannot name: build every time
            return build_documents(), None, None, None
        from importlib.util import find_spec

        import opencc

        from triage.cache import cached, fingerprint, read_cached, source_files, write_cached
        from triage.resources import RULES_FILE

        key = fingerprint(
            f"knowledge documents 5, opening {ANSWER_CHARS}, opencc {getattr(opencc, '__version__', '')}, {pypinyin_version()}",
            f"bm25s k1 {K1} b {B}",
            *_bm25s_sources(find_spec("bm25s")),
            segmenter_key,
            *source_files(__name__, "triage.normalise", "triage.rules", "triage.places"),
            RULES_FILE,
            [f"{e.id}\0{e.question}\0{chr(1).join(e.variants)}\0{e.answer}" for e in entries],
        )

        def valid_documents(value: object) -> bool:
            return isinstance(value, list) and len(value) == len(entries)

        def valid_index(value: object) -> bool:
            return isinstance(value, tuple) and len(value) == 3 and isinstance(value[2], dict)

        index = read_cached("knowledge", key, valid_index)
        documents: list[tuple[list[str], str]] | None = None
        if index is None:
            documents = build_documents()
            retriever = _index_terms([tokens for tokens, _ in documents])
            index = (_Profiles([content for _, content in documents]).state(), retriever.state(), _sound_alike(retriever))
            write_cached("knowledge", key, index, keep=CACHED_STATES)
            write_cached("answer-documents", key, documents, keep=CACHED_STATES)
        else:
            self._read_documents = lambda: [
                (list(tokens), str(content))
                for tokens, content in cached("answer-documents", key, build_documents, valid_documents)
            ]
        profiles, scores, sounds = index
        return documents, _Profiles.restore(profiles), _BM25.restore(scores), sounds

    def _document(self, entry: KnowledgeEntry) -> tuple[list[str], str]:
        """An entry's BM25 terms (question, variants, the opening of the answer) and its content words (the
        whole answer too) for the character profile."""
        asked = self.words(" ".join([entry.question, *entry.variants]))
        start = answer_opening(entry.answer)
        opening = self.words(start)
        rest = self.words(entry.answer[len(start) :]) if len(start) < len(entry.answer) else []
        return [t for w in asked + opening for t in _terms(w)], " ".join(asked + opening + rest)

    def _build(self, profiles: _Profiles | None = None, scores: _BM25 | None = None, sounds: dict[str, str] | None = None) -> _Index:
        """The index of the current entries (`profiles`, `scores`, `sounds`: their character profiles, BM25 index
        and index words' readings, when already at hand with that index)."""
        ids = tuple(self._entries)
        retriever = scores if scores is not None else _index_terms([self._tokens[i] for i in ids])
        data, indptr = retriever.scores["data"], retriever.scores["indptr"]
        best = np.zeros(len(indptr) - 1)
        filled = np.flatnonzero(np.diff(indptr) > 0)
        best[filled] = np.maximum.reduceat(np.asarray(data, dtype=float), indptr[filled])
        typical = float(np.median(best[best > 0])) if (best > 0).any() else 0.0
        if profiles is None:
            profiles = _Profiles([self._content[i] for i in ids])
        known_sounds = sounds if scores is not None else None  # readings of another index's words would not do
        return _Index(ids=ids, retriever=retriever, best=best, typical=typical, profiles=profiles, known_sounds=known_sounds)

    def _next_id(self) -> str:
        numbers = [int(m.group(1)) for i in self._entries if (m := re.fullmatch(r"kb-(\d+)", i))]
        return f"kb-{max(numbers, default=0) + 1:04d}"


_HEADER = """\
# Standard answers (信息库标准答案) for consultations: what an operator reads to a caller on the spot.
# Written by the project for a generic city in the register of 长沙's 12345 hotline; answers give the
# procedure and where to go, never a local number except the national service lines (12333, 12329 ...).
# `unit` must be a unit of data/units.yaml, or 属地 for what the caller's own district, 街道, 乡镇, 社区 or 村
# answers (offered as the district the call is in, where it says); `topic` one of triage.labels.TOPICS; `basis`
# names the law, regulation or policy document the answer rests on (the document only, where an article is not
# certain); `version` grows by one on every edit (KnowledgeBase.upsert), `reviewed` is the date a person last
# checked the answer and `valid_until` the date it must be checked again by (KnowledgeBase.overdue lists those
# past it).
"""


CACHED_STATES = 6
"""Knowledge-base indexes kept in the cache folder (about 10 MB each with their documents): the file's, and the few
latest a service made as analysts edited answers (each edit makes one; the older ones are never read again)."""


def load_knowledge_base(
    path: str | Path = KNOWLEDGE_FILE, *, catalogue: Catalogue | None = None, min_score: float = MIN_SCORE
) -> KnowledgeBase:
    """Read, check and index a knowledge file; a malformed entry (one without a basis or review date too),
    duplicate id or question, or unknown unit or topic is refused with the file and the entry's id. The garbage
    collector waits until the index is built (see `triage.collector`)."""
    with collection_paused():
        parsed = validated(_KnowledgeFile, read_yaml(path), path, describe=_describe)
        # each entry passed the file's stricter checks (a subclass's): built as the base type without checking it twice
        entries = [KnowledgeEntry.model_construct(**e.model_dump()) for e in parsed.entries]
        seen: dict[str, str] = {}
        for entry in entries:
            other = seen.setdefault(_question_key(entry.question), entry.id)
            if other != entry.id:
                raise DataFileError(path, f"duplicate question (the same as {other}'s)", entry=entry.id)
        return KnowledgeBase(entries, catalogue=catalogue, source=str(path), min_score=min_score)


CONSULTATION_SHARE = 0.3
"""A call whose top category is another is still answered when 咨询 holds at least this probability: callers mix a
question into a complaint or a plea for help, and the category head's second guess is often the right one.
Chosen on the full preset's out-of-fold category probabilities of 2,961 corpus calls (760 consultations): the
top category alone answers 87.5% of the consultations and 5.1% of other calls, this share 92.0% and 7.9%
(0.2 would answer 94.5% and 10.3%). The search's own score floor still keeps weak matches away."""
QUESTION_SHARE, CLOSE_MATCH = 0.08, 0.35
"""A call whose category head gives 咨询 less than `CONSULTATION_SHARE` but at least `QUESTION_SHARE` is answered
only by a close match (an answer scoring at least `CLOSE_MATCH`): callers put a question in a complaint's words
(这个算不算违法, 这个水能不能喝, 这个押金是正规的吗) and the head, reading the complaint, is sure of 投诉 or 求助.
Chosen on out-of-fold suggestions of the 2,398 accepted calls of the corpus's training pool (default preset, five
folds by call, each fold's model tuned on its own out-of-fold rows): consultations answered from an acceptable unit
in the top three 613 -> 623 of 682 (89.9% -> 91.3%), other calls given answers 5.0% -> 7.5% of 1,716, and 42 of
those 43 extra calls' first answer comes from a unit that handles the call. The grid around it is flat (0.30-0.42
by 0.03-0.15: +9 to +12 consultations for 1.2-3.1 points more of other calls); asking for a question word in the
call as well gained nothing beside the probability. The full preset's out-of-fold suggestions agree: 627 -> 644 of
682 consultations for other calls answered 5.5% -> 8.2%."""
WRITTEN_CLOSE_MATCH = 0.25
"""`CLOSE_MATCH` for written text, whose right answers score lower (see `WRITTEN_MIN_SCORE`). Chosen on the full
preset's out-of-fold suggestions of tipdm2020c's training messages (five folds, each left out of training with the
pool's calls): of 316 consultations with a unit, answered from an acceptable unit 231 without the question tier,
236 at 0.35, 241 at 0.25, 245 at 0.20; other letters given answers 4.9%, 5.9%, 7.8%, 9.3% of 2,048.
Checked again (session 22) on letters no one had read, from the same platform (the TipDM 测试数据 block of the
shared unlabelled text): of the 335 letters either preset puts in this tier with a hit at 0.15, two labellers and
an adjudicator judged each shown answer against the letter (agreement 96.7% on the letter being a question, 91.3%
on the right answers). Lowering the floor answers letters that are rarely helped: of those 0.20 adds, 4 of 29 (full)
and 7 of 64 (default) get an answer that answers them; at 0.15, 14 of 61 and 12 of 125. Kept at 0.25, where 24 of
the 61 letters answered (full) and 24 of 127 (default) get one. The labels stay outside the project (derived from
the shared data)."""


def consultation_share(suggestion: Suggestion) -> float:
    """The probability the category head gives 咨询 (1 when it is the top category)."""
    category = suggestion.category
    if category.label == CONSULTATION:
        return 1.0
    return max((a.score for a in category.alternatives if a.label == CONSULTATION), default=0.0)


def wants_answers(suggestion: Suggestion) -> bool:
    """Consultations are answered from the knowledge base: the top category, 咨询 a close enough second, or a
    question put in a complaint's words (then by a close match only; see `QUESTION_SHARE`)."""
    return consultation_share(suggestion) >= QUESTION_SHARE


def with_answers(suggestion: Suggestion, knowledge_base: KnowledgeBase, k: int = 3) -> Suggestion:
    """A consultation's suggestion with the top `k` standard answers, reranked with the unit and topic it
    predicts; other calls get none, and a question in a complaint's words only close matches (complaints share
    words with answers often enough to mislead an operator; see `wants_answers`)."""
    if not wants_answers(suggestion):
        return suggestion
    written = suggestion.register_ == "written"
    floor: float | None
    if consultation_share(suggestion) >= CONSULTATION_SHARE:
        floor = WRITTEN_MIN_SCORE if written else None  # None: the knowledge base's own
    else:  # a question in a complaint's words: a close match or nothing
        floor = WRITTEN_CLOSE_MATCH if written else CLOSE_MATCH
    try:
        answers = knowledge_base.search(suggestion.text, k, min_score=floor, context=Context.of(suggestion), spoken=not written)
    except InvalidTranscriptError:
        return suggestion
    return suggestion.model_copy(update={"answers": [local_answer(a, suggestion.district) for a in answers]})


def local_answer(answer: Answer, district: str | None) -> Answer:
    """A 属地 answer (one the caller's district, 街道 or 乡镇 gives) named after the district the call is in, where
    the call says it; any other answer as it is."""
    return answer.model_copy(update={"unit": district}) if answer.unit == LOCAL and district else answer
