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
        "/v1/knowledge",
        json={"id": entry["id"], "version": 1, "answer": "城市书房开放到晚上21点30分，节假日照常开放。"},
        headers=tokens["analyst"],
    ).json()
    assert edited["version"] == 2 and edited["question"] == new["question"]
    detail = client.get(f"/v1/knowledge/{entry['id']}", headers=tokens["dispatcher"]).json()
    assert detail["entry"]["answer"].startswith("城市书房开放到晚上21点30分")
    assert [v["version"] for v in detail["history"]] == [1, 2] and detail["history"][0]["author"] == "analyst-1"

    bad = client.post("/v1/knowledge", json={**new, "unit": "火星局"}, headers=tokens["analyst"])
    assert bad.status_code == 422 and "火星局" in bad.json()["detail"]
    assert client.post("/v1/knowledge", json=new, headers=tokens["operator"]).status_code == 403
    assert client.get("/v1/knowledge/kb-9999", headers=tokens["operator"]).status_code == 404


BOOKS = {
    "question": "城市书房夜间开放到几点？",
    "answer": "本市城市书房一般开放到晚上22点，部分24小时书房凭身份证或读者证刷卡入内。",
    "unit": "市文旅广电局",
    "topic": "教育文体",
    "basis": "《长沙市公共图书馆服务规范》",
}


def test_an_answer_past_its_review_date_is_flagged_overdue(client, tokens) -> None:
    """Basis and review date go in and come out; an answer past `valid_until` is flagged wherever it is read."""
    old = {**BOOKS, "reviewed": "2020-01-01", "valid_until": "2021-01-01"}
    written = client.post("/v1/knowledge", json=old, headers=tokens["analyst"])
    assert written.status_code == 200, written.text
    entry = written.json()
    assert (entry["basis"], entry["valid_until"], entry["overdue"]) == (BOOKS["basis"], "2021-01-01", True)
    assert client.get(f"/v1/knowledge/{entry['id']}", headers=tokens["operator"]).json()["entry"]["overdue"] is True
    listed = client.get("/v1/knowledge/overdue", headers=tokens["analyst"]).json()
    assert entry["id"] in [e["id"] for e in listed] and all(e["overdue"] for e in listed)
    hits = client.get("/v1/knowledge", params={"q": "城市书房晚上几点关门"}, headers=tokens["operator"]).json()
    assert hits[0]["id"] == entry["id"] and hits[0]["overdue"] is True and hits[0]["valid_until"] == "2021-01-01"

    # reviewed again, with a new date: no longer overdue, and off the list
    renewed = client.post(
        "/v1/knowledge",
        json={"id": entry["id"], "version": 1, "reviewed": "2026-01-01", "valid_until": "2099-12-31", "basis": "《长沙市公共图书馆条例》"},
        headers=tokens["analyst"],
    ).json()
    assert (renewed["version"], renewed["overdue"], renewed["basis"]) == (2, False, "《长沙市公共图书馆条例》")
    assert entry["id"] not in [e["id"] for e in client.get("/v1/knowledge/overdue", headers=tokens["analyst"]).json()]
    fresh = client.post("/v1/knowledge", json={**BOOKS, "question": "城市书房怎么办读者证？"}, headers=tokens["analyst"]).json()
    assert fresh["overdue"] is False and fresh["valid_until"] > fresh["reviewed"]  # reviewed today, due in a year
    backwards = client.post("/v1/knowledge", json={**BOOKS, "question": "书房能带小孩吗？", "reviewed": "2026-01-01", "valid_until": "2025-01-01"}, headers=tokens["analyst"])
    assert backwards.status_code == 422 and "valid_until" in backwards.json()["detail"]


def test_a_concurrent_edit_of_one_answer_is_refused_with_the_current_version(client, tokens, app) -> None:
    from api.security import add_user

    with app.state.sessions() as session:
        _, token = add_user(session, "analyst-2", "analyst")
    first, second = tokens["analyst"], {"Authorization": f"Bearer {token}"}
    entry = client.post("/v1/knowledge", json=BOOKS, headers=first).json()
    assert entry["version"] == 1
    # both analysts read version 1; the first saves, then the second
    mine = client.post("/v1/knowledge", json={"id": entry["id"], "version": 1, "answer": "城市书房开放到晚上21点30分，节假日照常开放。"}, headers=first)
    assert mine.status_code == 200 and mine.json()["version"] == 2
    theirs = client.post("/v1/knowledge", json={"id": entry["id"], "version": 1, "unit": "市教育局"}, headers=second)
    assert theirs.status_code == 409
    body = theirs.json()
    assert "version 2" in body["detail"]
    assert body["current"]["version"] == 2 and body["current"]["answer"].startswith("城市书房开放到晚上21点30分")
    assert body["current"]["unit"] == "市文旅广电局"  # nothing of the refused edit was written
    blind = client.post("/v1/knowledge", json={"id": entry["id"], "unit": "市教育局"}, headers=second)
    assert blind.status_code == 428 and blind.json()["current"]["version"] == 2
    merged = client.post("/v1/knowledge", json={"id": entry["id"], "version": 2, "unit": "市教育局"}, headers=second)
    assert merged.status_code == 200, merged.text
    assert merged.json()["version"] == 3 and merged.json()["answer"].startswith("城市书房开放到晚上21点30分")
    history = client.get(f"/v1/knowledge/{entry['id']}", headers=first).json()["history"]
    assert [(v["version"], v["author"]) for v in history] == [(1, "analyst-1"), (2, "analyst-1"), (3, "analyst-2")]


def test_the_service_is_ready_before_the_incidents_idf_table_is_built_and_builds_it_once() -> None:
    """Importing scikit-learn's hashing vectoriser and weighing 820 calls waited in front of /healthz (1.9 s of a
    4.4 s start on 2 cores); now a background thread builds it, once, and the first order finds it built."""
    from api.hotspots import HotspotService
    from triage.incidents import default_vectoriser

    default_vectoriser.cache_clear()
    service = HotspotService()
    assert default_vectoriser.cache_info().currsize == 0  # nothing built at construction
    warming = service.warm_up()
    warming.join(timeout=120)
    assert not warming.is_alive() and default_vectoriser.cache_info().currsize == 1
    built = default_vectoriser()
    assert default_vectoriser() is built and default_vectoriser.cache_info().misses == 1
