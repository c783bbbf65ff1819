import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from triage.classifiers import CalibratedLinearClassifier, MultiHeadClassifier
from triage.errors import LabelError
from triage.features import TextFeaturizer

TEXTS = [
    "小区门口占道经营,摆摊的太多了",
    "晚上工地施工噪音太大睡不着",
    "拖欠工资三个月了老板不给",
    "公司不给交社保怎么办",
    "公积金怎么提取出来",
    "公交车司机态度很差还甩站",
    "地铁站出口太挤了",
    "饭店油烟直接排到我家窗户",
    "养老保险断缴了能不能补",
    "出租车不打表乱收费",
    "马路边乱摆摊堵住人行道",
    "工厂排放废气味道刺鼻",
]
TOPICS = ["城乡建设", "环境保护", "劳动和社会保障", "劳动和社会保障", "劳动和社会保障", "交通运输",
          "交通运输", "环境保护", "劳动和社会保障", "交通运输", "城乡建设", "环境保护"]


@parametrize_with_checks(
    [CalibratedLinearClassifier(cv=2)],
    expected_failed_checks=lambda est: {
        "check_class_weight_classifiers": "balanced weights are the default",
        # a weight of 2 and a repeated row differ once cross-validated calibration splits the rows into folds
        "check_sample_weight_equivalence_on_dense_data": "calibration folds split a repeated row, not a weighted one",
        "check_sample_weight_equivalence_on_sparse_data": "calibration folds split a repeated row, not a weighted one",
    },
)
def test_linear_head_follows_the_sklearn_contract(estimator, check):
    check(estimator)


def test_featurizer_rejects_a_bare_string():
    with pytest.raises(TypeError, match="not a single string"):
        TextFeaturizer().fit("停水了")


def test_unfitted_models_say_so():
    with pytest.raises(NotFittedError):
        TextFeaturizer().transform(["停水"])
    with pytest.raises(NotFittedError):
        MultiHeadClassifier().predict(["停水"])


def test_multihead_learns_each_head_on_its_labelled_rows():
    units = ["芙蓉区", None, "市人社局", "市人社局", None, "长沙公交集团", None, None, "市人社局", None, "芙蓉区", None]
    model = MultiHeadClassifier().fit(TEXTS, {"topic": TOPICS, "unit": units})
    assert set(model.classes_["unit"]) == {"芙蓉区", "市人社局", "长沙公交集团"}
    proba = model.predict_proba(["拖欠工资不给钱"])
    assert proba["topic"].shape == (1, 4)
    assert np.isclose(proba["topic"].sum(), 1.0)
    predicted = model.predict(["老板拖欠工资", "小区门口占道摆摊"])
    assert list(predicted["topic"]) == ["劳动和社会保障", "城乡建设"]


def test_a_head_with_one_class_is_refused_by_name():
    with pytest.raises(LabelError, match="'scope' needs at least two classes"):
        MultiHeadClassifier().fit(TEXTS, {"topic": TOPICS, "scope": ["accepted"] * len(TEXTS)})


def test_label_count_must_match_texts():
    with pytest.raises(LabelError, match="3 labels for 12 texts"):
        MultiHeadClassifier().fit(TEXTS, {"topic": TOPICS[:3]})


def test_compiled_probabilities_equal_sklearns():
    featurizer = TextFeaturizer().fit(TEXTS)
    X = featurizer.transform(TEXTS)
    for labels in (TOPICS, ["a" if i % 2 else "b" for i in range(len(TEXTS))]):
        head = CalibratedLinearClassifier(cv=2).fit(X, labels)
        assert head.compiled() is not None
        np.testing.assert_allclose(head.predict_proba(X), head.estimator_.predict_proba(X), atol=1e-12)


@pytest.mark.parametrize(
    "ngrams",
    [
        {},
        {"word_ngram_range": (1, 2), "char_ngram_range": (1, 3)},
        {"char_ngram_range": (2, 4)},  # longer than the packed lookup takes: counted token by token
        {"word_ngram_range": (2, 2), "char_ngram_range": (3, 3), "word_weight": 0.7},
    ],
)
def test_featurizer_transform_equals_sklearns_to_the_bit(ngrams):
    train = ["开福区伍家岭占道经营", "公积金提取怎么办理", "楼下烧烤店油烟太大", "公交车甩站不停车", "工资拖欠三个月"] * 5
    featurizer = TextFeaturizer(**ngrams).fit(train)
    texts = ["伍家岭的烧烤店占道经营，油烟太大", "没有一个认识的词", "公积金 公积金 公积金提取", "油  烟\t\t太大 ", "烟", "\U0001f525油烟"]
    for batch in (texts, texts[:1]):
        ours = featurizer.transform(batch)
        words = featurizer.words_.transform(batch) * featurizer.word_weight
        theirs = sp.hstack([words, featurizer.chars_.transform(batch)], format="csr")
        assert ours.shape == theirs.shape
        assert ours.dtype == theirs.dtype
        for attribute in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(ours, attribute), getattr(theirs, attribute))
