"""Order elements: each a span of the transcript at its offsets, or None; never text that was not said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.datasets import is_test
from triage.elements import (
    ELEMENTS_FILE,
    Elements,
    Span,
    clauses,
    extract_elements,
    find_address,
    find_ask,
    find_contact_ok,
    find_time,
    load_element_rules,
)
from triage.errors import DataFileError
from triage.places import default_gazetteer
from triage.resources import CORPUS_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _pool_calls() -> list[str]:
    """The corpus calls of the training pool only: the frozen test split is never read here."""
    texts = []
    for path in sorted(CORPUS_DIR.glob("calls_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if not is_test(row["id"]):
                    texts.append(row["text"])
    return texts


def _spans(elements: Elements) -> list[Span]:
    return [s for s in (elements.address, elements.time, elements.object, elements.ask) if s is not None]


def _assert_from_text(text: str, elements: Elements) -> None:
    for span in _spans(elements):
        assert 0 <= span.start < span.end <= len(text), span
        assert text[span.start : span.end] == span.text, span
    assert elements.contact_ok in (True, False, None)


def test_the_guide_example_is_cut_as_the_guide_labels_it():
    text = "喂你好，嗯，我们家附近有好多流浪狗，四方坪那边，晚上成群结队地叫，还追着小孩子跑，能不能派人来抓一下。"
    e = extract_elements(text)
    assert e.address is not None and e.address.text == "四方坪"
    assert e.time is not None and e.time.text == "晚上"
    assert e.object is not None and e.object.text == "流浪狗"
    assert e.ask is not None and e.ask.text == "能不能派人来抓一下"
    assert e.contact_ok is None
    assert e.as_dict()["ask"] == {"text": "能不能派人来抓一下", "start": text.index("能不能"), "end": len(text) - 1}


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("你好，枫林路那个加油站旁边，每天晚上都有大车进出。", "枫林路那个加油站旁边"),
        ("我们是左家塘小区三栋的，楼顶水箱漏水了。", "左家塘小区三栋"),
        ("劳动西路跟书院路交界的地方有个井盖没了。", "劳动西路跟书院路交界的地方"),
        ("你好，雨花区黎托那边，路边堆了好多建筑垃圾。", "雨花区黎托"),
        ("桐梓坡路那边一个老小区，化粪池满了。", "桐梓坡路那边一个老小区"),
        ("我们小区在芙蓉区马坡岭，叫东方明珠花园，物业乱收费。", "东方明珠花园"),
    ],
)
def test_the_address_is_the_most_specific_place_with_its_building_or_landmark(text, address):
    span = find_address(text)
    assert span is not None and span.text == address


def test_the_address_leaves_out_framing_words_and_a_trailing_nabian():
    span = find_address("我住在五一广场那边，这里的路灯坏了")
    assert span is not None and span.text == "五一广场"


def test_a_place_where_the_caller_only_lives_gives_way_to_where_the_matter_is():
    span = find_address("我住在岳麓区，但是我要反映开福区伍家岭那边的垃圾没人清")
    assert span is not None and span.text.startswith("开福区伍家岭")


def test_a_location_from_the_pipeline_gives_the_same_address_and_one_of_another_text_is_ignored():
    text = "喂，开福区洪山庙那边，有一根电线断了，掉在地上。"
    location = default_gazetteer().locate(text)
    assert find_address(text, location) == find_address(text)
    other = default_gazetteer().locate("岳麓区桐梓坡路那边下水道堵了，好臭")
    e = extract_elements(text, other)  # offsets of another transcript: never used
    assert e.address is None or text[e.address.start : e.address.end] == e.address.text
    assert extract_elements(text, list(location.evidence)).address == find_address(text)


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("楼下烧烤店每天晚上十一点以后还在营业，油烟好大", "每天晚上十一点以后"),
        ("麓山南路的路灯不亮快半个月了，没人修", "快半个月了"),
        ("从去年开始，这个厂就天天排污", "从去年开始"),
        ("昨天下午我在公交车上手机被偷了", "昨天下午"),
        ("电梯坏了三天了", "三天了"),
    ],
)
def test_time_expressions_are_joined_and_the_most_telling_kept(text, time):
    span = find_time(text)
    assert span is not None and span.text == time


def test_a_deadline_asked_for_is_not_the_time_and_a_bare_now_counts_only_alone():
    assert find_time("你们三天内给我处理好") is None
    assert find_time("字大一点，便宜一点") is None
    now = find_time("现在路上全是水")
    assert now is not None and now.text == "现在"
    assert find_time("现在还是一样，昨天晚上又来了").text == "昨天晚上"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "ask"),
    [
        ("有人在河边倒垃圾，希望相关部门查处。", "希望相关部门查处"),
        ("你好，我想问一下新生儿医保怎么办。", "我想问一下新生儿医保怎么办"),
        ("你好，我想问一下，嗯，明天是不是有计划停水啊，我看群里在传。", "我想问一下，嗯，明天是不是有计划停水啊"),
        ("喂你好，新的社保卡拿到了怎么激活啊，要去银行还是手机上就能弄？", "新的社保卡拿到了怎么激活啊，要去银行还是手机上就能弄"),
        ("井盖被压碎了，小孩每天从那里过，你们快点派人来盖一下。", "你们快点派人来盖一下"),
        ("防空洞口堆满了垃圾，能不能派人来清一下，把洞口封起来。", "能不能派人来清一下，把洞口封起来"),
    ],
)
def test_the_ask_runs_from_the_request_verb_to_the_end_of_the_request(text, ask):
    span = find_ask(text)
    assert span is not None and span.text == ask


def test_a_call_that_only_tells_or_only_reproaches_asks_nothing():
    assert find_ask("我们街上有个木材加工厂，机器声音大，锯末子飘得到处都是。") is None
    assert find_ask("开发商欠钱，凭什么要我们业主背锅。") is None


def test_a_far_question_after_a_question_frame_is_the_ask_on_its_own():
    text = "我想问一下，我家附近新开了一个口腔诊所，在岳麓区观沙岭那边，我想知道它有没有正规的执业许可证。"
    assert find_ask(text).text == "我想知道它有没有正规的执业许可证"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("处理完了可以回电话给我", True),
        ("有结果打我电话", True),
        ("我不要回访，谢谢", False),
        ("我想匿名反映", False),
        ("不要给我打电话", False),
        ("打了好几次也没有人联系我", None),
        ("路灯坏了", None),
    ],
)
def test_contact_ok_is_said_or_none(text, ok):
    assert find_contact_ok(text) is ok


def test_long_runs_without_punctuation_are_cut_into_clauses():
    text = "喂你好麓谷这边尖山路上有个工地每天晚上十一二点还在打桩我们小区就在对面小孩子被吵得睡不着觉你们能不能管一下"
    parts = clauses(text)
    assert len(parts) > 1 and "".join(text[s:e] for s, e in parts) == text
    ask = find_ask(text)
    assert ask is not None and ask.text.endswith("能不能管一下") and len(ask.text) < 20


def test_empty_or_not_text_gives_no_elements():
    assert extract_elements("") == Elements()
    assert extract_elements(None) == Elements()  # type: ignore[arg-type]
    assert extract_elements("嗯嗯嗯，喂？") == Elements()


_FRAGMENTS = [
    "四方坪", "那边", "，", "。", "？", "!", " ", "  ", "能不能", "派人来", "每天晚上", "十一点以后", "半个月了", "从去年开始",
    "我想问一下", "吗", "怎么办", "左家塘小区", "三栋", "跟", "劳动西路", "旁边", "有个", "烧烤店", "投诉", "希望", "不要回访",
    "打我电话", "凭什么", "叫", "花园", "在", "的", "了", "一点", "三天内", "救命", "着火了", "嗯", "就是", "12345", "[电话]", "A", "3",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join), st.text(max_size=120)))
def test_every_element_is_the_transcript_at_its_offsets(text):
    _assert_from_text(text, extract_elements(text))


def test_every_element_of_every_pool_call_is_the_transcript_at_its_offsets():
    texts = _pool_calls()
    assert len(texts) > 2000
    found = dict.fromkeys(("address", "time", "object", "ask"), 0)
    for text in texts:
        e = extract_elements(text)
        _assert_from_text(text, e)
        for name in found:
            found[name] += getattr(e, name) is not None
    # most calls say where and what they want: an extractor that finds nothing would pass the check above
    assert found["address"] > 0.6 * len(texts) and found["ask"] > 0.6 * len(texts)


def test_self_made_dev_labels_overlap():
    """60 pool calls labelled by the extractor's author (tests/fixtures/elements_dev.jsonl), not the reference
    labels: a floor against regressions, not the issue's goal (that is measured on the frozen calls)."""
    rows = [json.loads(line) for line in (FIXTURES / "elements_dev.jsonl").read_text(encoding="utf-8").splitlines()]
    for name, floor in (("address", 0.8), ("ask", 0.8)):
        hits = predicted = labelled = 0
        for row in rows:
            span = getattr(extract_elements(row["text"]), name)
            ref = row[name]
            predicted += span is not None
            labelled += ref is not None
            if span is not None and ref is not None:
                start = row["text"].index(ref)
                hits += span.start < start + len(ref) and start < span.end
        precision, recall = hits / max(predicted, 1), hits / max(labelled, 1)
        assert 2 * precision * recall / max(precision + recall, 1e-9) >= floor, name


def test_a_rules_file_with_a_broken_pattern_is_refused_naming_it(tmp_path):
    raw = yaml.safe_load(ELEMENTS_FILE.read_text(encoding="utf-8"))
    raw["ask"]["request"] = "能不能|(希望"
    path = tmp_path / "elements.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataFileError, match=r"ask\.request"):
        load_element_rules(path)
    raw["ask"]["request"] = "能不能"
    raw["caller_state"]["cues"]["生气"] = []
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataFileError, match="生气"):
        load_element_rules(path)
    raw["caller_state"]["cues"].pop("生气")
    raw["unknown_key"] = 1
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataFileError):
        load_element_rules(path)
