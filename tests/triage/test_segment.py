import pickle

import jieba
import pytest

from triage.errors import DataFileError
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
