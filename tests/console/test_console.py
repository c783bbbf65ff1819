"""The console in a real browser: operator creates orders, dispatcher accepts and corrects, analyst reads.

Each flow ends by checking what the service stored, so a page that only looks right cannot pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select

from api.models import Order
from tests.console.conftest import create

STALLS = "喂你好，开福区伍家岭那边有个小区门口天天占道经营，路都堵死了，我电话13873112345"
LIGHTS = "岳麓区麓山南路那一段路灯坏了一个多星期了，晚上黑漆漆的很危险"
UNPLACED = "我们社区旁边的空地上有人搭了个违章棚子"  # a district's matter (a small illegal structure) with no place: a person places it
LIGHTS_AGAIN = [
    "麓山南路的路灯晚上都不亮，岳麓区这边走夜路很危险，麻烦修一下",
    "我反映一下岳麓区麓山南路路灯不亮的问题，好几天了",
]
FIGHT = "我邻居天天跟我吵架，我们两家的矛盾你们给评评理"
FIRE = "我家楼下着火了，好大的烟，快来人"
INJECTION = "投诉<script>alert(1)</script><img src=x onerror=alert(2)>小区噪音扰民"
SEED = [
    "我想问一下住房公积金怎么提取，需要带什么材料",
    "雨花区圭塘河边上有人往河里倒垃圾，臭得不得了，麻烦管一下",
    "芙蓉区五一广场附近的公交站牌被撞坏了好几天了没人修",
    "天心区南门口有家餐馆油烟直排，我们楼上窗户都不敢开",
    "我们小区停水两天了，开福区四方坪，一直没有通知什么时候来水",
    "岳麓区梅溪湖那边工地晚上十二点还在施工，噪音太大睡不着",
]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def decide(client: httpx.Client, order_id: int, action: str, **body: object) -> dict:
    version = client.get(f"/v1/orders/{order_id}").json()["version"]
    response = client.post(f"/v1/orders/{order_id}/{action}", json={"version": version, **body})
    assert response.status_code == 200, response.text
    return response.json()


def stored(app: FastAPI, order_id: int) -> Order:
    with app.state.sessions() as session:
        order = session.scalar(select(Order).where(Order.id == order_id))
        assert order is not None
        session.expunge(order)
        return order


def open_order(page: Page, order_id: int) -> None:
    """Find an order with the keyboard: `/` focuses the search, Enter leaves it, the match is selected."""
    page.keyboard.press("/")
    expect(page.locator("#q-search")).to_be_focused()
    page.keyboard.type(f"#{order_id}")
    page.keyboard.press("Enter")
    expect(page.locator("#d-title")).to_contain_text(f"#{order_id}")


def test_operator_creates_dispatcher_accepts_and_corrects(
    new_page: Callable[[], Page],
    sign_in: Callable[[Page, str], None],
    screenshot: Callable[[Page, str], Path],
    http: Callable[[str], httpx.Client],
    console_app: FastAPI,
) -> None:
    operator_api, dispatcher_api = http("operator"), http("dispatcher")

    # the operator: auto-fill while typing, then create
    page = new_page()
    sign_in(page, "operator")
    expect(page.locator("#view-operator")).to_be_visible()
    expect(page.locator("#views")).to_be_hidden()  # an operator gets one view
    page.locator("#op-text").press_sequentially(STALLS[:20])
    page.locator("#op-text").fill(STALLS)
    expect(page.locator("#op-status")).to_contain_text("已自动填写")
    expect(page.locator("#op-district")).to_have_value("开福区")
    expect(page.locator("#op-category")).to_have_value(re.compile(".+"))
    expect(page.locator("#op-units li").first).to_contain_text("开福区")
    expect(page.locator("#op-due")).not_to_have_text("—")
    screenshot(page, "operator")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#op-result")).to_contain_text("已创建工单")
    first = int(re.search(r"#(\d+)", page.locator("#op-result").inner_text()).group(1))
    page.locator("#op-create").click(force=True)  # a second press must not create a second order
    page.click("#op-reset")
    page.locator("#op-text").fill(LIGHTS)
    expect(page.locator("#op-district")).to_have_value("岳麓区")
    edited = "建议" if page.locator("#op-category").input_value() != "建议" else "咨询"
    page.select_option("#op-category", edited)  # an operator's edit is kept and flagged
    expect(page.locator("#op-form .tag.edited")).to_have_count(1)
    page.click("#op-create")
    expect(page.locator("#op-result")).to_contain_text("已创建工单")
    expect(page.locator("#op-result")).to_contain_text(f"→ {edited}")  # the operator sees what was saved
    second = int(re.search(r"#(\d+)", page.locator("#op-result").inner_text()).group(1))
    assert second != first
    assert [o["id"] for o in operator_api.get("/v1/orders").json()["items"]] == [second, first]
    created = operator_api.get(f"/v1/orders/{second}").json()
    assert created["events"][0]["detail"]["operator_corrected"] == ["category"]

    # some history for the other views: routed, replied and visited orders, a difficult one, a refusal,
    # and two more callers about the second order's street lights (one hot spot of three orders)
    lights = [second, *(create(operator_api, text)["id"] for text in LIGHTS_AGAIN)]
    seeded = [create(operator_api, text) for text in [*SEED, FIGHT, FIRE]]
    for order in seeded[:3]:
        decide(dispatcher_api, order["id"], "dispatch")
        decide(dispatcher_api, order["id"], "reply", text="已安排处理")
    decide(dispatcher_api, seeded[0]["id"], "visit", satisfaction="满意")
    decide(dispatcher_api, seeded[1]["id"], "visit", satisfaction="基本满意")
    decide(dispatcher_api, seeded[2]["id"], "visit", satisfaction="不满意")
    difficult = seeded[3]["id"]
    for _ in range(2):
        decide(dispatcher_api, difficult, "dispatch")
        decide(dispatcher_api, difficult, "bounce", reason="不属于本单位职责")
    decide(dispatcher_api, seeded[-2]["id"], "dispatch")  # the neighbours' quarrel: refused as suggested

    # the dispatcher: both new orders in the queue, the evidence highlighted, accept with the keyboard
    page = new_page()
    sign_in(page, "dispatcher")
    expect(page.locator("#view-dispatcher")).to_be_visible()
    for order_id in (first, second, difficult):
        expect(page.locator(f'#q-list [data-id="{order_id}"]')).to_be_visible()
    expect(page.locator(f'#q-list [data-id="{difficult}"] .badge.difficult')).to_be_visible()
    open_order(page, difficult)
    expect(page.locator("#d-events .ev-bounced")).to_have_count(2)
    expect(page.locator("#d-events")).to_contain_text("不属于本单位职责")
    page.fill("#q-search", "")
    page.locator(f'#q-list [data-id="{first}"]').click()
    expect(page.locator("#d-text mark.place", has_text="伍家岭")).to_be_visible()
    expect(page.locator("#d-text mark.kw", has_text="占道经营")).to_be_visible()
    expect(page.locator("#d-units > li")).not_to_have_count(0)
    expect(page.locator("#d-units .why").first).to_contain_text("属地")
    screenshot(page, "dispatcher")
    suggested = page.locator("#d-units > li .unit-name").first.inner_text()
    page.keyboard.press("a")
    expect(page.locator(f'#q-list [data-id="{first}"]')).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text(f"#{first}")

    # correct the second: J/K move through the queue, C opens the searchable unit list
    open_order(page, second)
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(page.locator("#d-title")).to_contain_text(f"#{second}")
    top = page.locator("#d-units > li .unit-name").first.inner_text()
    target = "岳麓区" if top != "岳麓区" else "市城管局"
    page.keyboard.press("c")
    expect(page.locator("#d-unit-search")).to_be_focused()
    page.keyboard.type(target)
    option = page.locator(f'#d-unit-list [data-name="{target}"]')
    option.click()
    expect(option).to_have_attribute("aria-selected", "true")
    page.select_option("#d-category", "投诉")
    page.press("#d-unit-search", "Enter")
    expect(page.locator(f'#q-list [data-id="{second}"]')).to_have_count(0)

    # what the service stored
    accepted, corrected = stored(console_app, first), stored(console_app, second)
    assert (accepted.status, accepted.unit) == ("dispatched", suggested)
    assert accepted.held and accepted.held["unit"]["top1"]
    assert (corrected.status, corrected.unit, corrected.category) == ("dispatched", target, "投诉")
    assert not corrected.held["unit"]["top1"]
    event = dispatcher_api.get(f"/v1/orders/{second}").json()["events"][-1]
    assert event["kind"] == "dispatched" and "unit" in event["detail"]["corrected"]
    assert event["actor"] == "dispatcher-console"

    # the analyst's figures include both decisions
    page = new_page()
    sign_in(page, "analyst")
    expect(page.locator("#view-analyst")).to_be_visible()
    expect(page.locator("#a-kpis")).to_contain_text("已派单")
    stats = http("analyst").get("/v1/stats").json()
    expect(page.locator("#a-kpis .kpi").nth(2)).to_contain_text(str(stats["dispatched"]))
    expect(page.locator("#a-unit")).to_contain_text(target)
    expect(page.locator("#a-satisfaction")).to_contain_text("基本满意")
    expect(page.locator("#a-by-day svg polyline")).to_have_count(2)
    expect(page.locator("#a-refused")).to_contain_text("邻里及民间纠纷")
    spot = page.locator("#a-hotspots tbody tr")
    expect(spot).to_have_count(1)
    expect(spot.locator(".count")).to_have_text("3")
    expect(spot).to_contain_text("麓山南路")
    [incident] = http("analyst").get("/v1/hotspots").json()
    assert sorted(incident["order_ids"]) == sorted(lights)
    screenshot(page, "analyst")


def test_markup_in_a_transcript_renders_as_text(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client]
) -> None:
    order = create(http("operator"), INJECTION)
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, "dispatcher")
    open_order(page, order["id"])
    expect(page.locator("#d-text")).to_contain_text("<script>alert(1)</script><img src=x onerror=alert(2)>")
    assert page.locator("#d-text img, #d-text script, #q-list img, #q-list script").count() == 0
    # and in the operator's form, typed live
    page = new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, "operator")
    page.locator("#op-text").fill(INJECTION)
    expect(page.locator("#op-status")).to_contain_text("已自动填写")
    assert page.locator("main img, main script").count() == 0
    assert dialogs == []


def test_scope_warning_and_knowledge_answers(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None]
) -> None:
    page = new_page()
    sign_in(page, "operator")
    page.locator("#op-text").fill(FIRE)
    expect(page.locator("#op-emergency")).to_contain_text("119")  # the emergency banner (test_emergency.py) instead
    expect(page.locator("#op-scope")).to_be_hidden()
    expect(page.locator("#op-scope-select")).to_have_value("emergency")
    expect(page.locator("#op-answers")).to_be_hidden()  # the suggestion carries no answers yet
    page.locator("#op-text").fill(FIGHT)
    expect(page.locator("#op-scope")).to_contain_text("人民调解委员会")
    expect(page.locator("#op-emergency")).to_be_hidden()

    # once the suggestion carries knowledge-base answers, they are listed (as text)
    def with_answers(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        body["answers"] = [
            {
                "id": "kb-1",
                "question": "公积金怎么提取？",
                "answer": "<b>携带身份证</b>到公积金中心办理。",
                "unit": "市住房公积金管理中心",
                "score": 0.75,
            }
        ]
        route.fulfill(response=response, body=json.dumps(body, ensure_ascii=False))

    page.route("**/v1/suggestions", with_answers)
    page.locator("#op-text").fill("我想问一下住房公积金怎么提取")
    expect(page.locator("#op-answers")).to_be_visible()
    expect(page.locator("#op-answer-list")).to_contain_text("<b>携带身份证</b>")
    expect(page.locator("#op-scope")).to_be_hidden()


def test_conflict_is_shown_with_a_reload(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client]
) -> None:
    order = create(http("operator"), LIGHTS)
    page = new_page()
    sign_in(page, "dispatcher")
    open_order(page, order["id"])
    decide(http("admin"), order["id"], "dispatch")  # someone else got there first
    page.keyboard.press("a")
    expect(page.locator("#d-conflict")).to_be_visible()
    expect(page.locator("#d-conflict")).to_contain_text("已被他人处理")
    page.click("#d-conflict-reload")
    expect(page.locator("#d-conflict")).to_be_hidden()
    expect(page.locator(f'#q-list [data-id="{order["id"]}"]')).to_have_count(0)


def test_the_dispatcher_confirms_the_auto_ready_orders_shown_in_one_action(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client], console_app: FastAPI
) -> None:
    operator_api = http("operator")
    ready = [create(operator_api, STALLS), create(operator_api, "我想问一下住房公积金怎么提取，需要带什么材料")]
    review = create(operator_api, UNPLACED)
    assert all(o["auto_ready"] for o in ready) and not review["auto_ready"]
    page = new_page()
    sign_in(page, "dispatcher")
    for order in ready:
        expect(page.locator(f'#q-list [data-id="{order["id"]}"] .badge.ready')).to_have_text("可直接派单")
    page.check("#q-auto")
    expect(page.locator(f'#q-list [data-id="{review["id"]}"]')).to_have_count(0)  # only what may go as suggested
    shown = page.locator("#q-list .q-item").count()
    expect(page.locator("#q-confirm")).to_contain_text(f"确认派单（{shown}）")
    page.click("#q-confirm")
    expect(page.locator("#toast")).to_contain_text(f"已确认派单 {shown} 单")
    expect(page.locator("#q-list .q-item")).to_have_count(0)
    for order in ready:
        kept = stored(console_app, order["id"])
        assert kept.status == "dispatched" and kept.unit == order["suggestion"]["units"][0]["name"] and not kept.auto_dispatched
    assert stored(console_app, review["id"]).status == "pending"


def test_sign_in_keeps_the_token_in_the_tab_only(
    new_page: Callable[[], Page], tokens: dict[str, str], sign_in: Callable[[Page, str], None]
) -> None:
    page = new_page()
    page.goto("/")
    page.fill("#token", "tri_not-a-token")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("令牌无效")
    sign_in(page, "admin")
    assert page.evaluate("sessionStorage.getItem('triage.token')") == tokens["admin"]
    assert page.evaluate("localStorage.length") == 0
    expect(page.locator("#views button:visible")).to_have_count(3)  # admin switches views
    page.click("#views [data-view=analyst]")
    expect(page.locator("#view-analyst")).to_be_visible()
    page.reload()
    expect(page.locator("#view-analyst")).to_be_visible()  # still signed in within the tab
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('triage.token')") is None


def test_console_page_is_self_contained(server: str) -> None:
    """Government intranets have no internet: the page may load nothing from another origin."""
    page = httpx.get(f"{server}/console")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    for asset in re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", page.text):
        assert httpx.get(f"{server}{asset}").status_code == 200
    for module in ("main", "api", "dom", "labels", "operator", "dispatcher", "analyst"):
        script = httpx.get(f"{server}/static/js/{module}.js")
        assert script.status_code == 200, module
        assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text, module
    assert httpx.get(f"{server}/", follow_redirects=False).headers["location"] == "/console"


FORM_FIELDS = ("#op-category", "#op-topic", "#op-district", "#op-scope-select", "#op-deadline")


def test_an_empty_operator_form_suggests_nothing(new_page: Callable[[], Page], sign_in: Callable[[Page, str], None]) -> None:
    """Before the operator types, no field may read as a suggestion (the first options 咨询 / 城乡建设 /
    紧急（24小时） did); after a call is cleared, none may keep the last call's values."""
    page = new_page()
    sign_in(page, "operator")

    def assert_blank() -> None:
        for field in FORM_FIELDS:
            expect(page.locator(field)).to_have_value("")
            shown = page.locator(field).evaluate("s => s.selectedOptions[0].textContent")
            assert shown == "— 待识别 —", (field, shown)
        expect(page.locator("#op-form .suggested").filter(has_text=re.compile(r"\S"))).to_have_count(0)
        expect(page.locator("#op-units li")).to_have_count(0)
        expect(page.locator("#op-due")).to_have_text("—")

    assert_blank()
    page.locator("#op-text").fill(STALLS)
    expect(page.locator("#op-status")).to_contain_text("已自动填写")
    expect(page.locator("#op-category")).to_have_value(re.compile(".+"))
    expect(page.locator("#op-form .suggested").first).to_contain_text("建议：")
    page.locator("#op-text").fill("")
    expect(page.locator("#op-category")).to_have_value("")
    assert_blank()
    page.locator("#op-text").fill(LIGHTS)
    expect(page.locator("#op-district")).to_have_value("岳麓区")
    page.click("#op-reset")
    assert_blank()


def test_the_dispatcher_sees_what_the_operator_confirmed(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client]
) -> None:
    """The operator's corrections are what the dispatcher reads (and starts a correction from); the model's
    values stay visible beside them, struck through."""
    operator_api = http("operator")
    model = operator_api.post("/v1/suggestions", json={"text": STALLS}).json()
    category = "建议" if model["category"]["label"] != "建议" else "咨询"
    topic = "交通运输" if model["topic"]["label"] != "交通运输" else "城乡建设"
    district = "芙蓉区" if model["district"] != "芙蓉区" else "雨花区"
    response = operator_api.post("/v1/orders", json={"text": STALLS, "category": category, "topic": topic, "district": district})
    assert response.status_code == 201, response.text
    order = response.json()
    assert (order["working"]["category"], order["working"]["topic"], order["working"]["district"]) == (category, topic, district)

    plain = create(operator_api, LIGHTS)

    page = new_page()
    sign_in(page, "dispatcher")
    # an order the operator did not correct shows the model's values, with nothing struck through
    open_order(page, plain["id"])
    expect(page.locator('#d-labels dd[data-field="category"] strong')).to_have_text(plain["suggestion"]["category"]["label"])
    expect(page.locator("#d-labels del")).to_have_count(0)
    page.fill("#q-search", "")
    page.locator(f'#q-list [data-id="{order["id"]}"]').click()
    expect(page.locator("#d-title")).to_contain_text(f'#{order["id"]}')
    for field, confirmed, suggested in (
        ("category", category, model["category"]["label"]),
        ("topic", topic, model["topic"]["label"]),
        ("district", district, model["district"] or "未识别"),
    ):
        row = page.locator(f'#d-labels dd[data-field="{field}"]')
        expect(row.locator("strong")).to_have_text(confirmed)
        expect(row.locator("del.model-value")).to_contain_text(suggested)
        expect(row.locator("strong")).to_have_attribute("title", re.compile(f"模型建议：{suggested}"))
    expect(page.locator(f'#q-list [data-id="{order["id"]}"] .q-route')).to_contain_text(category)
    page.keyboard.press("c")
    expect(page.locator("#d-category")).to_have_value(category)
    expect(page.locator("#d-topic")).to_have_value(topic)
    expect(page.locator("#d-district")).to_have_value(district)


def test_the_analyst_sees_answers_past_their_review_date_flagged(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client]
) -> None:
    stale = {
        "question": "城市书房夜间开放到几点？",
        "answer": "本市城市书房一般开放到晚上22点，部分24小时书房凭身份证或读者证刷卡入内。",
        "unit": "市文旅广电局",
        "topic": "教育文体",
        "basis": "《长沙市公共图书馆服务规范》",
        "reviewed": "2020-01-01",
        "valid_until": "2021-01-01",
    }
    response = http("analyst").post("/v1/knowledge", json=stale)
    assert response.status_code == 200, response.text
    entry = response.json()
    assert entry["overdue"] is True
    page = new_page()
    sign_in(page, "analyst")
    row = page.locator(f'#a-knowledge tr[data-id="{entry["id"]}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text(stale["question"])
    expect(row).to_contain_text(stale["basis"])
    expect(row.locator(".badge.overdue")).to_contain_text("逾期")


def test_the_analyst_filters_by_dates_written_as_beijing_days(new_page: Callable[[], Page], sign_in: Callable[[Page, str], None]) -> None:
    page = new_page()
    sign_in(page, "analyst")
    expect(page.locator("#a-status")).to_contain_text("北京时间")
    page.fill("#a-since", "12/01/2026")  # the browser's own date format is never asked for
    page.click("#a-reload")
    expect(page.locator("#a-status")).to_contain_text("请写成 年-月-日")
    page.fill("#a-since", "2026-12-01")
    page.click("#a-reload")
    expect(page.locator("#a-status")).to_contain_text("更新于")
