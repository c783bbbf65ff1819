import pickle

import jieba
import pytest

from triage.errors import DataFileError
from triage.segment import Segmenter, default_segmenter, tokenize


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
