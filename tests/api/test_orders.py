"""Operators create orders; dispatchers decide them; units bounce and reply; visits close them."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.models import Order
from tests.api.conftest import CALLS


def test_create_order_stores_the_masked_text_and_returns_the_suggestion(client, tokens, app: FastAPI) -> None:
    response = client.post(
        "/v1/orders",
        json={"text": CALLS["stalls"], "address": "伍家岭街道 电话13873112345", "channel": "phone"},
        headers=tokens["operator"],
    )
    assert response.status_code == 201
    order = response.json()
    assert response.headers["Location"] == f"/v1/orders/{order['id']}"
    assert order["status"] == "pending" and order["version"] == 1
    assert "13873112345" not in response.text
    assert "[电话]" in order["text"] and "[电话]" in order["address"]
    assert order["suggestion"]["units"][0]["name"] == "开福区"
    assert order["suggestion"]["district"] == "开福区"
    assert order["deadline"]["class"] == order["suggestion"]["deadline"]["class"]
    assert order["events"][0]["kind"] == "created" and order["events"][0]["actor"] == "operator-1"
    with app.state.engine.connect() as connection:
        stored = " ".join(str(v) for row in connection.execute(sa.text("SELECT * FROM orders")) for v in row)
    assert "13873112345" not in stored and "伍家岭" in stored


def test_a_retry_with_the_same_idempotency_key_creates_no_second_order(client, tokens) -> None:
    headers = {**tokens["operator"], "Idempotency-Key": "call-2026-0001"}
    first = client.post("/v1/orders", json={"text": CALLS["lights"]}, headers=headers)
    again = client.post("/v1/orders", json={"text": CALLS["lights"]}, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert client.get("/v1/orders", headers=tokens["operator"]).json()["total"] == 1
    reused = client.post("/v1/orders", json={"text": CALLS["fund"]}, headers=headers)
    assert reused.status_code == 422 and "Idempotency-Key" in reused.json()["detail"]


def test_suggestions_are_not_stored(client, tokens) -> None:
    response = client.post("/v1/suggestions", json={"text": CALLS["fund"]}, headers=tokens["operator"])
    assert response.status_code == 200
    assert response.json()["category"]["label"] == "咨询"
    assert "430102199001011234" not in response.text
    assert client.get("/v1/orders", headers=tokens["operator"]).json()["total"] == 0


def test_list_filters_and_pages(client, tokens, create) -> None:
    for _ in range(3):
        create(CALLS["stalls"])
    create(CALLS["fund"])
    create(CALLS["lights"])
    headers = tokens["dispatcher"]
    everything = client.get("/v1/orders", headers=headers).json()
    assert everything["total"] == 5
    ids = [o["id"] for o in everything["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    page = client.get("/v1/orders", params={"limit": 2, "offset": 2}, headers=headers).json()
    assert [o["id"] for o in page["items"]] == ids[2:4] and page["total"] == 5
    assert client.get("/v1/orders", params={"unit": "开福区"}, headers=headers).json()["total"] == 3
    assert client.get("/v1/orders", params={"district": "岳麓区"}, headers=headers).json()["total"] == 1
    assert client.get("/v1/orders", params={"category": "咨询"}, headers=headers).json()["total"] == 1
    assert client.get("/v1/orders", params={"status": "dispatched"}, headers=headers).json()["total"] == 0
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert client.get("/v1/orders", params={"created_from": future}, headers=headers).json()["total"] == 0
    review = client.get("/v1/orders", params={"needs_review": "true"}, headers=headers).json()
    assert all(o["suggestion"]["needs_review"] for o in review["items"])
    due = client.get("/v1/orders", params={"sort": "due"}, headers=headers).json()["items"]
    assert [o["deadline"]["due_at"] for o in due] == sorted(o["deadline"]["due_at"] for o in due)
    assert client.get("/v1/orders", params={"limit": 500}, headers=headers).status_code == 422
    assert client.get("/v1/orders", params={"status": "lost"}, headers=headers).status_code == 422


def test_unknown_order_is_404(client, tokens) -> None:
    response = client.get("/v1/orders/999999", headers=tokens["dispatcher"])
    assert response.status_code == 404 and response.json() == {"detail": "no order 999999"}


def test_the_whole_lifecycle(client: TestClient, tokens, create) -> None:
    """Create, accept the suggestion, bounce twice into the difficult queue, re-dispatch, reply, visit."""
    order = create(CALLS["stalls"])
    path = f"/v1/orders/{order['id']}"
    dispatcher, operator = tokens["dispatcher"], tokens["operator"]

    accepted = client.post(f"{path}/dispatch", json={"version": order["version"]}, headers=dispatcher).json()
    assert accepted["status"] == "dispatched" and accepted["dispatched_by"] == "dispatcher-1"
    assert accepted["decision"]["unit"] == order["suggestion"]["units"][0]["name"]
    assert accepted["held"]["unit"] == {"top1": True, "top3": True}

    first = client.post(f"{path}/bounce", json={"reason": "不属于我单位职责"}, headers=dispatcher).json()
    assert first["status"] == "pending" and first["bounce_count"] == 1 and not first["difficult"]
    assert first["decision"]["unit"] is None

    second_unit = order["suggestion"]["units"][1]["name"]
    again = client.post(
        f"{path}/dispatch", json={"unit": second_unit}, headers={**dispatcher, "If-Match": f'"{first["version"]}"'}
    ).json()
    assert again["decision"]["unit"] == second_unit
    assert again["held"]["unit"] == {"top1": False, "top3": True}

    difficult = client.post(f"{path}/bounce", json={"reason": "仍然不属于我单位"}, headers=dispatcher).json()
    assert difficult["status"] == "difficult" and difficult["difficult"] and difficult["bounce_count"] == 2
    queue = client.get("/v1/orders", params={"status": "difficult"}, headers=dispatcher).json()
    assert [o["id"] for o in queue["items"]] == [order["id"]]
    bounces = [e for e in difficult["events"] if e["kind"] == "bounced"]
    assert [e["detail"]["reason"] for e in bounces] == ["不属于我单位职责", "仍然不属于我单位"]
    assert bounces[0]["detail"]["unit"] == order["suggestion"]["units"][0]["name"]

    final = client.post(f"{path}/dispatch", json={"version": difficult["version"], "unit": "市城管局"}, headers=dispatcher)
    assert final.status_code == 200 and final.json()["status"] == "dispatched"
    replied = client.post(f"{path}/reply", json={"text": "已安排执法队员清理，联系电话13812345678"}, headers=dispatcher).json()
    assert replied["status"] == "replied" and "13812345678" not in replied["reply"]
    closed = client.post(f"{path}/visit", json={"satisfaction": "基本满意"}, headers=operator).json()
    assert closed["status"] == "closed" and closed["satisfaction"] == "基本满意" and not closed["overdue"]
    kinds = [e["kind"] for e in closed["events"]]
    assert kinds == ["created", "dispatched", "bounced", "dispatched", "bounced", "difficult", "dispatched", "replied", "visited"]

    late = client.post(f"{path}/dispatch", json={"version": closed["version"]}, headers=dispatcher)
    assert late.status_code == 409 and "closed" in late.json()["detail"]


def test_corrections_are_recorded_and_validated(client, tokens, create) -> None:
    order = create(CALLS["lights"])
    path = f"/v1/orders/{order['id']}/dispatch"
    dispatcher = tokens["dispatcher"]
    unknown_unit = client.post(path, json={"version": 1, "unit": "火星管理局"}, headers=dispatcher)
    assert unknown_unit.status_code == 422 and "市城管局" in unknown_unit.json()["detail"]
    unknown_category = client.post(path, json={"version": 1, "category": "闲聊"}, headers=dispatcher)
    assert unknown_category.status_code == 422 and "咨询" in unknown_category.text
    assert client.post(path, json={"version": 1, "colour": "red"}, headers=dispatcher).status_code == 422
    corrected = client.post(
        path, json={"version": 1, "category": "求助", "unit": "市消防支队", "district": None}, headers=dispatcher
    ).json()
    assert corrected["decision"]["category"] == "求助" and corrected["decision"]["district"] is None
    event = corrected["events"][-1]
    assert "unit" in event["detail"]["corrected"] and "district" in event["detail"]["corrected"]


def test_a_unit_alias_is_accepted_as_the_unit(client, tokens, create) -> None:
    order = create(CALLS["lights"])
    response = client.post(
        f"/v1/orders/{order['id']}/dispatch", json={"version": 1, "unit": "城管局"}, headers=tokens["dispatcher"]
    )
    assert response.status_code == 200 and response.json()["decision"]["unit"] == "市城管局"


def test_out_of_scope_decision_refuses_the_order(client, tokens, create) -> None:
    order = create(CALLS["fight"])
    response = client.post(
        f"/v1/orders/{order['id']}/dispatch", json={"version": 1, "scope": "resident_dispute"}, headers=tokens["dispatcher"]
    )
    body = response.json()
    assert body["status"] == "refused" and body["decision"]["unit"] is None and body["decision"]["scope"] == "resident_dispute"
    bounce = client.post(f"/v1/orders/{order['id']}/bounce", json={"reason": "x"}, headers=tokens["dispatcher"])
    assert bounce.status_code == 409


def test_a_stale_version_is_refused_and_changes_nothing(client, tokens, create) -> None:
    order = create(CALLS["stalls"])
    path = f"/v1/orders/{order['id']}"
    dispatcher = tokens["dispatcher"]
    assert client.post(f"{path}/dispatch", json={"version": 1}, headers=dispatcher).status_code == 200
    client.post(f"{path}/bounce", json={"reason": "不是我们的"}, headers=dispatcher)
    stale = client.post(f"{path}/dispatch", json={"version": 1, "unit": "市城管局"}, headers=dispatcher)
    assert stale.status_code == 409 and "reload" in stale.json()["detail"]
    now = client.get(path, headers=dispatcher).json()
    assert now["status"] == "pending" and now["decision"]["unit"] is None and now["version"] == 3
    assert client.get(path, headers=dispatcher).headers["ETag"] == '"3"'


def test_a_decision_without_a_version_is_428(client, tokens, create) -> None:
    order = create(CALLS["stalls"])
    response = client.post(f"/v1/orders/{order['id']}/dispatch", json={}, headers=tokens["dispatcher"])
    assert response.status_code == 428 and "version" in response.json()["detail"]
    bad = client.post(f"/v1/orders/{order['id']}/dispatch", json={}, headers={**tokens["dispatcher"], "If-Match": "abc"})
    assert bad.status_code == 400


def test_steps_out_of_order_are_409(client, tokens, create) -> None:
    order = create(CALLS["stalls"])
    path = f"/v1/orders/{order['id']}"
    assert client.post(f"{path}/reply", json={"text": "已处理"}, headers=tokens["dispatcher"]).status_code == 409
    assert client.post(f"{path}/visit", json={"satisfaction": "满意"}, headers=tokens["operator"]).status_code == 409
    assert client.post(f"{path}/bounce", json={"reason": "x"}, headers=tokens["dispatcher"]).status_code == 409
    bad = client.post(f"{path}/visit", json={"satisfaction": "还行"}, headers=tokens["operator"])
    assert bad.status_code == 422 and "满意" in bad.text


def test_past_deadline_orders_are_flagged_overdue(client, tokens, create, app: FastAPI) -> None:
    late, on_time = create(CALLS["stalls"]), create(CALLS["lights"])
    with app.state.sessions() as session, session.begin():
        session.execute(
            sa.update(Order).where(Order.id == late["id"]).values(due_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        )
    headers = tokens["dispatcher"]
    assert client.get(f"/v1/orders/{late['id']}", headers=headers).json()["overdue"] is True
    assert client.get(f"/v1/orders/{on_time['id']}", headers=headers).json()["overdue"] is False
    flagged = client.get("/v1/orders", params={"overdue": "true"}, headers=headers).json()
    assert [o["id"] for o in flagged["items"]] == [late["id"]]
    assert client.get("/v1/stats", headers=tokens["analyst"]).json()["overdue"] == 1


def test_bad_transcripts_get_clear_errors(client, tokens) -> None:
    operator = tokens["operator"]
    assert client.post("/v1/orders", json={}, headers=operator).status_code == 422
    assert client.post("/v1/orders", json={"text": ""}, headers=operator).status_code == 422
    blank = client.post("/v1/orders", json={"text": "   "}, headers=operator)
    assert blank.status_code == 422 and "empty" in blank.json()["detail"]
    assert client.post("/v1/orders", json={"text": 42}, headers=operator).status_code == 422
    too_long = client.post("/v1/orders", json={"text": "路" * 20_001}, headers=operator)
    assert too_long.status_code == 422 and "20000" in too_long.text
    huge = client.post("/v1/orders", json={"text": "路" * 300_000}, headers=operator)
    assert huge.status_code == 413 and "limit" in huge.json()["detail"]
    broken = client.post("/v1/orders", content=b'{"text": "abc', headers={**operator, "Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["type"] == "json_invalid"
    assert client.get("/v1/orders", headers=operator).json()["total"] == 0


def test_the_operators_corrections_become_the_working_values(client, tokens) -> None:
    body = {"text": CALLS["lights"], "category": "建议", "district": "天心区", "deadline_class": "simple"}
    order = client.post("/v1/orders", json=body, headers=tokens["operator"]).json()
    assert order["suggestion"]["district"] == "岳麓区"  # the model's own record is kept
    assert order["deadline"]["class"] == "simple"
    assert set(order["events"][0]["detail"]["operator_corrected"]) == {"category", "district", "deadline_class"}
    dispatched = client.post(f"/v1/orders/{order['id']}/dispatch", json={"version": 1}, headers=tokens["dispatcher"]).json()
    assert dispatched["decision"]["category"] == "建议" and dispatched["decision"]["district"] == "天心区"
    assert dispatched["held"]["district"]["top1"] is False  # the model said 岳麓区
    assert client.get("/v1/orders", params={"district": "天心区"}, headers=tokens["dispatcher"]).json()["total"] == 1


def test_emoji_change_nothing_the_model_sees(client, tokens) -> None:
    """A 🔥 in an angry complaint about a barbecue shop is not a fire: the suggestion is the one for the words."""
    words = "楼下那家烧烤店天天烤到半夜，油烟熏得窗户都打不开，投诉多少次了没人管"
    angry = "😡😡楼下那家烧烤店天天烤到半夜🔥🔥🔥，油烟熏得窗户都打不开👎，投诉多少次了没人管😤"
    plain, with_emoji = (
        client.post("/v1/suggestions", json={"text": text}, headers=tokens["operator"]).json() for text in (words, angry)
    )
    assert with_emoji["text"] == plain["text"] and "🔥" not in with_emoji["text"]
    for head in ("category", "topic"):
        assert with_emoji[head] == plain[head]
    assert with_emoji["units"] == plain["units"] and with_emoji["scope"] == plain["scope"]


def test_text_the_citizen_wrote_is_decided_by_the_written_thresholds(client, tokens) -> None:
    headers = tokens["operator"]
    call = client.post("/v1/suggestions", json={"text": CALLS["stalls"]}, headers=headers).json()
    web = client.post("/v1/suggestions", json={"text": CALLS["stalls"], "channel": "web"}, headers=headers).json()
    assert call["register"] == "spoken" and web["register"] == "written"
    order = client.post("/v1/orders", json={"text": CALLS["stalls"], "channel": "letter"}, headers=headers).json()
    assert order["channel"] == "letter" and order["suggestion"]["register"] == "written"
    bad = client.post("/v1/suggestions", json={"text": CALLS["stalls"], "channel": "fax"}, headers=headers)
    assert bad.status_code == 422 and "channel" in bad.text
