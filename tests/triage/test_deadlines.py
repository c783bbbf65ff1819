import datetime as dt

import pytest

from triage.deadlines import TZ, DeadlinePolicy, WorkingCalendar


@pytest.fixture(scope="module")
def policy() -> DeadlinePolicy:
    return DeadlinePolicy()


def at(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=TZ)


def test_weekends_are_skipped(policy):
    # Friday 2026-11-27: 5 working days -> Friday 2026-12-04
    assert policy.due("simple", at(2026, 11, 27)).due_at == dt.datetime(2026, 12, 4, 23, 59, 59, tzinfo=TZ)


def test_national_day_holiday_and_its_make_up_saturday(policy):
    calendar = WorkingCalendar()
    assert not calendar.is_workday(dt.date(2026, 10, 5))
    assert calendar.is_workday(dt.date(2026, 10, 10))  # Saturday make-up day
    # 2026-09-30 + 5 working days: 10-08, 10-09, 10-10 (Sat, make-up), 10-12, 10-13
    assert policy.due("simple", at(2026, 9, 30)).due_at.date() == dt.date(2026, 10, 13)


def test_spring_festival_2026(policy):
    calendar = WorkingCalendar()
    assert not calendar.is_workday(dt.date(2026, 2, 17))
    assert calendar.is_workday(dt.date(2026, 2, 14))  # Saturday make-up day
    assert calendar.is_workday(dt.date(2026, 2, 28))
    # 2026-02-13 (Fri) + 5: 02-14 (Sat, make-up), 02-24, 02-25, 02-26, 02-27
    assert policy.due("simple", at(2026, 2, 13)).due_at.date() == dt.date(2026, 2, 27)


def test_deadlines_in_2027_use_the_holiday_file_and_say_so(policy):
    deadline = policy.due("simple", at(2026, 12, 28))
    assert deadline.due_at.date() == dt.date(2027, 1, 5)  # 01-01 is a holiday, 01-02/03 a weekend
    assert "2027" in deadline.explanation and "尚未收录" in deadline.explanation
    assert not WorkingCalendar().is_workday(dt.date(2027, 2, 8))  # provisional spring festival


def test_an_administrator_can_publish_2027(tmp_path):
    path = tmp_path / "holidays.yaml"
    path.write_text(
        "version: 1\nyears:\n  2027:\n    provisional: false\n    holidays: [2027-01-04]\n    workdays: [2027-01-09]\n",
        encoding="utf-8",
    )
    calendar = WorkingCalendar(path)
    assert not calendar.is_workday(dt.date(2027, 1, 4))
    assert calendar.is_workday(dt.date(2027, 1, 9))
    deadline = DeadlinePolicy(calendar=calendar).due("simple", at(2026, 12, 31))
    assert "管理员维护" in deadline.explanation


def test_emergency_is_24_hours_and_help_15_working_days(policy):
    assert policy.due("emergency", at(2026, 11, 28, 15)).due_at == at(2026, 11, 29, 15)
    assert policy.due("help", at(2026, 11, 27)).due_at.date() == dt.date(2026, 12, 18)


@pytest.mark.parametrize(
    ("text", "category", "expected"),
    [
        ("我们楼外墙瓷砖松动了随时会掉下来", "投诉", "emergency"),
        ("路边水管爆了一直在喷水", "求助", "emergency"),
        ("我想问一下公积金怎么提取", "咨询", "simple"),
        ("老板拖欠工资三个月了", "求助", "help"),
        ("楼下饭店油烟太大", "投诉", "standard"),
        ("人行道上有个井盖翻过来了,半边悬着,下面好深", "求助", "emergency"),
        ("大风把路边一棵大树吹歪了,根都翘起来了,斜在马路上面", "求助", "emergency"),
        ("昨天晚上下大雨,村道边上的山塌了一块,石头泥巴堵了半边路", "求助", "emergency"),  # yesterday's, still there
        ("我妈有点老年痴呆,今天早上出门到现在还冇回来", "求助", "emergency"),
        ("之前那个大坑我打过电话的,现在已经补好了,打来说声谢谢", "其他", "standard"),  # over
        ("我们小区消防通道被堵了,万一墙倒了砸到人怎么办", "投诉", "standard"),  # hypothetical
    ],
)
def test_deadline_class(policy, text, category, expected):
    assert policy.classify(text, category) == expected


def test_an_emergency_redirect_is_always_24_hours(policy):
    assert policy.classify("我想问一下公积金怎么提取", "咨询", emergency=True) == "emergency"
