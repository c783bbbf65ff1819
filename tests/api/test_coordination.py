"""Coordination orders (协调工单): a difficult order sent to a lead unit (牵头) and assisting units (配合), each
replying or bouncing on its own, over HTTP on a real server (SQLite, and PostgreSQL where one is reachable)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient

from tests.api.conftest import CALLS

LEAD, ASSIST = "开福区", ["市城管局", "市交警支队"]


def _difficult(http: httpx.Client, create, headers: dict[str, str]) -> dict:
    """An order bounced twice: it waits in the difficult queue (疑难工单)."""
    order = create(CALLS["stalls"])
    for unit in ("市市场监管局", "市环保局"):
        version = http.get(f"/v1/orders/{order['id']}", headers=headers).json()["version"]
        assert http.post(f"/v1/orders/{order['id']}/dispatch", json={"version": version, "unit": unit}, headers=headers).status_code == 200
        assert http.post(f"/v1/orders/{order['id']}/bounce", json={"reason": "不属于本单位职责"}, headers=headers).status_code == 200
    order = http.get(f"/v1/orders/{order['id']}", headers=headers).json()
    assert order["status"] == "difficult"
    return order


def test_the_whole_coordination_lifecycle_over_http(live_server: str, tokens, create) -> None:
    headers = tokens["dispatcher"]
    with httpx.Client(base_url=live_server, timeout=60) as http:
        order = _difficult(http, create, headers)
        oid = order["id"]
        body = {"version": order["version"], "unit": LEAD, "assist_units": [*ASSIST, "市住建委"], "note": "协调会：开福区牵头"}
        coordinated = http.post(f"/v1/orders/{oid}/coordinate", json=body, headers=headers).json()
        assert coordinated["status"] == "dispatched" and coordinated["decision"]["unit"] == LEAD
        assert coordinated["assist_units"] == [*ASSIST, "市住建委"]
        assert [(a["unit"], a["role"], a["state"]) for a in coordinated["assignments"]] == [
            (LEAD, "lead", "sent"), *((u, "assist", "sent") for u in [*ASSIST, "市住建委"])
        ]
        assert [e["kind"] for e in coordinated["events"]][-2:] == ["dispatched", "coordinated"]

        # an assisting unit bounces: it leaves the order, which stays with the lead
        bounced = http.post(f"/v1/orders/{oid}/bounce", json={"unit": "市住建委", "reason": "非本单位职责"}, headers=headers).json()
        assert bounced["status"] == "dispatched" and bounced["bounce_count"] == 2 and bounced["decision"]["unit"] == LEAD
        assert bounced["assist_units"] == ASSIST and bounced["version"] == coordinated["version"] + 1
        assert bounced["events"][-1]["kind"] == "assist_bounced" and bounced["events"][-1]["detail"]["unit"] == "市住建委"

        # the lead and an assisting unit reply at the same moment: both replies kept
        start = threading.Barrier(2)

        def reply(unit: str) -> httpx.Response:
            with httpx.Client(base_url=live_server, timeout=60) as own:
                start.wait()
                return own.post(f"/v1/orders/{oid}/reply", json={"unit": unit, "text": f"{unit}已处理"}, headers=headers)

        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(reply, [LEAD, ASSIST[0]]))
        assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
        final = http.get(f"/v1/orders/{oid}", headers=headers).json()
        assert final["status"] == "replied" and final["reply"] == f"{LEAD}已处理"
        states = {a["unit"]: (a["state"], a["reply"]) for a in final["assignments"]}
        assert states == {
            LEAD: ("replied", f"{LEAD}已处理"),
            ASSIST[0]: ("replied", f"{ASSIST[0]}已处理"),
            ASSIST[1]: ("sent", None),
            "市住建委": ("bounced", None),
        }
        assert sorted(e["kind"] for e in final["events"][-2:]) == ["assist_replied", "replied"]
        # the other assisting unit replies after the lead: listed too, the order stays replied
        late = http.post(f"/v1/orders/{oid}/reply", json={"unit": ASSIST[1], "text": "已配合处理"}, headers=headers).json()
        assert late["status"] == "replied" and [a["state"] for a in late["assignments"]] == ["replied", "replied", "replied", "bounced"]

        # the export: the lead is the label, the assisting units still on it acceptable after it
        exported = [json.loads(line) for line in http.get("/v1/exports/labelled-orders", headers=tokens["analyst"]).text.splitlines()]
        row = next(r for r in exported if r["id"] == f"order-{oid}")
        assert row["unit"] == LEAD and row["units_ok"] == [LEAD, *ASSIST]

        stats = http.get("/v1/stats", headers=tokens["analyst"]).json()
        roles = {r["unit"]: r for r in stats["units_by_role"]}
        assert stats["coordinated"] == 1
        assert (roles[LEAD]["lead"], roles[LEAD]["coordinated_lead"], roles[LEAD]["assist"]) == (1, 1, 0)
        assert (roles[ASSIST[1]]["lead"], roles[ASSIST[1]]["assist"]) == (0, 1)
        assert "市住建委" not in roles or roles["市住建委"]["assist"] == 0


def test_bad_coordinations_are_refused_naming_the_unit(client: TestClient, tokens, create) -> None:
    headers = tokens["dispatcher"]
    order = create(CALLS["stalls"])

    def coordinate(**body: object) -> httpx.Response:
        return client.post(f"/v1/orders/{order['id']}/coordinate", json={"version": order["version"], "unit": LEAD, **body}, headers=headers)

    same = coordinate(assist_units=["市城管局", "开福区"])
    assert same.status_code == 422 and "开福区" in same.json()["detail"] and "lead" in same.json()["detail"]
    unknown = coordinate(assist_units=["市城管局", "市魔法局"])
    assert unknown.status_code == 422 and "市魔法局" in unknown.json()["detail"]
    twice = coordinate(assist_units=["市城管局", "市城管局"])
    assert twice.status_code == 422 and "市城管局" in twice.json()["detail"]
    five = coordinate(assist_units=["市城管局", "市交警支队", "市住建委", "市环保局", "市公安局"])
    assert five.status_code == 422 and "assist_units" in five.text
    assert coordinate(assist_units=[]).status_code == 422
    bad_lead = client.post(f"/v1/orders/{order['id']}/coordinate", json={"version": order["version"], "unit": "市魔法局", "assist_units": ["市城管局"]}, headers=headers)
    assert bad_lead.status_code == 422 and "市魔法局" in bad_lead.json()["detail"]
    after = client.get(f"/v1/orders/{order['id']}", headers=headers).json()
    assert after["status"] == "pending" and after["version"] == order["version"] and after["assignments"] == []
    stale = client.post(f"/v1/orders/{order['id']}/coordinate", json={"version": 99, "unit": LEAD, "assist_units": ["市城管局"]}, headers=headers)
    assert stale.status_code == 409
    by_alias = coordinate(assist_units=["城管局"])
    assert by_alias.status_code == 200 and by_alias.json()["assist_units"] == ["市城管局"]


def test_a_reply_or_bounce_from_a_unit_not_on_the_order_is_a_conflict(client: TestClient, tokens, create) -> None:
    headers = tokens["dispatcher"]
    order = create(CALLS["stalls"])
    body = {"version": order["version"], "unit": LEAD, "assist_units": ["市城管局"]}
    assert client.post(f"/v1/orders/{order['id']}/coordinate", json=body, headers=headers).status_code == 200
    stranger = client.post(f"/v1/orders/{order['id']}/reply", json={"unit": "市住建委", "text": "已处理"}, headers=headers)
    assert stranger.status_code == 409 and "市住建委" in stranger.json()["detail"]
    assert client.post(f"/v1/orders/{order['id']}/bounce", json={"unit": "市住建委", "reason": "不是我们"}, headers=headers).status_code == 409
    assert client.post(f"/v1/orders/{order['id']}/reply", json={"unit": "市城管局", "text": "已配合"}, headers=headers).status_code == 200
    again = client.post(f"/v1/orders/{order['id']}/reply", json={"unit": "市城管局", "text": "再次答复"}, headers=headers)
    assert again.status_code == 409
    late_bounce = client.post(f"/v1/orders/{order['id']}/bounce", json={"unit": "市城管局", "reason": "不是我们"}, headers=headers)
    assert late_bounce.status_code == 409
    # an order sent to one unit: a reply in another unit's name is refused too
    single = create(CALLS["lights"])
    client.post(f"/v1/orders/{single['id']}/dispatch", json={"version": single["version"], "unit": "岳麓区"}, headers=headers)
    assert client.post(f"/v1/orders/{single['id']}/reply", json={"unit": "市城管局", "text": "x"}, headers=headers).status_code == 409
    assert client.post(f"/v1/orders/{single['id']}/reply", json={"unit": "岳麓区", "text": "已修复"}, headers=headers).status_code == 200


def test_the_lead_bouncing_ends_the_coordination(client: TestClient, tokens, create) -> None:
    headers = tokens["dispatcher"]
    order = create(CALLS["stalls"])
    body = {"version": order["version"], "unit": LEAD, "assist_units": ASSIST}
    client.post(f"/v1/orders/{order['id']}/coordinate", json=body, headers=headers)
    bounced = client.post(f"/v1/orders/{order['id']}/bounce", json={"unit": LEAD, "reason": "需重新协调"}, headers=headers).json()
    assert bounced["status"] == "pending" and bounced["assist_units"] == []
    assert {a["state"] for a in bounced["assignments"]} == {"withdrawn"}
    assert bounced["events"][-1]["detail"]["withdrawn"] == ASSIST


def test_concurrent_replies_of_the_lead_and_assisting_units_lose_nothing(live_server: str, tokens, create) -> None:
    """Five coordination orders, each replied by its lead and two assisting units at the same moment."""
    headers = tokens["dispatcher"]
    with httpx.Client(base_url=live_server, timeout=60) as http:
        ids = []
        for _ in range(5):
            order = create(CALLS["stalls"])
            body = {"version": order["version"], "unit": LEAD, "assist_units": ASSIST}
            assert http.post(f"/v1/orders/{order['id']}/coordinate", json=body, headers=headers).status_code == 200
            ids.append(order["id"])
    units = [LEAD, *ASSIST]
    start = threading.Barrier(len(ids) * len(units))

    def reply(job: tuple[int, str]) -> int:
        oid, unit = job
        with httpx.Client(base_url=live_server, timeout=60) as own:
            start.wait()
            return own.post(f"/v1/orders/{oid}/reply", json={"unit": unit, "text": f"{unit}答复{oid}"}, headers=headers).status_code

    with ThreadPoolExecutor(len(ids) * len(units)) as pool:
        statuses = list(pool.map(reply, [(oid, unit) for oid in ids for unit in units]))
    assert statuses == [200] * len(statuses)
    with httpx.Client(base_url=live_server, timeout=60) as http:
        for oid in ids:
            final = http.get(f"/v1/orders/{oid}", headers=headers).json()
            assert final["status"] == "replied" and final["version"] == 2 + len(units)
            assert {a["unit"]: a["reply"] for a in final["assignments"]} == {u: f"{u}答复{oid}" for u in units}
            assert sorted(e["kind"] for e in final["events"] if "replied" in e["kind"]) == ["assist_replied", "assist_replied", "replied"]
