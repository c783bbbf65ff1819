"""The hotline's figures and the analysts' export of confirmed orders."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

from api.db import make_engine
from tests.api.conftest import CALLS
from training.datasets import read_labelled


def _dispatch(client, tokens, order: dict, **decision: object) -> dict:
    response = client.post(
        f"/v1/orders/{order['id']}/dispatch", json={"version": order["version"], **decision}, headers=tokens["dispatcher"]
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_stats_report_shares_satisfaction_and_the_models_record(client, tokens, create) -> None:
    stalls = [create(CALLS["stalls"]) for _ in range(3)]
    lights = create(CALLS["lights"])
    fight = create(CALLS["fight"])
    create(CALLS["fund"])  # stays pending
    for order in stalls[:2]:
        _dispatch(client, tokens, order)  # suggestion accepted
    _dispatch(client, tokens, stalls[2], unit="市城管局", category="举报")  # corrected
    _dispatch(client, tokens, lights, unit="岳麓区")
    _dispatch(client, tokens, fight, scope="resident_dispute")
    for order, satisfaction in ((stalls[0], "满意"), (stalls[1], "不满意")):
        client.post(f"/v1/orders/{order['id']}/reply", json={"text": "已处理"}, headers=tokens["dispatcher"])
        client.post(f"/v1/orders/{order['id']}/visit", json={"satisfaction": satisfaction}, headers=tokens["operator"])

    stats = client.get("/v1/stats", headers=tokens["analyst"]).json()
    assert stats["orders"] == 6 and stats["dispatched"] == 4 and stats["refused"] == 1
    assert stats["by_status"] == {"pending": 1, "dispatched": 2, "closed": 2, "refused": 1}
    units = {s["label"]: (s["count"], s["share"]) for s in stats["orders_by_unit"]}
    assert units == {"开福区": (2, 0.5), "市城管局": (1, 0.25), "岳麓区": (1, 0.25)}
    assert sum(s["share"] for s in stats["orders_by_district"]) <= 1.0
    assert {s["label"] for s in stats["calls_by_category"]} >= {"举报", "咨询"}
    assert sum(s["count"] for s in stats["calls_by_category"]) == 6
    assert stats["refused_by_reason"] == [{"label": "resident_dispute", "count": 1, "share": 1.0}]
    assert stats["visited"] == 2 and stats["satisfaction_rate"] == 0.5
    unit_record = stats["model"]["unit"]
    assert unit_record["decided"] == 4
    assert unit_record["top1"] == pytest.approx(2 / 4 + (0.25 if lights["suggestion"]["units"][0]["name"] == "岳麓区" else 0))
    assert stats["model"]["category"]["decided"] == 5 and stats["model"]["category"]["top1"] < 1.0
    assert stats["model_by_day"][0]["dispatched"] == 5
    assert stats["difficult"] == 0 and stats["ever_difficult"] == 0


def test_difficult_orders_are_counted(client, tokens, create) -> None:
    order = create(CALLS["stalls"])
    for _ in range(2):
        current = client.get(f"/v1/orders/{order['id']}", headers=tokens["dispatcher"]).json()
        _dispatch(client, tokens, current)
        client.post(f"/v1/orders/{order['id']}/bounce", json={"reason": "非我单位职责"}, headers=tokens["dispatcher"])
    stats = client.get("/v1/stats", headers=tokens["dispatcher"]).json()
    assert stats["difficult"] == 1 and stats["ever_difficult"] == 1 and stats["dispatched"] == 0


def test_export_is_training_data(client, tokens, create, tmp_path) -> None:
    stalls, fight = create(CALLS["stalls"]), create(CALLS["fight"])
    create(CALLS["fund"])  # not decided: not exported
    _dispatch(client, tokens, stalls, unit="市城管局", category="举报")
    _dispatch(client, tokens, fight, scope="resident_dispute")
    response = client.get("/v1/exports/labelled-orders", headers=tokens["analyst"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [row["id"] for row in lines] == [f"order-{stalls['id']}", f"order-{fight['id']}"]
    assert lines[0]["unit"] == "市城管局" and lines[0]["category"] == "举报" and lines[0]["scope"] == "accepted"
    assert lines[1]["scope"] == "resident_dispute" and lines[1]["unit"] is None
    assert "13873112345" not in response.text
    path = tmp_path / "export.jsonl"
    path.write_text(response.text, encoding="utf-8")
    data = read_labelled(path)
    assert not data.problems and len(data.records) == 2
    assert data.records[0].labels["unit"] == "市城管局"


def test_a_database_outage_is_a_503_with_a_retry_hint_and_writes_nothing(client, tokens, app: FastAPI) -> None:
    good_sessions = app.state.sessions
    dead = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=1")
    app.state.sessions = sessionmaker(dead, expire_on_commit=False)
    try:
        response = client.post("/v1/orders", json={"text": CALLS["lights"]}, headers=tokens["operator"])
        assert response.status_code == 503 and response.headers["Retry-After"] == "2"
        assert "retry" in response.json()["detail"]
        health = client.get("/healthz").json()
        assert health == {"status": "degraded", "database": "unavailable", "model": "test-default"}
    finally:
        app.state.sessions = good_sessions
        dead.dispose()
    assert client.get("/v1/orders", headers=tokens["operator"]).json()["total"] == 0
    assert client.post("/v1/orders", json={"text": CALLS["lights"]}, headers=tokens["operator"]).status_code == 201


def test_model_and_units_describe_what_is_served(client, tokens) -> None:
    model = client.get("/v1/model", headers=tokens["operator"]).json()
    assert model["version"] == "test-default"
    assert set(model["heads"]) >= {"category", "topic", "scope"}
    assert "咨询" in model["labels"]["category"]
    assert "metrics" in model
    assert model["members"] == ["linear"] and model["blend"] == {}
    units = client.get("/v1/units", headers=tokens["dispatcher"]).json()
    assert any(u["name"] == "市城管局" for u in units) and len(units) >= 60


def test_the_openapi_schema_documents_errors(client) -> None:
    schema = client.get("/openapi.json").json()
    dispatch = schema["paths"]["/v1/orders/{order_id}/dispatch"]["post"]
    assert {"401", "403", "404", "409", "422", "428"} <= set(dispatch["responses"])
    create = schema["paths"]["/v1/orders"]["post"]
    assert {"201", "200", "413", "422"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
