"""Emergencies in the console: the operator cannot miss the number to give the caller, records the call as
refused by default, needs a note to create it as an ordinary order; the dispatcher sees every emergency at the
top of the queue under 紧急优先, marked 应急.

A module of its own, so its service starts empty and the queue holds exactly these orders.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.models import Order

FIRE = "喂，我家楼下着火了，好大的烟，快来人"
LATER = [
    "岳麓区麓山南路那一段路灯坏了一个多星期了，晚上黑漆漆的很危险",
    "我想问一下住房公积金怎么提取，需要带什么材料",
    "雨花区圭塘河边上有人往河里倒垃圾，臭得不得了，麻烦管一下",
]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def stored(app: FastAPI, order_id: int) -> Order:
    with app.state.sessions() as session:
        order = session.scalar(select(Order).where(Order.id == order_id))
        assert order is not None
        session.expunge(order)
        return order


def created_id(page: Page) -> int:
    return int(re.search(r"#(\d+)", page.locator("#op-result").inner_text()).group(1))


def test_an_emergency_cannot_be_missed_and_is_recorded_as_refused(
    new_page: Callable[[], Page],
    sign_in: Callable[[Page, str], None],
    screenshot: Callable[[Page, str], Path],
    http: Callable[[str], httpx.Client],
    console_app: FastAPI,
) -> None:
    page = new_page()
    sign_in(page, "operator")
    page.locator("#op-text").press_sequentially(FIRE[:6])  # nothing alarming yet
    page.locator("#op-text").fill(FIRE)
    banner = page.locator("#op-emergency")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text("请立即让来电人拨打 119")
    expect(banner.locator(".em-number")).to_have_text("119")
    expect(banner.locator(".em-read q")).to_contain_text("拨打119")  # the words to read
    size = float(banner.locator(".em-number").evaluate("n => parseFloat(getComputedStyle(n).fontSize)"))
    assert size >= 32, f"the number is in large type, not {size}px"
    colour = banner.evaluate("n => getComputedStyle(n).borderTopColor")
    assert colour == "rgb(200, 50, 45)", colour  # red
    top = banner.bounding_box()
    assert top and top["y"] < page.locator("#op-category").bounding_box()["y"]  # at the top of the form
    expect(page.locator("#op-scope")).to_be_hidden()  # one warning, not two
    expect(page.locator("#op-create")).to_contain_text("记录为不予受理（已引导拨打 119）")
    expect(page.locator("#op-deadline")).to_have_value("emergency")
    expect(page.locator("#op-deadline")).to_be_disabled()
    screenshot(page, "operator-emergency")

    # the create button records it as refused, the number with it
    page.keyboard.press("Control+Enter")
    expect(page.locator("#op-result")).to_contain_text("不予受理（紧急警情），已引导来电人拨打 119")
    refused = stored(console_app, created_id(page))
    assert (refused.status, refused.scope, refused.deadline_class) == ("refused", "emergency", "emergency")
    event = http("operator").get(f"/v1/orders/{refused.id}").json()["events"][-1]
    assert event["kind"] == "refused" and event["detail"]["redirect"] == "119" and event["actor"] == "operator-console"

    # the banner goes with the call
    page.click("#op-reset")
    expect(banner).to_be_hidden()
    expect(page.locator("#op-create")).to_contain_text("创建工单")


def test_an_ordinary_order_over_an_emergency_needs_a_note_and_comes_first_for_the_dispatcher(
    new_page: Callable[[], Page],
    sign_in: Callable[[Page, str], None],
    screenshot: Callable[[Page, str], Path],
    http: Callable[[str], httpx.Client],
    console_app: FastAPI,
) -> None:
    operator_api = http("operator")
    before = operator_api.get("/v1/orders").json()["total"]
    page = new_page()
    sign_in(page, "operator")
    page.locator("#op-text").fill(FIRE)
    expect(page.locator("#op-emergency .em-number")).to_have_text("119")
    page.click("#op-override-open")
    expect(page.locator("#op-scope-select")).to_have_value("accepted")
    expect(page.locator("#op-override-note")).to_be_focused()
    expect(page.locator("#op-emergency")).to_be_visible()  # the number stays in sight
    expect(page.locator("#op-create")).to_contain_text("仍按普通工单创建")
    page.click("#op-create")
    expect(page.locator("#op-override-error")).to_contain_text("必须填写理由")
    assert operator_api.get("/v1/orders").json()["total"] == before  # nothing was created
    page.fill("#op-override-note", "来电人说明火已扑灭，反映楼道堆放杂物的消防隐患")
    page.click("#op-create")
    expect(page.locator("#op-result")).to_contain_text("已创建工单")
    expect(page.locator("#op-result")).to_contain_text("已记录推翻应急判断的理由")
    fire = created_id(page)
    order = operator_api.get(f"/v1/orders/{fire}").json()
    assert order["status"] == "pending" and order["deadline"]["class"] == "emergency"
    override = [e for e in order["events"] if e["kind"] == "scope_overridden"]
    assert len(override) == 1 and override[0]["actor"] == "operator-console"
    assert override[0]["detail"]["redirect"] == "119" and override[0]["detail"]["note"].startswith("来电人说明火已扑灭")

    # newer, ordinary orders after it: under 紧急优先 the emergency is still first, marked 应急
    later = [operator_api.post("/v1/orders", json={"text": text}).json()["id"] for text in LATER]
    page = new_page()
    sign_in(page, "dispatcher")
    expect(page.locator("#q-sort")).to_have_value("urgent")
    items = page.locator("#q-list .q-item")
    expect(items).to_have_count(1 + len(LATER))
    expect(items.first).to_have_attribute("data-id", str(fire))
    expect(items.first.locator(".badge.emergency")).to_have_text("应急")
    colour = items.first.locator(".badge.emergency").evaluate("n => getComputedStyle(n).backgroundColor")
    assert colour == "rgb(200, 50, 45)", colour
    expect(page.locator("#d-title")).to_contain_text(f"#{fire}")
    expect(page.locator("#d-events")).to_contain_text("仍按普通工单受理")
    expect(page.locator("#d-scope")).to_contain_text("operator-console 已推翻应急判断")
    expect(page.locator("#d-scope")).to_contain_text("来电人说明火已扑灭")
    expect(page.locator("#d-accept")).not_to_contain_text("不予受理")  # accepting follows the operator's override
    expect(items.first.locator(".q-route")).not_to_contain_text("不予受理")
    screenshot(page, "dispatcher-emergency")
    page.select_option("#q-sort", "newest")
    expect(items.first).to_have_attribute("data-id", str(later[-1]))
    page.select_option("#q-sort", "urgent")
    expect(items.first).to_have_attribute("data-id", str(fire))
    assert stored(console_app, fire).status == "pending"


def test_the_dispatcher_needs_a_note_to_accept_a_pending_emergency(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client], console_app: FastAPI
) -> None:
    order = http("operator").post("/v1/orders", json={"text": FIRE}).json()  # left to the dispatcher
    page = new_page()
    sign_in(page, "dispatcher")
    page.locator(f'#q-list [data-id="{order["id"]}"]').click()
    expect(page.locator("#d-scope .em-number")).to_have_text("119")
    page.keyboard.press("c")
    expect(page.locator("#d-override")).to_be_visible()
    page.locator("#d-unit-search").fill("市消防支队")
    page.locator('#d-unit-list [data-name="市消防支队"]').click()
    page.click("#d-correct-submit")
    expect(page.locator("#toast")).to_contain_text("须填写理由")
    assert stored(console_app, order["id"]).status == "pending"
    page.fill("#d-override-note", "核实为消防隐患，非火警")
    page.click("#d-correct-submit")
    expect(page.locator(f'#q-list [data-id="{order["id"]}"]')).to_have_count(0)
    kept = stored(console_app, order["id"])
    assert (kept.status, kept.unit) == ("dispatched", "市消防支队")
    events = http("dispatcher").get(f"/v1/orders/{order['id']}").json()["events"]
    assert [e["kind"] for e in events][-2:] == ["scope_overridden", "dispatched"]
    assert events[-2]["detail"]["note"] == "核实为消防隐患，非火警"
