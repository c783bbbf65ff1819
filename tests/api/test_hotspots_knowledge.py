"""Repeated calls become one incident; consultations come with standard answers analysts can edit."""

from __future__ import annotations

LIGHTS = [
    "岳麓区麓山南路那一段路灯坏了一个多星期了，晚上黑漆漆的很危险",
    "麓山南路的路灯晚上都不亮，岳麓区这边走夜路很危险，麻烦修一下",
    "我反映一下岳麓区麓山南路路灯不亮的问题，好几天了",
    "麓山南路上路灯全黑了，岳麓区的，晚上骑车看不见",
]
OTHER_PLACE = "芙蓉区五一大道那边路灯坏了好几天，晚上很黑"


def test_repeated_calls_are_linked_into_one_incident_and_can_be_unlinked(client, tokens, create) -> None:
    orders = [create(text) for text in LIGHTS]
    elsewhere = create(OTHER_PLACE)
    incident = orders[0]["incident_id"]
    assert incident and all(o["incident_id"] == incident for o in orders)
    assert elsewhere["incident_id"] != incident
    assert any(e["kind"] == "linked" for e in orders[1]["events"])

    spots = client.get("/v1/hotspots", headers=tokens["analyst"]).json()
    assert [s["id"] for s in spots] == [incident]
    assert spots[0]["count"] == 4 and spots[0]["district"] == "岳麓区" and spots[0]["last_24h"] == 4
    assert sorted(spots[0]["order_ids"]) == sorted(o["id"] for o in orders)
    same = client.get("/v1/orders", params={"incident": incident}, headers=tokens["dispatcher"]).json()
    assert same["total"] == 4

    unlinked = client.post(f"/v1/orders/{orders[3]['id']}/unlink", headers=tokens["dispatcher"])
    assert unlinked.status_code == 200 and unlinked.json()["incident_id"] != incident
    spots = client.get("/v1/hotspots", headers=tokens["dispatcher"]).json()
    assert spots[0]["count"] == 3
    again = create(LIGHTS[0])
    assert again["incident_id"] == incident
    assert client.post(f"/v1/orders/{elsewhere['id']}/unlink", headers=tokens["operator"]).status_code == 403


def test_a_linked_order_learns_where_the_incident_was_dispatched(client, tokens, create) -> None:
    first = create(LIGHTS[0])
    client.post(f"/v1/orders/{first['id']}/dispatch", json={"version": 1, "unit": "市城管局"}, headers=tokens["dispatcher"])
    second = create(LIGHTS[1])
    linked = next(e for e in second["events"] if e["kind"] == "linked")
    assert linked["detail"]["unit"] == "市城管局" and linked["detail"]["incident"] == first["incident_id"]


def test_hotspots_alert_past_the_threshold(settings, model_holder) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.security import add_user

    app = create_app(settings.model_copy(update={"hotspot_alert_orders": 3}), model=model_holder)
    with TestClient(app) as client:
        with app.state.sessions() as session:
            _, token = add_user(session, "op", "admin")
        headers = {"Authorization": f"Bearer {token}"}
        for text in LIGHTS[:2]:
            client.post("/v1/orders", json={"text": text}, headers=headers)
        assert client.get("/v1/hotspots", headers=headers).json()[0]["alerting"] is False
        client.post("/v1/orders", json={"text": LIGHTS[2]}, headers=headers)
        assert client.get("/v1/hotspots", headers=headers).json()[0]["alerting"] is True


def test_consultations_come_with_standard_answers(client, tokens) -> None:
    response = client.post("/v1/suggestions", json={"text": "我想问一下住房公积金怎么提取"}, headers=tokens["operator"])
    suggestion = response.json()
    assert suggestion["category"]["label"] == "咨询"
    assert 1 <= len(suggestion["answers"]) <= 3
    assert "公积金" in suggestion["answers"][0]["question"] + suggestion["answers"][0]["answer"]
    complaint = client.post("/v1/suggestions", json={"text": LIGHTS[0]}, headers=tokens["operator"]).json()
    assert complaint["answers"] == []


def test_analysts_add_and_edit_answers_with_versions(client, tokens) -> None:
    new = {
        "question": "城市书房夜间开放到几点？",
        "variants": ["城市书房晚上几点关门", "24小时书房在哪里"],
        "answer": "本市城市书房一般开放到晚上22点，部分24小时书房凭身份证或读者证刷卡入内。",
        "unit": "市文旅广电局",
        "topic": "教育文体",
    }
    created = client.post("/v1/knowledge", json=new, headers=tokens["analyst"])
    assert created.status_code == 200, created.text
    entry = created.json()
    assert entry["version"] == 1 and entry["id"].startswith("kb-")
    hits = client.get("/v1/knowledge", params={"q": "城市书房晚上几点关门啊"}, headers=tokens["operator"]).json()
    assert hits[0]["id"] == entry["id"]

    edited = client.post(
        "/v1/knowledge", json={"id": entry["id"], "answer": "城市书房开放到晚上21点30分，节假日照常开放。"}, headers=tokens["analyst"]
    ).json()
    assert edited["version"] == 2 and edited["question"] == new["question"]
    detail = client.get(f"/v1/knowledge/{entry['id']}", headers=tokens["dispatcher"]).json()
    assert detail["entry"]["answer"].startswith("城市书房开放到晚上21点30分")
    assert [v["version"] for v in detail["history"]] == [1, 2] and detail["history"][0]["author"] == "analyst-1"

    bad = client.post("/v1/knowledge", json={**new, "unit": "火星局"}, headers=tokens["analyst"])
    assert bad.status_code == 422 and "火星局" in bad.json()["detail"]
    assert client.post("/v1/knowledge", json=new, headers=tokens["operator"]).status_code == 403
    assert client.get("/v1/knowledge/kb-9999", headers=tokens["operator"]).status_code == 404
