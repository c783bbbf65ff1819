"""The order drafts itself: the summary stored as the operator saved it, the caller's state in the queue under
紧急优先, the county's new name at the boundary, and an operator's routing correction never auto-ready."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.db import make_engine, migrate
from tests.api.conftest import CALLS

ANGRY = "你们到底管不管！我打了三次了，再不处理我就去市政府！岳麓区麓山南路路灯坏了"
ANXIOUS = "岳麓区麓山南路那一段路灯坏了一个多星期了，晚上黑漆漆的很危险，麻烦快点来修一下，急死了"
CALM = "岳麓区麓山南路那一段路灯坏了一个多星期了，麻烦修一下"
HELP = "求求你们救救我们吧，工地天天晚上施工，岳麓区梅溪湖，我孩子都病了"
FIRE = "我家楼下着火了，好大的烟，快来人"


def test_the_suggested_summary_is_stored_with_the_caller_state(create) -> None:
    order = create(ANXIOUS)
    assert order["summary"] == order["suggestion"]["summary"] and order["summary"].startswith("来电人反映：")
    assert order["summary_edited"] is False
    assert order["caller_state"] == order["suggestion"]["caller_state"]
    assert order["caller_state"]["label"] == "焦急"
    assert order["events"][0]["detail"]["summary_edited"] is False


def test_the_operators_edited_summary_is_stored_masked_and_marked(client: TestClient, tokens, create) -> None:
    edited = "来电人反映：麓山南路路灯坏了，回电13873112345；诉求：尽快修复"
    order = create(ANXIOUS, summary=edited)
    assert order["summary_edited"] is True and order["events"][0]["detail"]["summary_edited"] is True
    assert "13873112345" not in order["summary"] and order["summary"].startswith("来电人反映：麓山南路路灯坏了")
    same = create(CALM, summary=create(CALM)["summary"])  # sent back unchanged: not an edit
    assert same["summary_edited"] is False
    assert client.get(f"/v1/orders/{order['id']}", headers=tokens["dispatcher"]).json()["summary"] == order["summary"]


def test_a_summary_over_sixty_characters_is_refused(client: TestClient, tokens) -> None:
    response = client.post("/v1/orders", json={"text": CALM, "summary": "来" * 61}, headers=tokens["operator"])
    assert response.status_code == 422 and "summary" in response.text
    assert client.post("/v1/orders", json={"text": CALM, "summary": "来" * 60}, headers=tokens["operator"]).status_code == 201


def test_urgent_puts_emergencies_first_then_callers_crying_for_help_angry_anxious(client: TestClient, tokens, create) -> None:
    calm_soon = create(CALM, deadline_class="simple")  # the earliest deadline of the ordinary orders
    calm = create(CALM)
    anxious, angry, help_, fire = create(ANXIOUS), create(ANGRY), create(HELP), create(FIRE)
    states = {o["id"]: (o["caller_state"] or {}).get("label") for o in (calm_soon, calm, anxious, angry, help_, fire)}
    assert [states[o["id"]] for o in (anxious, angry, help_)] == ["焦急", "愤怒", "求救"]
    assert fire["deadline"]["class"] == "emergency" and help_["deadline"]["class"] != "emergency"
    assert calm_soon["deadline"]["due_at"] < min(o["deadline"]["due_at"] for o in (anxious, angry, help_))
    queue = client.get("/v1/orders", params={"sort": "urgent", "status": ["pending"]}, headers=tokens["dispatcher"]).json()["items"]
    assert [o["id"] for o in queue] == [fire["id"], help_["id"], angry["id"], anxious["id"], calm_soon["id"], calm["id"]]
    # the state orders the queue only: each order's routing is the suggestion's (with no operator correction)
    for order in queue:
        s = order["suggestion"]
        assert order["working"]["category"] == s["category"]["label"] and order["working"]["district"] == s["district"]
        assert order["working"]["scope"] == ("accepted" if s["scope"]["accepted"] else s["scope"]["reason"])


def test_ningxiang_county_is_accepted_by_its_former_name_and_stored_by_its_new_one(client: TestClient, tokens, create) -> None:
    order = create(CALLS["lights"], district="宁乡县")
    assert order["working"]["district"] == "宁乡市"
    headers = tokens["dispatcher"]
    assert client.get("/v1/orders", params={"district": "宁乡县"}, headers=headers).json()["total"] == 1
    assert client.get("/v1/orders", params={"district": "宁乡市"}, headers=headers).json()["total"] == 1
    body = {"version": order["version"], "district": "宁乡县", "unit": "宁乡县"}
    dispatched = client.post(f"/v1/orders/{order['id']}/dispatch", json=body, headers=headers).json()
    assert dispatched["decision"]["district"] == "宁乡市" and dispatched["decision"]["unit"] == "宁乡市"
    refused = client.post("/v1/orders", json={"text": CALLS["lights"], "district": "宁乡镇"}, headers=tokens["operator"])
    assert refused.status_code == 422 and "宁乡市" in refused.text
    schema = client.get("/openapi.json").json()["components"]["schemas"]["OrderCreate"]["properties"]["district"]
    assert "宁乡市" in schema["anyOf"][0]["enum"] and "宁乡县" not in schema["anyOf"][0]["enum"]


def test_an_order_whose_district_the_operator_corrected_is_not_auto_ready(client: TestClient, tokens, create) -> None:
    plain = create(CALLS["stalls"])
    assert plain["auto_ready"], "the call the test relies on is auto-ready as suggested"
    other = "岳麓区" if plain["suggestion"]["district"] != "岳麓区" else "芙蓉区"
    corrected = create(CALLS["stalls"], district=other)
    assert corrected["working"]["district"] == other and corrected["auto_ready"] is False
    headers = tokens["dispatcher"]
    listed = client.get("/v1/orders", params={"auto_ready": "true"}, headers=headers).json()["items"]
    assert [o["id"] for o in listed] == [plain["id"]]
    body = {"orders": [{"id": o["id"], "version": o["version"]} for o in (plain, corrected)]}
    result = client.post("/v1/orders/confirm", json=body, headers=headers).json()
    assert (result["confirmed"], result["failed"]) == (1, 1)
    refused = next(r for r in result["results"] if r["id"] == corrected["id"])
    assert refused["status"] == 409 and "review" in refused["detail"]
    assert client.get(f"/v1/orders/{corrected['id']}", headers=headers).json()["status"] == "pending"


def test_migration_0004_takes_auto_ready_from_orders_the_operator_rerouted(database_url: str) -> None:
    """Orders created before the fix with the operator's district correction were auto-ready: no longer."""
    engine = make_engine(database_url)
    migrate(engine, "0003")
    meta = sa.MetaData()
    meta.reflect(engine, only=["users", "orders", "order_events"])
    users, orders, events = meta.tables["users"], meta.tables["orders"], meta.tables["order_events"]
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        user = connection.execute(sa.insert(users).values(name="op", role="operator", token_hash="x" * 64, active=True, created_at=now)).inserted_primary_key[0]
        for i, corrected in enumerate((["district"], ["category"])):
            order = connection.execute(
                sa.insert(orders).values(
                    version=1, created_at=now, created_by_id=user, request_hash=str(i), channel="phone", text="t", suggestion={},
                    model_version="m", needs_review=False, suggested_category="投诉", suggested_topic="城乡建设", suggested_unit="开福区",
                    suggested_district="开福区", suggested_scope="accepted", deadline_class="standard", due_at=now, status="pending",
                    bounce_count=0, auto_dispatched=False,
                )
            ).inserted_primary_key[0]
            connection.execute(sa.insert(events).values(order_id=order, at=now, kind="created", detail={"operator_corrected": corrected}))
    migrate(engine)
    with engine.connect() as connection:
        flags = connection.execute(sa.select(orders.c.request_hash, orders.c.needs_review).order_by(orders.c.id)).all()
    engine.dispose()
    assert [tuple(f) for f in flags] == [("0", True), ("1", False)]
