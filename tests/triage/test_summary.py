"""The one-line summary: 来电人反映：…；诉求：…, at most 60 characters, copied from the call, address and ask kept."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.datasets import is_test
from triage.elements import Elements, Span, extract_elements
from triage.resources import CORPUS_DIR
from triage.summary import ASK_LEAD, ASK_ONLY_LEAD, LEAD, MAX_CHARS, SEPARATOR, WRITTEN_LEADS, key_clause, summarise


def _pieces(summary: str) -> list[str]:
    """What the summary copied from the call: the parts between the register's fixed words and commas."""
    if summary.startswith(ASK_ONLY_LEAD):
        return [summary.removeprefix(ASK_ONLY_LEAD)]
    body = summary.removeprefix(LEAD)
    main, _, ask = body.partition(ASK_LEAD)
    return [p for p in main.split(SEPARATOR) if p] + ([ask] if ask else [])


def _assert_extractive(text: str, summary: str) -> None:
    assert summary.startswith((LEAD, ASK_ONLY_LEAD)) and len(summary) <= MAX_CHARS
    assert not summary.startswith(LEAD + ASK_LEAD.lstrip("；")) and LEAD + "；" not in summary  # never an empty 反映
    for piece in _pieces(summary):
        assert piece in text, piece


def test_the_summary_is_in_the_work_order_register_with_address_and_ask():
    text = "喂你好，嗯，我们家附近有好多流浪狗，四方坪那边，晚上成群结队地叫，还追着小孩子跑，能不能派人来抓一下。"
    e = extract_elements(text)
    summary = summarise(text, e)
    assert summary.startswith("来电人反映：四方坪")
    assert summary.endswith("；诉求：能不能派人来抓一下")
    assert "流浪狗" in summary
    _assert_extractive(text, summary)


def test_a_call_that_is_all_ask_is_summarised_as_the_ask_not_an_empty_report():
    text = "建议现在规划公示都贴在工地围挡上老百姓根本看不到能不能搞个小程序输个地址就能看到周边规划"
    e = extract_elements(text)
    assert e.ask is not None and e.address is None
    summary = summarise(text, e)
    assert summary.startswith(ASK_ONLY_LEAD) and "来电人反映" not in summary
    _assert_extractive(text, summary)


def test_without_an_ask_the_summary_has_no_request_part():
    text = "喂，我是浏阳市荷花街道的，嗯，我们街上有个木材加工厂，机器声音大，锯末子飘得到处都是。"
    summary = summarise(text, extract_elements(text))
    assert ASK_LEAD not in summary and "荷花街道" in summary
    _assert_extractive(text, summary)


def test_a_long_ask_is_cut_at_a_clause_boundary_and_the_address_stays():
    ask = "能不能派人来把这个路口的红绿灯修好，再在学校门口加一个人行横道，还有就是那个减速带也要装一下，最好安排交警早上来指挥一下"
    text = f"你好，枫林路那个加油站旁边，每天早上堵得不得了，{ask}。"
    found = extract_elements(text)
    start = text.index(ask)
    e = Elements(address=found.address, ask=Span.of(text, start, start + len(ask)))  # an ask longer than any found
    summary = summarise(text, e)
    assert len(summary) <= MAX_CHARS
    assert e.address is not None and e.address.text in summary
    cut = summary.partition(ASK_LEAD)[2]
    assert cut and e.ask.text.startswith(cut)
    assert e.ask.text[len(cut)] in "，,"  # cut where a clause ends, not inside a word
    assert e.address.text == "枫林路那个加油站旁边"


def test_time_and_key_clause_give_way_before_address_and_ask():
    text = "喂你好，嗯，" + "岳麓区桐梓坡路那边，" + "每天晚上十一点以后，" + "隔壁工地打桩的声音大得不得了整栋楼都在震窗户玻璃都在响，" + "希望相关部门尽快来查处一下这个工地的夜间施工问题。"
    e = extract_elements(text)
    summary = summarise(text, e, max_chars=40)
    assert len(summary) <= 40
    assert e.address.text in summary and ASK_LEAD in summary  # type: ignore[union-attr]
    _assert_extractive(text, summary)


def test_keywords_choose_the_key_clause():
    text = "你好，我们小区门口有个早餐店，油烟好大，每天早上都排到马路上，车子过不去。"
    e = Elements()
    assert key_clause(text, e, {"油烟": 5.0}).text == "油烟好大"  # type: ignore[union-attr]
    assert key_clause(text, e, ["马路"]).text == "每天早上都排到马路上"  # type: ignore[union-attr]
    assert key_clause(text, e, {}) is not None  # no weights: still a clause, the one naming the object if any


def test_a_summary_of_greetings_only_or_no_text_is_just_the_lead():
    assert summarise("喂，你好，嗯。", Elements()) == LEAD
    assert summarise("", Elements()) == LEAD.rstrip("：")


def test_elements_of_another_length_never_break_the_limit():
    text = "你好，" + "很长的地址" * 20 + "，能不能" + "帮帮忙" * 20
    e = Elements(address=Span.of(text, 3, 103), ask=Span.of(text, 104, len(text)))
    summary = summarise(text, e)
    assert len(summary) <= MAX_CHARS


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["四方坪", "那边", "，", "能不能", "派人来", "每天晚上", "有个", "烧烤店", "油烟", "我想问一下", "吗",
                                 "左家塘小区", "三栋", "希望", "查处", "嗯", " ", "。"]), max_size=60).map("".join))
def test_every_summary_is_extractive_and_short(text):
    _assert_extractive(text, summarise(text, extract_elements(text)) if text.strip() else LEAD)


def test_pool_calls_keep_their_address_and_ask():
    checked = 0
    for path in sorted(CORPUS_DIR.glob("calls_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if is_test(row["id"]):
                continue  # the frozen test split is never read here
            text = row["text"]
            e = extract_elements(text)
            summary = summarise(text, e)
            _assert_extractive(text, summary)
            if e.address is not None:
                assert e.address.text in summary
            if e.ask is not None:
                said = summary.removeprefix(ASK_ONLY_LEAD) if summary.startswith(ASK_ONLY_LEAD) else summary.partition(ASK_LEAD)[2]
                assert said and e.ask.text.startswith(said)
            checked += 1
    assert checked > 2000


def test_a_letter_is_summarised_as_written_to_the_hotline_without_its_salutation():
    """A web message or letter: its writer did not call (来信人), and the title that normalising joins to the 尊敬的
    领导 of the next line is the key clause without it."""
    text = "关于小区路灯损坏的求助尊敬的领导：您好！小区门口的路灯坏了一个多月，晚上出行很不方便，希望尽快修复，谢谢！"
    e = extract_elements(text)
    letter = summarise(text, e, register="written")
    assert letter.startswith(WRITTEN_LEADS) and "尊敬" not in letter and "谢谢" not in letter
    assert summarise(text, e).startswith((LEAD, ASK_ONLY_LEAD))  # the same text said on the phone
    assert summarise(text, e).removeprefix(LEAD) == letter.removeprefix(WRITTEN_LEADS[0])
    ask_only = summarise("希望尽快修复路灯", Elements(ask=Span.of("希望尽快修复路灯", 0, 8)), register="written")
    assert ask_only == WRITTEN_LEADS[1] + "希望尽快修复路灯"
    assert summarise("", Elements(), register="written") == WRITTEN_LEADS[0].rstrip("：")
    key = key_clause(text, e)
    assert key is not None and "尊敬" not in key.text and key.text in text
