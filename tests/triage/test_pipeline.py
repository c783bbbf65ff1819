import dataclasses
import datetime as dt
import json
import os
import pickle
import signal

import pytest

from triage.deadlines import TZ
from triage.errors import InvalidTranscriptError
from triage.labels import CATEGORIES, TOPICS


def test_a_call_becomes_a_complete_suggestion(pipeline):
    s = pipeline.suggest(
        "喂你好，我想反映一下，开福区伍家岭那边有个小区门口天天占道经营，摆摊的把路都堵死了，我电话13873112345",
        id="call-1",
        created_at=dt.datetime(2026, 11, 27, 10, tzinfo=TZ),
    )
    assert s.id == "call-1"
    assert s.category.label in CATEGORIES and 0 <= s.category.score <= 1
    assert len(s.category.alternatives) == 3
    assert s.topic.label in TOPICS
    assert s.district == "开福区"
    assert "伍家岭" in s.places
    assert s.scope.accepted and s.scope.reason is None
    assert len(s.units) >= 3
    assert all(u.why for u in s.units)
    assert [u.score for u in s.units] == sorted((u.score for u in s.units), reverse=True)
    assert s.units[0].name == "开福区"
    assert any("属地" in w for w in s.units[0].why)
    assert s.deadline.due_at.endswith("+08:00")
    assert "13873112345" not in s.text and "[电话]" in s.text
    assert s.keywords and all(k in s.text for k in s.keywords)
    assert isinstance(s.needs_review, bool)
    assert s.model_version == "test-default"
    as_json = s.to_json_dict()
    assert as_json["deadline"]["class"] in {"emergency", "simple", "help", "standard"}
    json.dumps(as_json, ensure_ascii=False)


def test_department_duties_route_city_wide_matters(pipeline):
    s = pipeline.suggest("我想问一下住房公积金怎么提取出来付首付")
    assert "市住房公积金管理中心" in [u.name for u in s.units[:3]]
    assert s.district is None


def test_an_emergency_is_refused_with_its_number_and_never_dispatched_alone(pipeline):
    s = pipeline.suggest("快点，我们楼下着火了，好多烟冒出来")
    assert (s.scope.accepted, s.scope.reason, s.scope.redirect) == (False, "emergency", "119")
    assert "119" in s.scope.explanation
    assert not s.auto.unit  # no unit is ever dispatched alone for a refused call
    assert s.units  # the ranking stays, for a dispatcher who overrules the refusal
    assert s.deadline.deadline_class == "emergency"  # an emergency redirect is 24 hours, whatever its category


@pytest.mark.parametrize("text", ["喂？喂？", "喂，你好，那个"])
def test_a_call_too_short_to_act_on_is_reviewed_never_refused_alone(pipeline, text):
    s = pipeline.suggest(text)
    assert (s.scope.accepted, s.scope.reason, s.scope.by_rule) == (False, "not_specific", False)
    assert not s.auto.scope and s.needs_review
    assert s.review_reasons == ["内容过短，请人工确认"]
    assert s.scope.why.startswith("内容过短") and s.scope.too_short


def test_a_short_call_with_content_is_not_taken_for_fillers(pipeline):
    s = pipeline.suggest("喂，楼下路灯坏了")  # short, but it says what
    assert not s.scope.too_short and "内容过短，请人工确认" not in s.review_reasons


def test_a_rule_refusal_says_which_words_it_rests_on(pipeline):
    s = pipeline.suggest("喂，我家楼下着火了，好大的烟")
    assert s.scope.by_rule and s.scope.why == "规则：「着火了」"


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("喂，公交车上有个老爷爷突然倒下去了，叫他也不应，脸都白了，司机停在路边了", "120"),
        ("我在远大一路，一台渣土车刮了我的车，两台车都停在路口，他不承认，说是我抢道", "122"),
        ("有个男的在我家门口撬锁，现在还在，我一个人在家好怕", "110"),
        ("我们对面那栋楼十几楼窗户里面在冒火，火苗都窜出来了", "119"),
        ("骑电动车的被一台货车撞了，人倒在地上流了好多血，没有动", "122"),
    ],
)
def test_an_emergency_goes_to_the_number_for_what_is_happening(pipeline, text, number):
    s = pipeline.suggest(text)
    assert (s.scope.accepted, s.scope.reason, s.scope.redirect) == (False, "emergency", number)
    assert number in s.scope.explanation


@pytest.mark.parametrize(
    "text",
    [
        "上个月我在车站北路被人把我的包抢了，当时就报了警，到现在一个多月了没消息，我想问一下进展",
        "我爸去年中风了，瘫在床上，想问一下能不能申请低保",
        "我们小区消防通道被车堵了，万一着火了消防车根本进不来，物业也不管",
        "上个礼拜我在地铁上看到一个人突然晕倒，后来抢救过来了，建议地铁站多配几台除颤仪，关键时候能救命",
        "我是退伍军人，想问一下退役军人优待证在哪里办",
    ],
)
def test_a_past_or_hypothetical_danger_is_not_refused_by_a_rule(pipeline, text):
    s = pipeline.suggest(text)
    assert s.scope.accepted or not s.scope.by_rule


def test_urgent_but_accepted_matters_get_24_hours(pipeline):
    s = pipeline.suggest("芙蓉区五一大道旁边的楼外墙瓷砖松动了，随时会掉下来砸到人", created_at=dt.datetime(2026, 11, 28, 9, tzinfo=TZ))
    assert s.scope.accepted
    assert s.deadline.deadline_class == "emergency"
    assert s.deadline.due_at == "2026-11-29T09:00:00+08:00"


def test_batch_and_single_agree(pipeline):
    texts = ["公交车司机甩站不停车", "老板拖欠我们三个月工资", "楼道里冒黑烟了 快点"]
    at = dt.datetime(2026, 12, 7, 10, 30, tzinfo=TZ)  # an emergency's 24 hours count from it
    batch = pipeline.suggest_many(texts, ids=["a", "b", "c"], created_at=at)
    single = [pipeline.suggest(t, id=i, created_at=at) for t, i in zip(texts, ["a", "b", "c"], strict=True)]
    assert single[2].deadline.deadline_class == "emergency"
    assert [b.model_dump() for b in batch] == [s.model_dump() for s in single]


def test_caller_given_address_fills_the_district(pipeline):
    s = pipeline.suggest("我们小区门口的垃圾好几天没人收了", address="雨花区洞井街道")
    assert s.district == "雨花区"


def test_bad_input_is_refused(pipeline):
    with pytest.raises(InvalidTranscriptError):
        pipeline.suggest("   ")
    with pytest.raises(TypeError, match="list of transcripts"):
        pipeline.suggest_many("停水了")


PARALLEL_CALLS = [
    "开福区伍家岭那边有个小区门口天天占道经营，摆摊的把路都堵死了",
    "我想问一下住房公积金怎么提取",
    "老板拖欠我们三个月工资，劳动监察大队电话打不通",
    "楼下烧烤店油烟太大，晚上吵到两三点",
    "公交车司机甩站不停车，态度还很差",
    "雨花区洞井街道这边停水两天了也没有通知",
    "家门口有人打架，有人受伤流血了",
    "建议在麓谷街道多设几个公共自行车点",
]


@pytest.fixture(scope="module")
def two_processes(pipeline):
    """The session pipeline with its worker process started; stopped after this module's tests."""
    yield pipeline
    pipeline.close()


def test_parallel_batches_give_the_serial_suggestions(two_processes):
    texts = [f"{t}（第{i}次反映）" for i in range(12) for t in PARALLEL_CALLS]
    ids = [f"call-{i}" for i in range(len(texts))]
    addresses = ["岳麓区" if i % 5 == 0 else None for i in range(len(texts))]
    when = dt.datetime(2026, 11, 27, 10, tzinfo=TZ)
    serial = two_processes.suggest_many(texts, ids=ids, addresses=addresses, created_at=when, n_jobs=1)
    parallel = two_processes.suggest_many(texts, ids=ids, addresses=addresses, created_at=when, n_jobs=2)
    assert two_processes._pool is not None, "a batch this size should have used the worker"
    assert [s.model_dump() for s in parallel] == [s.model_dump() for s in serial]


def test_parallel_batches_name_the_same_bad_transcript(two_processes):
    texts = [t for _ in range(12) for t in PARALLEL_CALLS]
    texts[70] = "   "  # in the worker's half
    with pytest.raises(InvalidTranscriptError, match="empty"):
        two_processes.suggest_many(texts, n_jobs=2)
    texts[3] = "no chinese at all"  # in this process's half: reported first, as the serial path would
    with pytest.raises(InvalidTranscriptError, match="no Chinese"):
        two_processes.suggest_many(texts, n_jobs=2)
    assert len(two_processes.suggest_many([*PARALLEL_CALLS] * 12, n_jobs=2)) == 96


def test_small_batches_stay_in_this_process(pipeline):
    fresh = pickle.loads(pickle.dumps(pipeline))
    assert fresh._pool is None
    fresh.suggest_many(PARALLEL_CALLS, n_jobs=-1)
    assert fresh._pool is None
    with pytest.raises(ValueError, match="n_jobs"):
        fresh.suggest_many(PARALLEL_CALLS, n_jobs=0)


def test_a_dead_worker_costs_time_not_suggestions(two_processes):
    texts = [*PARALLEL_CALLS] * 12
    when = dt.datetime(2026, 11, 27, 10, tzinfo=TZ)
    two_processes.suggest_many(texts, created_at=when, n_jobs=2)  # make sure the worker is up
    for pid in list(two_processes._pool._processes):
        os.kill(pid, signal.SIGKILL)
    survived = two_processes.suggest_many(texts, created_at=when, n_jobs=2)
    serial = two_processes.suggest_many(texts, created_at=when, n_jobs=1)
    assert [s.model_dump() for s in survived] == [s.model_dump() for s in serial]
    assert two_processes._pool is None  # the broken pool was let go; the next parallel batch starts a new one


def test_workers_that_cannot_start_are_tried_once_and_said_once(pipeline, monkeypatch, caplog):
    """A script without a main guard cannot spawn workers: every batch still comes back, warned about once."""
    fresh = pickle.loads(pickle.dumps(pipeline))
    starts = []

    def refuse(*args, **kwargs):
        starts.append(1)
        raise RuntimeError("An attempt has been made to start a new process before bootstrapping")

    monkeypatch.setattr("triage.pipeline.ProcessPoolExecutor", refuse)
    texts = [*PARALLEL_CALLS] * 8
    when = dt.datetime(2026, 11, 27, 10, tzinfo=TZ)
    with caplog.at_level("WARNING", logger="triage.pipeline"):
        first = fresh.suggest_many(texts, created_at=when, n_jobs=2)
        second = fresh.suggest_many(texts, created_at=when, n_jobs=2)
    serial = fresh.suggest_many(texts, created_at=when, n_jobs=1)
    assert [s.model_dump() for s in first] == [s.model_dump() for s in second] == [s.model_dump() for s in serial]
    assert len(starts) == 1
    assert len([r for r in caplog.records if "cannot start" in r.getMessage()]) == 1
    fresh.close()  # close() forgets the failure: the next parallel batch tries again
    fresh.suggest_many(texts, created_at=when, n_jobs=2)
    assert len(starts) == 2


def test_workers_are_restarted_when_what_they_copied_changes(pipeline):
    fresh = pickle.loads(pickle.dumps(pipeline))
    before = fresh._worker_config()
    assert fresh._worker_config() == before
    fresh.thresholds = dataclasses.replace(fresh.thresholds, topic=0.99)
    assert fresh._worker_config() != before


def test_a_district_found_only_by_sound_says_so_and_is_checked_by_a_person(pipeline):
    s = pipeline.suggest("我是五家岭那边的，小区门口天天有人占道经营，路都堵死了")
    assert (s.district, s.district_by_sound) == ("开福区", True)
    assert not s.auto.district and s.needs_review
    assert "属地按读音匹配，请核实地点" in s.review_reasons
    assert any(w.startswith("按读音匹配：伍家岭") for w in s.units[0].why)
    written = pipeline.suggest("我是伍家岭那边的，小区门口天天有人占道经营，路都堵死了")
    assert (written.district, written.district_by_sound) == ("开福区", False)


def test_keywords_are_never_words_of_asking_or_quantity(pipeline):
    from triage.pipeline import KEYWORD_STOP_WORDS

    s = pipeline.suggest("请问一下，住房公积金提取了多久能到账，好多人说很慢，一到月底就排队")
    assert s.keywords
    assert not set(s.keywords) & KEYWORD_STOP_WORDS
    assert not {"请问", "多久", "好多", "一到"} & set(s.keywords)


@pytest.mark.parametrize(
    ("text", "number", "unit"),
    [
        ("喂喂，我家楼下饭店着火了，好大的烟，快来人啊", "119", "市消防支队"),  # 烟 is smoke here, not 烟草
        ("刚刚有个男的抢了我的包，往地铁站那边跑了", "110", "市公安局"),
    ],
)
def test_a_redirected_emergency_names_the_unit_behind_the_number_first(pipeline, text, number, unit):
    s = pipeline.suggest(text)
    assert (s.scope.reason, s.scope.redirect) == ("emergency", number)
    assert s.units[0].name == unit and s.units[0].why == [f"紧急转{number}：{unit}处置"]
    assert unit not in [u.name for u in s.units[1:]]


def test_the_suggestion_drafts_the_order_from_spans_of_the_call(pipeline):
    s = pipeline.suggest("你好，我住在开福区四方坪那边，楼下烧烤店每天晚上十一点以后还在营业，油烟和噪音太大了，希望相关部门管一管。")
    spans = {name: getattr(s.elements, name) for name in ("address", "time", "object", "ask")}
    for span in spans.values():
        if span is not None:
            assert s.text[span.start : span.end] == span.text  # offsets into the text the suggestion shows
    assert "四方坪" in spans["address"].text and spans["time"].text == "每天晚上十一点以后"
    assert spans["ask"].text.startswith("希望相关部门")
    assert len(s.summary) <= 60 and s.summary.startswith("来电人反映：") and "四方坪" in s.summary and "诉求：" in s.summary
    assert s.caller_state is not None and s.caller_state.label in ("平静", "焦急", "愤怒", "求救")


def test_a_caller_in_a_fire_is_in_need_of_rescue_whatever_the_words(pipeline):
    s = pipeline.suggest("喂，我们楼道里好多烟，好像是楼下着火了")
    assert s.scope.redirect == "119" and s.caller_state.label == "求救"
