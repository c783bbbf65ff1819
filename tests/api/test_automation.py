"""Automatic dispatch and its watch: auto-ready orders, the system's dispatch, bulk confirmation, live bounce rates."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from api import lifecycle
from tests.api.conftest import CALLS
from training.datasets import read_labelled

READY = CALLS["stalls"]  # the test model is sure of the unit and the district: auto-ready
REVIEW = "我们社区旁边的空地上有人搭了个违章棚子"  # a district's matter (a small illegal structure) with no place said: a person places it


def _auto(app: FastAPI) -> None:
    app.state.settings = app.state.settings.model_copy(update={"auto_dispatch": "on"})


def _events(order: dict) -> list[str]:
    return [e["kind"] for e in order["events"]]


def test_auto_dispatch_is_off_by_default_and_marks_what_could_go_alone(client, tokens, create) -> None:
    ready, review = create(READY), create(REVIEW)
    assert (ready["status"], ready["auto_ready"], ready["auto_dispatched"]) == ("pending", True, False)
    assert ready["suggestion"]["auto"] == {"category": True, "unit": True, "district": True, "scope": True, "deadline": True}
    assert review["auto_ready"] is False and review["suggestion"]["needs_review"]
    queue = client.get("/v1/orders", params={"auto_ready": "true"}, headers=tokens["dispatcher"]).json()
    assert [o["id"] for o in queue["items"]] == [ready["id"]]
    others = client.get("/v1/orders", params={"auto_ready": "false"}, headers=tokens["dispatcher"]).json()
    assert [o["id"] for o in others["items"]] == [review["id"]]


def test_with_auto_dispatch_on_a_fully_auto_order_is_dispatched_by_the_system(app, client, tokens, create) -> None:
    _auto(app)
    order = create(READY)
    assert (order["status"], order["auto_dispatched"], order["decision"]["unit"]) == ("dispatched", True, "开福区")
    event = next(e for e in order["events"] if e["kind"] == "auto_dispatched")
    assert event["actor"] == "system" and event["detail"]["unit"] == "开福区" and event["detail"]["district"] == "开福区"
    assert _events(order)[:2] == ["created", "auto_dispatched"]
    assert order["dispatched_by"] is None and order["held"] is None  # the model's record counts people's decisions
    assert create(REVIEW)["status"] == "pending"  # review stays with people
    refused = create(CALLS["fight"])
    assert refused["status"] == "pending" and "auto_dispatched" not in _events(refused)  # never refused alone


def test_an_operators_correction_of_scope_or_district_keeps_it_for_a_person(app, create) -> None:
    _auto(app)
    order = create(READY, district="芙蓉区")
    assert order["status"] == "pending"
    failed = next(e for e in order["events"] if e["kind"] == "auto_dispatch_failed")
    assert failed["actor"] == "system" and "district" in failed["detail"]["reason"]


def test_a_unit_missing_from_the_catalogue_is_an_error_and_the_order_waits(app, create, model_holder, monkeypatch, caplog) -> None:
    _auto(app)
    pipeline = model_holder.current.pipeline
    real = pipeline.suggest

    def renamed(*args, **kwargs):
        suggestion = real(*args, **kwargs)
        suggestion.units[0].name = "市路灯管理处"  # a unit the model knows and the service's catalogue does not
        return suggestion

    monkeypatch.setattr(pipeline, "suggest", renamed)
    with caplog.at_level(logging.ERROR, logger="api.lifecycle"):
        order = create(READY)
    assert order["status"] == "pending" and not order["auto_dispatched"]
    failed = next(e for e in order["events"] if e["kind"] == "auto_dispatch_failed")
    assert "市路灯管理处" in failed["detail"]["reason"]
    assert any("not in the service's catalogue" in r.getMessage() for r in caplog.records)


def test_a_database_failure_while_dispatching_leaves_the_order_pending_not_half_dispatched(app, client, tokens, create, monkeypatch) -> None:
    _auto(app)
    real = lifecycle._record_dispatch

    def half_then_fail(order, decision, now, *, dispatcher):
        real(order, decision, now, dispatcher=dispatcher)  # fields set in memory ...
        raise OperationalError("UPDATE orders", {}, Exception("connection lost"))  # ... then the write fails

    monkeypatch.setattr(lifecycle, "_record_dispatch", half_then_fail)
    order = create(READY)
    stored = client.get(f"/v1/orders/{order['id']}", headers=tokens["dispatcher"]).json()
    for seen in (order, stored):
        assert seen["status"] == "pending" and seen["decision"]["unit"] is None and seen["dispatched_at"] is None
        assert not seen["auto_dispatched"] and "auto_dispatched" not in _events(seen)
        assert "auto_dispatch_failed" in _events(seen)
    monkeypatch.undo()
    done = client.post(f"/v1/orders/{order['id']}/dispatch", json={"version": stored["version"]}, headers=tokens["dispatcher"])
    assert done.status_code == 200 and done.json()["status"] == "dispatched"  # a person dispatches it as usual


def test_bulk_confirmation_dispatches_the_auto_ready_orders_seen_one_event_each(client, tokens, create) -> None:
    first, second, review = create(READY), create(CALLS["fund"]), create(REVIEW)
    assert first["auto_ready"] and second["auto_ready"]
    stale = dict(second, version=second["version"] + 5)
    body = {"orders": [{"id": o["id"], "version": o["version"]} for o in (first, stale, review)] + [{"id": 99999, "version": 1}]}
    response = client.post("/v1/orders/confirm", json=body, headers=tokens["dispatcher"])
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["confirmed"], result["failed"]) == (1, 3)
    by_id = {r["id"]: r for r in result["results"]}
    assert by_id[first["id"]]["ok"] and by_id[first["id"]]["order"]["status"] == "dispatched"
    assert by_id[second["id"]]["status"] == 409 and "changed since you read it" in by_id[second["id"]]["detail"]
    assert by_id[review["id"]]["status"] == 409 and "needs review" in by_id[review["id"]]["detail"]
    assert by_id[99999]["status"] == 404
    dispatched = [e for e in by_id[first["id"]]["order"]["events"] if e["kind"] == "dispatched"]
    assert len(dispatched) == 1 and dispatched[0]["actor"] == "dispatcher-1" and dispatched[0]["detail"]["confirmed_in_bulk"]
    assert client.get(f"/v1/orders/{second['id']}", headers=tokens["dispatcher"]).json()["status"] == "pending"
    assert client.post("/v1/orders/confirm", json=body, headers=tokens["operator"]).status_code == 403
    assert client.post("/v1/orders/confirm", json={"orders": []}, headers=tokens["dispatcher"]).status_code == 422


def test_stats_show_the_automation_rate_and_bounces_of_system_against_human_dispatches(app, client, tokens, create) -> None:
    human = create(READY)
    client.post(f"/v1/orders/{human['id']}/dispatch", json={"version": human["version"]}, headers=tokens["dispatcher"])
    _auto(app)
    bounced, kept = create(READY), create(CALLS["fund"])
    assert bounced["auto_dispatched"] and kept["auto_dispatched"]
    response = client.post(f"/v1/orders/{bounced['id']}/bounce", json={"reason": "不属于本单位"}, headers=tokens["dispatcher"])
    assert response.status_code == 200
    create(REVIEW)
    automation = client.get("/v1/stats", headers=tokens["analyst"]).json()["automation"]
    total = automation["total"]
    assert (total["orders"], total["auto_ready"], total["auto_dispatched"], total["human_dispatched"]) == (4, 3, 2, 1)
    assert total["automation_rate"] == 0.5 and total["auto_ready_rate"] == 0.75
    assert (total["auto_bounced"], total["auto_bounce_rate"], total["human_bounce_rate"]) == (1, 0.5, 0.0)
    [day] = automation["by_day"]
    assert day["auto_dispatched"] == 2 and day["auto_bounce_rate"] == 0.5
    units = {u["key"]: u for u in automation["by_unit"]}
    assert units["开福区"]["auto_dispatched"] == 1 and units["开福区"]["auto_bounced"] == 1
    assert units["市住房公积金管理中心"]["auto_bounce_rate"] == 0.0


def test_the_export_lists_acceptable_units_without_those_that_bounced(client, tokens, create, tmp_path) -> None:
    order = create(READY)
    decide = client.post(f"/v1/orders/{order['id']}/dispatch", json={"version": order["version"], "unit": "市城管局"}, headers=tokens["dispatcher"]).json()
    client.post(f"/v1/orders/{order['id']}/bounce", json={"reason": "应由属地处理", "version": decide["version"]}, headers=tokens["dispatcher"])
    again = client.get(f"/v1/orders/{order['id']}", headers=tokens["dispatcher"]).json()
    client.post(f"/v1/orders/{order['id']}/dispatch", json={"version": again["version"], "unit": "开福区"}, headers=tokens["dispatcher"])
    rows = client.get("/v1/exports/labelled-orders", headers=tokens["analyst"]).text.splitlines()
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    [record] = read_labelled(path).records
    assert record.units_ok == ("开福区",) and "市城管局" not in record.units_ok
