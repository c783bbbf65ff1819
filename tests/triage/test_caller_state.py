"""The caller's state: rules over the cues untrained, a small learned head once trained; 求救 is never missed."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import StratifiedKFold

from triage.caller_state import StateResult, cue_hits, cue_totals, rule_state
from triage.classifiers.caller_state import RESCUE_THRESHOLD, CallerState
from triage.elements import CALLER_STATES
from triage.errors import LabelError

DEV = Path(__file__).resolve().parents[2] / "data" / "corpus" / "elements" / "caller_state_author.jsonl"
"""160 pool calls labelled by the extractor's author (not the issue's reference labels): a development check."""


@pytest.fixture(scope="module")
def dev_rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def fitted(dev_rows) -> CallerState:
    return CallerState.from_rows(dev_rows)


EMERGENCIES = [
    "喂，我们楼道里有台电动车烧起来了，好大的烟，我们在六楼下不去，快点快点！",
    "喂，我爸爸在卫生间摔了一跤，后脑勺在流血，叫他他只是哼，不怎么应我，怎么办啊。",
    "有个男的拿着刀在追另外一个人，大家都在跑，快点派警察。",
    "救命啊，有人掉到水里了！",
    "我被困在电梯里面了，电梯卡在十二楼和十三楼中间，里面还有个老人。",
    "我家小孩两岁，刚刚吞了一个纽扣电池，现在一直在哭。",
    "后厨天然气管子接口那里漏气了，嘶嘶响，味道很大，客人还在吃饭。",
    "路边一根电线断了掉在地上，还在冒火花，旁边有小孩子在玩。",
    "一个仓库冒烟了，刚才还响了几声，你们快点叫消防来。",
    "我老公喝了酒又在打我，往死里打，我躲在厕所里。",
    "有个男的一直跟着我，从地铁站跟到小区门口，我不敢回去。",
    "我女儿被锁在车里了，钥匙在车上，太阳好大。",
    "隔壁厨房爆炸了，窗户都震碎了。",
    # said without the usual words: the danger is in what is happening (session 15)
    "商场门口停的那台黑色车子里关了个细伢子，一直在拍窗户，车主不晓得去哪里了。",
    "有个人一直往湘江里面走，水到他胸口了，喊他也不回头。",
    "对面五楼有个伢子吊在阳台外面，手抓着栏杆，大人不在屋里。",
    "工地上那个围墙垮了，有个工人在下面，压住了，喊他冇得反应。",
    "我外婆倒在厨房地上，煤气灶还开着，我在外地赶不回来。",
    "我屋里烧炭烤火，我老公睡过去了喊不醒，我也头好晕。",
]


@pytest.mark.parametrize("text", EMERGENCIES)
def test_emergencies_are_求救_untrained_and_trained(text, fitted):
    assert CallerState().predict([text]) == ["求救"]
    assert fitted.predict([text]) == ["求救"]


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("这个物业太过分了，收了钱不办事，再不解决我就找媒体曝光！", "愤怒"),
        ("我打了第三次了，你们就知道踢皮球，凭什么不给我们办。", "愤怒"),
        ("我孩子明天就要入学了，证明还没开出来，急死了，能不能快点。", "焦急"),
        ("你好，我想问一下公积金提取要带什么材料。", "平静"),
        ("长沙的交通太差了，到处都堵，你们到底干什么吃的。", "愤怒"),
        ("刚才有个人把我包抢了，往旁边巷子里跑了，我现在怎么办啊？", "焦急"),  # property gone, nobody in danger now
        ("树倒了压在电线上，电线都快拉断了，就在我们房子旁边，赶快派人来。", "焦急"),  # a risk, not a danger now
        ("那个修车的把废机油直接倒在地上，流到我们菜地里了，麻烦你们管一下。", "平静"),  # 倒 is pouring here
        ("家里燃气卡充了值，表上还是显示没有气了，想问一下找哪里。", "平静"),  # the gas ran out, nobody stopped breathing
    ],
)
def test_the_rule_scorer_follows_the_guide(text, state):
    result = CallerState().assess([text])[0]
    assert isinstance(result, StateResult) and result.state == state
    assert 0.0 < result.score <= 1.0
    if state != "平静":
        assert result.cues  # the cues that spoke for it are named


def test_a_danger_told_as_past_is_not_求救():
    totals = cue_totals("我爸去年中风了，现在想申请一个护理补贴，要什么材料。")
    assert rule_state(totals) != "求救"
    assert CallerState().predict(["上个月被人抢了手机，报了警到现在冇消息，想问一下进展。"]) != ["求救"]
    assert CallerState().predict(["上个礼拜我小孩在万达广场走丢了，是那里的巡警帮忙找到的，我想表扬一下。"]) != ["求救"]


def test_cue_hits_point_into_the_text():
    text = "快点！着火了，救命！！"
    for hit in cue_hits(text):
        assert 0 <= hit.start < hit.end <= len(text) and hit.state in CALLER_STATES


def test_untrained_probabilities_follow_the_state_order():
    proba = CallerState().predict_proba(["你好，问一下", "救命，着火了"])
    assert proba.shape == (2, 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert CALLER_STATES[int(proba[1].argmax())] == "求救"
    assert CallerState().predict([]) == [] and CallerState().predict_proba([]).shape == (0, 4)


def test_fitting_sets_classes_and_probabilities_match_scikit_learn(fitted, dev_rows):
    assert set(fitted.classes_) == set(CALLER_STATES)
    texts = [r["text"] for r in dev_rows[:40]] + ["ABC  def  喂!!", "x"]
    raw = clone(fitted).set_params(emergency_floor=None, rescue_threshold=None).fit([r["text"] for r in dev_rows], [r["caller_state"] for r in dev_rows])
    scorer = raw.compiled()
    cues, _ = scorer.cue_matrix(texts, scorer.rules())
    expected = raw.model_.predict_proba(sp.hstack([raw.vectorizer_.transform(texts), sp.csr_matrix(cues)]).tocsr())
    assert np.allclose(raw.predict_proba(texts), expected, atol=1e-8)  # the fast path is the same model


def test_the_emergency_floor_overrides_the_learned_head():
    texts = ["今天天气很好，想问一下公园几点开门"] * 6 + ["救命，着火了，快来人"] + ["我要投诉，太过分了"] * 3
    labels = ["平静"] * 6 + ["平静"] + ["愤怒"] * 3  # a head that never learned 求救 …
    floor = CallerState(emergency_floor=3.0).fit([*texts, "有人晕倒了"], [*labels, "求救"])
    assert floor.predict(["救命，着火了，快来人"]) == ["求救"]  # … is overruled by a strong 求救 cue


def test_a_likely_enough_求救_is_called_求救_though_another_state_is_likelier(dev_rows):
    """`rescue_threshold`: a call whose 求救 probability reaches it is 求救 even where another state wins; the
    likeliest-state head leaves it as it was, and a call below it is untouched either way."""
    texts, labels = [r["text"] for r in dev_rows], [r["caller_state"] for r in dev_rows]
    plain = CallerState(rescue_threshold=None).fit(texts, labels)
    probe = [*texts, *EMERGENCIES, "我家楼下那个井盖好像有点松，晚上走路怕踩空", "外面有人在吵架，声音好大，我有点怕"]
    proba = plain.predict_proba(probe)
    k = list(plain.classes_).index("求救")
    between = [i for i, row in enumerate(proba) if row.argmax() != k and row[k] >= 0.02]
    assert between, "no call with some chance of 求救 that another state beats"
    threshold = float(np.median(proba[between, k]))
    lowered = clone(plain).set_params(rescue_threshold=threshold).fit(texts, labels)
    states, before = lowered.predict(probe), plain.predict(probe)
    for i, row in enumerate(proba):
        if row[k] >= threshold:
            assert states[i] == "求救"
        else:
            assert states[i] == before[i]
    assert sum(states[i] == "求救" and before[i] != "求救" for i in between) >= len(between) // 2
    for result, plain_state, row in zip(lowered.assess(probe), before, proba, strict=True):
        rescued = result.state == "求救" and plain_state != "求救"  # what a written message gives back
        assert (result.likeliest is not None) == rescued
        if rescued:
            assert result.likeliest.state == plain_state and result.likeliest.score == pytest.approx(row.max(), abs=1e-4)
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="rescue_threshold"):
            CallerState(rescue_threshold=bad).fit(texts, labels)


def test_bad_labels_are_refused():
    with pytest.raises(LabelError):
        CallerState().fit(["a", "b"], ["平静", "生气"])
    with pytest.raises(LabelError):
        CallerState().fit(["a", "b"], ["平静", "平静"])
    with pytest.raises(LabelError):
        CallerState().fit(["a"], ["平静", "焦急"])
    with pytest.raises(TypeError):
        CallerState().predict("一个字符串")  # type: ignore[arg-type]


def test_calls_count_as_much_as_their_weight(dev_rows):
    """`sample_weight` is how an outside writer's calls are made to count less than the guide's labellers' (the
    cross-validation's `probe_weight`): weight 1 everywhere is no weight, and calls that count more pull the head."""
    texts, labels = [r["text"] for r in dev_rows], [r["caller_state"] for r in dev_rows]
    plain = CallerState().fit(texts, labels)
    assert np.array_equal(CallerState().fit(texts, labels, sample_weight=[1.0] * len(texts)).predict_proba(texts), plain.predict_proba(texts))
    told = [f"楼下广场舞的音响天天放到{hour}点，吵得人睡不着" for hour in ("十", "十一", "十二", "九")] * 3
    angry = [*texts, *told], [*labels, *["愤怒"] * len(told)]
    column = list(plain.classes_).index("愤怒")
    low = CallerState().fit(*angry, sample_weight=[1.0] * len(texts) + [0.0] * len(told))  # there, but counting nothing
    high = CallerState().fit(*angry, sample_weight=[1.0] * len(texts) + [1.0] * len(told))
    probe = ["楼下广场舞的音响天天放到十点半，吵得人睡不着"]
    assert high.predict_proba(probe)[0, column] > low.predict_proba(probe)[0, column] + 0.1


@pytest.mark.parametrize("weights", [[1.0], [-1.0, 1.0, 1.0], [float("nan"), 1.0, 1.0], [0.0, 0.0, 0.0]])
def test_bad_weights_are_refused(weights):
    with pytest.raises(ValueError, match="sample_weight"):
        CallerState().fit(["着火了快来", "问一下社保", "你们怎么还不管"], ["求救", "平静", "愤怒"], sample_weight=weights)


def test_it_clones_and_pickles(fitted):
    assert clone(fitted).get_params() == fitted.get_params()
    again = pickle.loads(pickle.dumps(fitted))
    assert again.predict(EMERGENCIES[:2]) == fitted.predict(EMERGENCIES[:2])


def test_self_made_dev_check(dev_rows):
    """Five folds over the author's own 160 labels: 求救 recall at least 0.95, macro-F1 at least 0.70, for the
    rules alone and for the learned head. Not the issue's measure (the frozen calls, two labellers)."""
    texts = [r["text"] for r in dev_rows]
    y = np.array([r["caller_state"] for r in dev_rows])
    rules = CallerState().predict(texts)
    assert recall_score(y, rules, labels=["求救"], average="macro") >= 0.95
    assert f1_score(y, rules, average="macro") >= 0.70
    learned = np.empty(len(y), dtype=object)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, y):
        model = CallerState().fit([texts[i] for i in train], y[train])
        learned[test] = model.predict([texts[i] for i in test])
    assert recall_score(y, list(learned), labels=["求救"], average="macro") >= 0.95
    assert f1_score(y, list(learned), average="macro") >= 0.70


def test_a_long_letter_telling_a_danger_afterwards_is_not_a_cry_for_help():
    """Written letters tell what happened; with no word of now, a fire or a fight in one is a story (data/rules.yaml's
    `story_chars`), not a caller in danger."""
    letter = ("尊敬的领导：我们小区的业主向您反映一个问题。" + "小区配套一直不完善，物业也不管，" * 16
              + "前几年隔壁楼道里的电动车着火了，浓烟一直冒到顶楼，好多人被困在楼上。希望政府督促物业整改消防通道。")
    assert len(letter) > 300
    assert CallerState().predict([letter]) != ["求救"]
    assert CallerState().predict(["楼道里的电动车着火了，浓烟一直冒到顶楼，好多人被困在楼上，快点来！"]) == ["求救"]


def test_the_rescue_threshold_raises_calls_and_leaves_letters_as_they_are(default_bundle):
    """The trained default model serves the threshold; a call it lifts to 求救 is reviewed as a possible emergency,
    while the same words typed to the hotline keep their likeliest state (the threshold was chosen on calls)."""
    from triage.bundle import load_bundle

    served = load_bundle(default_bundle)
    assert served.caller_state.rescue_threshold == RESCUE_THRESHOLD
    served.caller_state.rescue_threshold = 1e-9  # every call with any chance of 求救 is lifted
    text = "你好，我想问一下我们小区门口的路灯坏了好几天了，什么时候能修好"
    spoken = served.suggest(text)
    written = served.suggest(text, register="written")
    assert spoken.caller_state.label == "求救"
    assert spoken.needs_review and any("求救" in reason for reason in spoken.review_reasons)
    assert written.caller_state.label != "求救"
    assert written.category.label == spoken.category.label and [u.name for u in written.units] == [u.name for u in spoken.units]
