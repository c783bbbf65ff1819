"""Hot spots in the console: several callers about one problem are one incident for the analyst, and the
dispatcher sees the incident's other orders, where it went before, and can split an order off.

A module of its own, so its service starts empty and the incident holds exactly these orders.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.console.conftest import create

LIGHTS = [
    "岳麓区麓山南路那一段路灯坏了一个多星期了，晚上黑漆漆的很危险",
    "麓山南路的路灯晚上都不亮，岳麓区这边走夜路很危险，麻烦修一下",
    "我反映一下岳麓区麓山南路路灯不亮的问题，好几天了",
]
OTHER = "我想问一下住房公积金怎么提取，需要带什么材料"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_hot_spot_for_the_analyst_and_split_by_the_dispatcher(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client]
) -> None:
    operator_api, dispatcher_api = http("operator"), http("dispatcher")
    first = create(operator_api, LIGHTS[0])
    response = dispatcher_api.post(
        f"/v1/orders/{first['id']}/dispatch", json={"version": first["version"], "unit": "市城管局"}
    )
    assert response.status_code == 200, response.text
    second, third = (create(operator_api, text) for text in LIGHTS[1:])
    alone = create(operator_api, OTHER)
    incident = first["incident_id"]
    assert incident and second["incident_id"] == third["incident_id"] == incident

    # the analyst: one hot spot of three orders, with its growth and a bar per day
    page = new_page()
    sign_in(page, "analyst")
    row = page.locator("#a-hotspots tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-incident", incident)
    expect(row.locator(".count")).to_have_text("3")
    expect(row).to_contain_text("麓山南路")
    expect(row).to_contain_text("3 / 0 ↑3")
    expect(row.locator("svg.sparkline rect.today")).to_have_count(1)
    expect(row.locator(".badge.alert")).to_have_count(0)  # three orders are below the alert threshold

    # an alerting incident gets the 预警 badge
    def alerting(route: Route) -> None:
        response = route.fetch()
        body = [{**spot, "alerting": True} for spot in response.json()]
        route.fulfill(response=response, body=json.dumps(body, ensure_ascii=False))

    page.route("**/v1/hotspots?*", alerting)
    page.click("#a-reload")
    expect(row.locator(".badge.alert")).to_have_text("预警")

    # the dispatcher: both pending orders flagged in the queue; the incident's other orders and its unit shown
    page = new_page()
    sign_in(page, "dispatcher")
    for order in (second, third):
        expect(page.locator(f'#q-list [data-id="{order["id"]}"] .badge.incident')).to_have_text("同一事件 3")
    expect(page.locator(f'#q-list [data-id="{alone["id"]}"] .badge.incident')).to_have_count(0)
    page.locator(f'#q-list [data-id="{second["id"]}"]').click()
    box = page.locator("#d-incident")
    expect(box).to_contain_text("同一事件：共 3 单")
    expect(box).to_contain_text("此前已派往 市城管局")
    expect(box.locator(".chip-off")).to_have_text(f"#{first['id']}")  # dispatched: not in the queue any more
    box.locator(f'button[data-id="{third["id"]}"]').click()
    expect(page.locator("#d-title")).to_contain_text(f"#{third['id']}")
    expect(page.locator("#d-events .ev-linked")).to_contain_text("市城管局")

    # the third is a different problem after all: split it off
    page.click("#d-unlink")
    expect(page.locator("#toast")).to_contain_text("已拆分")
    expect(page.locator("#d-title")).to_contain_text(f"#{third['id']}")
    expect(box).to_be_hidden()
    expect(page.locator(f'#q-list [data-id="{second["id"]}"] .badge.incident')).to_have_text("同一事件 2")
    expect(page.locator("#d-events .ev-unlinked")).to_have_count(1)
    after = dispatcher_api.get(f"/v1/orders/{third['id']}").json()
    assert after["incident_id"] != incident
    [spot] = dispatcher_api.get("/v1/hotspots").json()
    assert spot["id"] == incident and sorted(spot["order_ids"]) == sorted([first["id"], second["id"]])
