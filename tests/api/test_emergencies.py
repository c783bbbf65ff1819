"""Emergencies come first: recorded as refused with the number the caller was sent to, never turned into an
ordinary order without a note saying why, always of deadline class emergency, first under 紧急优先."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import ModelHolder
from api.models import Order
from tests.api.conftest import CALLS

FIRE = "喂，我家楼下着火了，好大的烟，快来人"


@pytest.fixture()
def judged_by_model(monkeypatch: pytest.MonkeyPatch, model_holder: ModelHolder) -> Callable[[str], None]:
    """Make the served pipeline's scope model refuse every call as an emergency for `number` (no rule fired),
    leaving the rest of the suggestion, deadline class included, as the model made it."""

    def judge(number: str) -> None:
        pipeline = model_holder.current.pipeline
        real = pipeline.suggest

        def suggest(text: str, **kwargs: object):
            s = real(text, **kwargs)
            scope = s.scope.model_copy(
                update={"accepted": False, "reason": "emergency", "redirect": number, "by_rule": False, "explanation": f"请立即拨打{number}"}
            )
            return s.model_copy(update={"scope": scope})

        monkeypatch.setattr(pipeline, "suggest", suggest)

    return judge


def post(client: TestClient, tokens: dict, **body: object):
    return client.post("/v1/orders", json=body, headers=tokens["operator"])


def kinds(order: dict) -> list[str]:
    return [e["kind"] for e in order["events"]]


def event(order: dict, kind: str) -> dict:
    """The order's last event of a kind (linking to an incident may add events after it)."""
    return [e for e in order["events"] if e["kind"] == kind][-1]


def test_a_fire_is_refused_by_rule_for_119_and_recorded_as_refused_at_once(client, tokens) -> None:
    suggested = client.post("/v1/suggestions", json={"text": FIRE}, headers=tokens["operator"]).json()
    assert suggested["scope"]["accepted"] is False and suggested["scope"]["reason"] == "emergency"
    assert suggested["scope"]["redirect"] == "119" and suggested["scope"]["by_rule"] is True

    response = post(client, tokens, text=FIRE, refuse=True)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "refused"
    assert order["decision"]["scope"] == "emergency" and order["decision"]["unit"] is None
    assert order["deadline"]["class"] == "emergency" and not order["overdue"]
    assert order["dispatched_by"] == "operator-1"
    assert kinds(order) == ["created", "refused"]
    refused = order["events"][1]
    assert refused["actor"] == "operator-1"
    assert refused["detail"]["scope"] == "emergency" and refused["detail"]["redirect"] == "119" and refused["detail"]["by_operator"]
    # nothing left for the dispatcher, and the analysts count it
    assert client.get("/v1/orders", params={"status": "pending"}, headers=tokens["dispatcher"]).json()["total"] == 0
    stats = client.get("/v1/stats", headers=tokens["analyst"]).json()
    assert stats["refused"] == 1 and stats["refused_by_reason"][0]["label"] == "emergency"
    exported = [json.loads(line) for line in client.get("/v1/exports/labelled-orders", headers=tokens["analyst"]).text.splitlines()]
    assert [(r["scope"], r["redirect"], r["deadline"]) for r in exported] == [("emergency", "119", "emergency")]


def test_a_refusal_needs_a_reason_and_an_emergency_keeps_its_class(client, tokens) -> None:
    no_reason = post(client, tokens, text=CALLS["lights"], refuse=True)
    assert no_reason.status_code == 422 and "`scope`" in no_reason.json()["detail"]
    slower = post(client, tokens, text=FIRE, refuse=True, deadline_class="standard")
    assert slower.status_code == 422 and "emergency (24 hours)" in slower.json()["detail"]
    not_a_number = post(client, tokens, text=FIRE, refuse=True, redirect="12345")
    assert not_a_number.status_code == 422
    wrong_reason = post(client, tokens, text=CALLS["fight"], scope="resident_dispute", redirect="110")
    assert wrong_reason.status_code == 422 and "`redirect`" in wrong_reason.json()["detail"]
    assert client.get("/v1/orders", headers=tokens["operator"]).json()["total"] == 0

    # another reason than emergency, recorded by the operator, keeps the suggestion's class
    fight = post(client, tokens, text=CALLS["fight"], scope="resident_dispute", refuse=True).json()
    assert fight["status"] == "refused" and fight["decision"]["scope"] == "resident_dispute"
    assert event(fight, "refused")["detail"]["redirect"] is None


def test_the_operator_can_record_an_emergency_the_model_accepted_with_the_number_given(client, tokens) -> None:
    order = post(client, tokens, text=CALLS["lights"], scope="emergency", redirect="110", refuse=True).json()
    assert order["suggestion"]["scope"]["accepted"] is True  # the model's record is kept
    assert order["status"] == "refused" and order["decision"]["scope"] == "emergency"
    assert order["deadline"]["class"] == "emergency"
    created_at = dt.datetime.fromisoformat(order["created_at"])
    assert dt.datetime.fromisoformat(order["deadline"]["due_at"]) - created_at <= dt.timedelta(hours=24, seconds=1)
    assert order["events"][0]["detail"]["operator_corrected"] == ["scope"]
    assert event(order, "refused")["detail"]["redirect"] == "110"
    assert order["held"]["scope"] == {"top1": False, "top3": False}


def test_accepting_a_rule_refused_emergency_needs_an_override_note(client, tokens) -> None:
    refused = post(client, tokens, text=FIRE, scope="accepted")
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "judged an emergency for 119" in detail and "by an explicit rule" in detail and "`override_note`" in detail
    blank = post(client, tokens, text=FIRE, scope="accepted", override_note="   ")
    assert blank.status_code == 422 and "`override_note`" in blank.json()["detail"]
    assert client.get("/v1/orders", headers=tokens["operator"]).json()["total"] == 0

    note = "来电人说火已扑灭，只是反映楼道堆放杂物的消防隐患，回电13873112345"
    response = post(client, tokens, text=FIRE, scope="accepted", override_note=note)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending" and order["deadline"]["class"] == "emergency"
    assert order["working"]["scope"] == "accepted" and order["suggestion"]["scope"]["reason"] == "emergency"
    assert order["auto_ready"] is False  # a person decides where it goes
    assert kinds(order) == ["created", "scope_overridden"]
    event = order["events"][1]
    assert event["actor"] == "operator-1"
    assert event["detail"]["suggested"] == "emergency" and event["detail"]["redirect"] == "119" and event["detail"]["by_rule"] is True
    assert event["detail"]["note"].startswith("来电人说火已扑灭") and "13873112345" not in event["detail"]["note"]
    # the dispatcher accepts it like any order now: the override was the operator's
    dispatched = client.post(f"/v1/orders/{order['id']}/dispatch", json={"version": 1, "unit": "市消防支队"}, headers=tokens["dispatcher"])
    assert dispatched.status_code == 200 and dispatched.json()["status"] == "dispatched"


def test_accepting_a_model_refused_emergency_needs_an_override_note(client, tokens, judged_by_model) -> None:
    judged_by_model("120")
    refused = post(client, tokens, text=CALLS["lights"], scope="accepted")
    assert refused.status_code == 422
    assert "judged an emergency for 120 (by the scope model)" in refused.json()["detail"]
    order = post(client, tokens, text=CALLS["lights"], scope="accepted", override_note="只是路灯坏了，没有人受伤").json()
    assert order["events"][1]["kind"] == "scope_overridden"
    assert order["events"][1]["detail"] == {"suggested": "emergency", "redirect": "120", "by_rule": False, "note": "只是路灯坏了，没有人受伤"}

    # recorded as refused instead: the service gives it the emergency class the model did not
    kept = post(client, tokens, text=CALLS["lights"], refuse=True).json()
    assert kept["suggestion"]["deadline"]["class"] != "emergency"
    assert kept["status"] == "refused" and kept["deadline"]["class"] == "emergency"
    assert event(kept, "refused")["detail"]["redirect"] == "120"


def test_a_note_without_anything_to_override_is_kept_on_the_created_event(client, tokens) -> None:
    order = post(client, tokens, text=CALLS["lights"], override_note="来电人很着急").json()
    assert kinds(order) == ["created"] and order["events"][0]["detail"]["note"] == "来电人很着急"


def test_the_dispatcher_needs_a_note_to_accept_a_pending_emergency(client, tokens) -> None:
    order = post(client, tokens, text=FIRE).json()  # the operator left the decision to the dispatcher
    assert order["status"] == "pending" and order["deadline"]["class"] == "emergency"
    assert order["working"] == {**order["working"], "scope": "emergency", "unit": None}
    path, dispatcher = f"/v1/orders/{order['id']}/dispatch", tokens["dispatcher"]
    plain = client.post(path, json={"version": 1, "scope": "accepted", "unit": "市消防支队"}, headers=dispatcher)
    assert plain.status_code == 422 and "emergency for 119" in plain.json()["detail"] and "`note`" in plain.json()["detail"]
    accepted = client.post(path, json={"version": 1, "scope": "accepted", "unit": "市消防支队", "note": "消防隐患，非火警"}, headers=dispatcher)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "dispatched" and kinds(body)[-2:] == ["scope_overridden", "dispatched"]
    assert body["events"][-2]["actor"] == "dispatcher-1" and body["events"][-2]["detail"]["note"] == "消防隐患，非火警"
    assert body["working"]["scope"] == "accepted"  # settled: after a bounce it is dispatched without a new note
    bounced = client.post(f"/v1/orders/{order['id']}/bounce", json={"reason": "非本单位"}, headers=dispatcher).json()
    again = client.post(path, json={"version": bounced["version"], "unit": "市应急管理局"}, headers=dispatcher)
    assert again.status_code == 200 and again.json()["status"] == "dispatched"


def test_the_dispatcher_confirming_an_emergency_refusal_records_the_number(client, tokens, create) -> None:
    fire = create(FIRE)
    refused = client.post(f"/v1/orders/{fire['id']}/dispatch", json={"version": 1}, headers=tokens["dispatcher"]).json()
    assert refused["status"] == "refused" and event(refused, "refused")["detail"]["redirect"] == "119"
    lights = create(CALLS["lights"])
    path = f"/v1/orders/{lights['id']}/dispatch"
    slower = client.post(path, json={"version": 1, "scope": "emergency", "deadline_class": "help"}, headers=tokens["dispatcher"])
    assert slower.status_code == 422
    body = client.post(path, json={"version": 1, "scope": "emergency", "redirect": "120"}, headers=tokens["dispatcher"]).json()
    assert body["status"] == "refused" and body["deadline"]["class"] == "emergency"
    assert event(body, "refused")["detail"]["redirect"] == "120"


def test_urgent_sort_puts_every_emergency_first(client, tokens, create, app: FastAPI) -> None:
    urgent = create(CALLS["stalls"], deadline_class="emergency")  # the oldest: an accepted urgent matter
    fire = create(FIRE)  # an emergency refusal left to the dispatcher
    late = create(CALLS["lights"])
    simple = create(CALLS["fund"])
    with app.state.sessions() as session, session.begin():  # overdue, but not an emergency
        session.execute(sa.update(Order).where(Order.id == late["id"]).values(due_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    headers = tokens["dispatcher"]
    newest = client.get("/v1/orders", params={"sort": "newest"}, headers=headers).json()["items"]
    assert newest[-1]["id"] == urgent["id"]
    ordered = client.get("/v1/orders", params={"sort": "urgent", "status": ["pending", "difficult"]}, headers=headers).json()["items"]
    assert [o["deadline"]["class"] for o in ordered[:2]] == ["emergency", "emergency"]
    assert {o["id"] for o in ordered[:2]} == {urgent["id"], fire["id"]}
    assert [o["id"] for o in ordered[2:]] == [late["id"], simple["id"]]  # then by deadline
    assert [o["deadline"]["due_at"] for o in ordered[:2]] == sorted(o["deadline"]["due_at"] for o in ordered[:2])
    first = client.get("/v1/orders", params={"sort": "urgent", "limit": 1}, headers=headers).json()["items"]
    assert first[0]["deadline"]["class"] == "emergency"
    schema = client.get("/openapi.json").json()
    assert {"refuse", "redirect", "override_note"} <= set(schema["components"]["schemas"]["OrderCreate"]["properties"])
