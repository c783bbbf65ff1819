import json
import pickle
import sys

import jieba
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage import segment
from triage.errors import DataFileError
from triage.resources import DATA_DIR
from triage.segment import _WORD, Segmenter, default_segmenter, tokenize


def test_places_and_hotline_terms_stay_whole():
    words = tokenize("岳麓区麓谷街道占道经营很严重,公积金提取也办不了")
    assert "麓谷街道" in words
    assert "占道经营" in words
    assert "公积金提取" in words


def test_punctuation_and_spaces_are_not_tokens():
    assert tokenize("停水了!!  怎么办?") == ["停水", "了", "怎么办"]


def test_the_global_jieba_tokenizer_is_left_alone():
    default_segmenter()
    jieba.dt.initialize()
    assert jieba.dt.FREQ.get("麓谷街道") is None


def test_segmenter_and_tokenize_pickle_for_vectorisers():
    restored = pickle.loads(pickle.dumps(tokenize))
    assert restored("开福区停电了") == tokenize("开福区停电了")
    seg = Segmenter(words=["芙蓉中路三段"])
    clone = pickle.loads(pickle.dumps(seg))
    assert "芙蓉中路三段" in clone.cut("芙蓉中路三段堵车")


def test_a_bad_user_dictionary_line_is_named(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("占道经营 100 n\n停水 lots n\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"terms.txt, line 2"):
        Segmenter([path])


SAMPLES = [  # jieba's own `lcut` is the reference: the segmenter re-implements its accurate mode for speed
    "喂你好，开福区伍家岭那边有个小区门口天天占道经营，路都堵死了，我电话[电话]",
    "我想问一下住房公积金怎么提取，在麓谷街道那边的公积金中心办还是网上办",
    "K8县丁字街的商户乱摆摊，前段时间丁字街的交通好了几天，最近又开始把商品摆到路中间来卖了",
    "小区楼下的烧烤店每天晚上吵到凌晨两三点，油烟也大，投诉好多次都没人管",
    "abc 123 ＡＢＣ x-y #tag 3.5% 中文㐀鿖 。，！ a\r\nb",
    "嗯嗯嗯啊啊哦哦的的的了了",
    "价格+++涨了%%%还有...和__下划线_以及C++和-5.5%的跌幅",  # words of symbols only are dropped, others kept
    "我住在A3栋B座2单元1203室旁边的x7y8z9那里",  # unknown runs with letters and digits go through the HMM's splitting
    "",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_the_fast_cut_is_word_for_word_jiebas(text):
    default = default_segmenter()
    seg = Segmenter(default.user_dicts, default.words)  # a fresh one: its dictionary read part by part, as texts need
    words = seg.cut(text)
    seg.read_all()  # jieba's own cut reads the whole dictionary
    assert words == [w for w in seg._tokenizer.lcut(text, HMM=True) if _WORD.search(w)]


def test_a_dictionary_read_part_by_part_cuts_as_the_whole_one_even_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    default = default_segmenter()
    whole = Segmenter(default.user_dicts, default.words)
    whole.read_all()
    texts = [t for t in SAMPLES if t] * 4 + [t[::-1] for t in SAMPLES if t]
    expected = [whole.cut(t) for t in texts]
    lazy = Segmenter(default.user_dicts, default.words)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lazy.cut, texts)) == expected
    assert lazy._pending  # parts of characters no text held are still unread


def test_the_fast_cut_follows_words_added_to_the_dictionary():
    seg = Segmenter(words=["丁字街商户"])
    assert "丁字街商户" in seg.cut("丁字街商户乱摆摊")
    seg.read_all()
    assert seg.cut("丁字街商户乱摆摊") == [w for w in seg._tokenizer.lcut("丁字街商户乱摆摊") if _WORD.search(w)]


def test_remembered_cuts_survive_reading_the_dictionary_but_not_an_added_word():
    default = default_segmenter()
    seg = Segmenter(default.user_dicts, default.words)
    text = "丁字街商户乱摆摊"
    first = seg.cut(text)
    seg.cut("住房公积金怎么提取")  # reads other parts of the dictionary
    assert seg.cut(text) == first and text in seg._recent
    seg._tokenizer.add_word("丁字街商户", freq=50_000)
    assert "丁字街商户" in seg.cut(text)


# jieba-rs finds the best route of a batch's texts; the runs of single characters still go through jieba's HMM here
_MIXED = "开福区伍家岭小区门口占道经营停水了公积金提取赞赞赞常在学道浮邱观的了吗我们" "abcXYZ019" "+#&._%-" "，。！?、 \r\n\t" "Ａ１㐀鿖豈🔥éあ한_"


@pytest.fixture
def native_segmenter(monkeypatch: pytest.MonkeyPatch) -> Segmenter:
    """A segmenter that cuts with jieba-rs from its first text (a process normally does after NATIVE_AFTER_CHARS)."""
    monkeypatch.setattr(segment, "NATIVE_AFTER_CHARS", 0)
    default = default_segmenter()
    seg = Segmenter(default.user_dicts, default.words)
    seg.read_all()
    return seg


def _jieba_cut(seg: Segmenter, text: str) -> list[str]:
    return [w for w in seg._tokenizer.lcut(text, HMM=True) if _WORD.search(w)]


@pytest.mark.parametrize("text", [*SAMPLES, "全家喜欢的价格实惠赞赞赞赞赞骑士哥也非常给力", "父亲赵寿山学道常在浮邱观打醮念经由此可见到"])
def test_a_batch_cut_through_jieba_rs_is_word_for_word_jiebas(native_segmenter: Segmenter, text: str) -> None:
    # the last two: jieba-rs's own HMM breaks a tie otherwise (赞赞赞|赞赞 for jieba's 赞赞|赞赞赞)
    assert native_segmenter.cut(text) == _jieba_cut(native_segmenter, text)
    assert native_segmenter._native is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=_MIXED, max_size=40))
def test_any_text_cut_through_jieba_rs_is_word_for_word_jiebas(native_segmenter: Segmenter, text: str) -> None:
    native_segmenter._recent.clear()
    assert native_segmenter.cut(text) == _jieba_cut(native_segmenter, text)


def test_corpus_calls_cut_through_jieba_rs_as_in_python(native_segmenter: Segmenter) -> None:
    lines = (DATA_DIR / "corpus" / "calls_b.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()][:300]
    python = Segmenter(native_segmenter.user_dicts, native_segmenter.words)  # under NATIVE_AFTER_CHARS: Python
    python._native_for = None
    assert [native_segmenter.cut(t) for t in texts] == [python.cut(t) for t in texts]
    assert native_segmenter._native is not None and python._native is None


def test_one_call_is_cut_in_python_and_a_batch_builds_jieba_rs_once() -> None:
    default = default_segmenter()
    seg = Segmenter(default.user_dicts, default.words)
    seg.cut("我想问一下住房公积金怎么提取")
    assert seg._native is None  # 0.1 s a one-call process does not pay
    text = "小区楼下的烧烤店每天晚上吵到凌晨两三点，油烟也大，投诉好多次都没人管"
    for k in range(segment.NATIVE_AFTER_CHARS // len(text) + 2):
        seg.cut(text + str(k))
    built = seg._native
    assert built is not None
    seg.cut(text + "再来一次")
    assert seg._native is built


def test_without_rjieba_a_batch_is_cut_in_python_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment, "NATIVE_AFTER_CHARS", 0)
    monkeypatch.setitem(sys.modules, "rjieba", None)  # import fails
    default = default_segmenter()
    seg = Segmenter(default.user_dicts, default.words)
    assert seg.cut(SAMPLES[0]) == default.cut(SAMPLES[0])
    assert seg._native is None


def test_a_word_added_after_jieba_rs_was_built_is_cut_whole(native_segmenter: Segmenter) -> None:
    text = "丁字街商户乱摆摊"
    assert "丁字街商户" not in native_segmenter.cut(text)
    native_segmenter._tokenizer.add_word("丁字街商户", freq=50_000)
    assert "丁字街商户" in native_segmenter.cut(text)


def test_a_batch_worker_cuts_through_jieba_rs_without_reading_the_dictionary() -> None:
    default = default_segmenter()
    seg = Segmenter(default.user_dicts, default.words)
    unread = len(seg._pending)
    seg.prepare_batch()
    texts = [t for t in SAMPLES if t and "+" not in t and "." not in t and "-" not in t]
    assert [seg.cut(t) for t in texts] == [default.cut(t) for t in texts]
    assert seg._native is not None and len(seg._pending) == unread  # no part of jieba's dictionary held twice
