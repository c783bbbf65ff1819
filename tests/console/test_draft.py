"""The order's draft in the browser: the operator's summary, elements and caller state; the dispatcher's 协调."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

ANXIOUS = "岳麓区麓山南路那一段路灯坏了一个多星期了，晚上黑漆漆的很危险，麻烦快点来修一下，急死了"
STALLS = "喂你好，开福区伍家岭那边有个小区门口天天占道经营，路都堵死了"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_the_operator_sees_the_draft_and_saves_an_edited_summary(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client]
) -> None:
    page = new_page()
    sign_in(page, "operator")
    summary = page.locator("#op-summary")
    expect(summary).to_have_value("")  # nothing before the caller speaks
    expect(page.locator("#op-caller-state")).to_be_hidden()
    expect(page.locator("#op-marked-box")).to_be_hidden()
    districts = page.locator("#op-district option").all_inner_texts()
    assert "宁乡市" in districts and "宁乡县" not in districts
    page.locator("#op-text").fill(ANXIOUS)
    expect(page.locator("#op-status")).to_contain_text("已自动填写")
    suggested = http("operator").post("/v1/suggestions", json={"text": ANXIOUS}).json()
    expect(summary).to_have_value(suggested["summary"])
    expect(page.locator("#op-caller-state")).to_have_text("来电人：焦急")
    expect(page.locator("#op-marked mark.el-address")).to_have_text(suggested["elements"]["address"]["text"])
    expect(page.locator("#op-marked mark.el-ask")).to_have_text(suggested["elements"]["ask"]["text"])
    edited = "来电人反映：麓山南路路灯坏了一周；诉求：尽快修复"
    summary.fill(edited)
    expect(page.locator("#op-summary-note .tag.edited")).to_be_visible()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#op-result")).to_contain_text("已创建工单")
    order_id = int(page.locator("#op-result strong").inner_text().split("#")[1])
    order = http("operator").get(f"/v1/orders/{order_id}").json()
    assert (order["summary"], order["summary_edited"], order["caller_state"]["label"]) == (edited, True, "焦急")
    page.click("#op-reset")
    expect(summary).to_have_value("")
    page.locator("#op-text").fill(STALLS)  # not edited: the next call's summary fills in again
    expect(summary).not_to_have_value("")


def test_the_dispatcher_coordinates_a_difficult_order(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client]
) -> None:
    operator_api, dispatcher_api = http("operator"), http("dispatcher")
    order = operator_api.post("/v1/orders", json={"text": STALLS}).json()
    plain = operator_api.post("/v1/orders", json={"text": ANXIOUS}).json()
    for unit in ("市市场监管局", "市环保局"):
        version = dispatcher_api.get(f"/v1/orders/{order['id']}").json()["version"]
        assert dispatcher_api.post(f"/v1/orders/{order['id']}/dispatch", json={"version": version, "unit": unit}).status_code == 200
        assert dispatcher_api.post(f"/v1/orders/{order['id']}/bounce", json={"reason": "不属于本单位职责"}).status_code == 200
    page = new_page()
    sign_in(page, "dispatcher")
    page.locator(f'#q-list [data-id="{plain["id"]}"]').click()
    expect(page.locator("#d-coordinate")).to_be_hidden()  # only difficult orders are coordinated
    expect(page.locator("#d-summary")).to_contain_text("摘要：")
    expect(page.locator("#d-elements mark.el-address")).to_have_text("地点")
    page.locator(f'#q-list [data-id="{order["id"]}"]').click()
    expect(page.locator("#d-coordinate")).to_be_visible()
    page.click("#d-coordinate")
    page.select_option("#d-coord-lead", "开福区")
    for unit in ("市城管局", "市交警支队"):
        page.fill("#d-coord-search", unit)
        page.locator(f'#d-coord-list [data-name="{unit}"] input').check()
    expect(page.locator("#d-coord-chosen")).to_contain_text("市城管局、市交警支队")
    page.click("#d-coord-submit")
    expect(page.locator("#toast")).to_contain_text("牵头 开福区")
    expect(page.locator(f'#q-list [data-id="{order["id"]}"]')).to_have_count(0)
    stored = dispatcher_api.get(f"/v1/orders/{order['id']}").json()
    assert (stored["status"], stored["decision"]["unit"], stored["assist_units"]) == ("dispatched", "开福区", ["市城管局", "市交警支队"])
    assert stored["events"][-1]["kind"] == "coordinated" and stored["events"][-1]["actor"] == "dispatcher-console"
