"""Coordination orders per unit in the analyst's view: the units leading (牵头) and assisting (配合), counted apart.

A module of its own, so its service starts empty: first no coordination order (an order sent to one unit alone is
not one), then one with a lead and an assisting unit.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import create

STALLS = "喂你好，开福区伍家岭那边有个小区门口天天占道经营，路都堵死了，我电话13873112345"
WATER = "我们小区停水两天了，开福区四方坪，一直没有通知什么时候来水"
LEAD, ASSIST, ALONE = "开福区", "市城管局", "市水务局"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_the_analyst_sees_lead_and_assist_orders_per_unit(
    new_page: Callable[[], Page], sign_in: Callable[[Page, str], None], http: Callable[[str], httpx.Client]
) -> None:
    operator_api, dispatcher_api = http("operator"), http("dispatcher")
    alone = create(operator_api, WATER)
    response = dispatcher_api.post(
        f"/v1/orders/{alone['id']}/dispatch", json={"version": alone["version"], "unit": ALONE}
    )
    assert response.status_code == 200, response.text

    # an order sent to one unit alone is no coordination order: the empty text
    page = new_page()
    sign_in(page, "analyst")
    expect(page.locator("#a-status")).to_contain_text("更新于")
    expect(page.locator("#a-roles")).to_have_text("暂无协调工单")

    order = create(operator_api, STALLS)
    body = {"version": order["version"], "unit": LEAD, "assist_units": [ASSIST]}
    response = dispatcher_api.post(f"/v1/orders/{order['id']}/coordinate", json=body)
    assert response.status_code == 200, response.text

    page.click("#a-reload")
    rows = page.locator("#a-roles tbody tr")
    expect(rows).to_have_count(2)
    lead, assist = (page.locator(f'#a-roles tr[data-unit="{unit}"]') for unit in (LEAD, ASSIST))
    expect(lead.locator("th")).to_have_text(LEAD)
    expect(lead.locator(".lead")).to_have_text("1")
    expect(lead.locator(".assist")).to_have_text("0")
    expect(assist.locator("th")).to_have_text(ASSIST)
    expect(assist.locator(".lead")).to_have_text("0")
    expect(assist.locator(".assist")).to_have_text("1")
    expect(page.locator(f'#a-roles tr[data-unit="{ALONE}"]')).to_have_count(0)
    stats = http("analyst").get("/v1/stats").json()
    assert stats["coordinated"] == 1
    roles = {r["unit"]: (r["coordinated_lead"], r["assist"]) for r in stats["units_by_role"]}
    assert (roles[LEAD], roles[ASSIST], roles[ALONE]) == ((1, 0), (0, 1), (0, 0))
