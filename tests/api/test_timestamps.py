"""Every datetime in every response is Beijing time with an explicit +08:00, at every step of an order's life.

A deadline read back from the database after a dispatch used to come out in UTC (`Z`): the dispatcher's
queue then sorted `...Z` and `...+08:00` strings together, and a person reading the JSON saw another time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import CALLS

ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def datetimes(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every string of a JSON document that is an ISO 8601 datetime, with where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from datetimes(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from datetimes(item, f"{path}[{i}]")
    elif isinstance(value, str) and ISO_DATETIME.match(value):
        yield path, value


def assert_beijing(step: str, body: Any) -> int:
    found = list(datetimes(body))
    wrong = [(path, value) for path, value in found if not value.endswith("+08:00")]
    assert not wrong, f"{step}: datetimes not in +08:00: {wrong}"
    return len(found)


def test_every_datetime_of_an_orders_life_is_beijing_time(client: TestClient, tokens) -> None:
    op, di, an = tokens["operator"], tokens["dispatcher"], tokens["analyst"]
    seen = 0

    def call(step: str, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> Any:
        nonlocal seen
        response = client.request(method, url, headers=headers, **kwargs)
        assert response.status_code < 300, (step, response.text)
        seen += assert_beijing(step, response.json())
        return response.json()

    created = call("create", "POST", "/v1/orders", op, json={"text": CALLS["lights"]})
    oid = created["id"]
    assert created["created_at"].endswith("+08:00") and created["deadline"]["due_at"].endswith("+08:00")
    call("read", "GET", f"/v1/orders/{oid}", di)
    dispatched = call("dispatch", "POST", f"/v1/orders/{oid}/dispatch", di, json={"version": created["version"]})
    assert dispatched["deadline"]["due_at"] == created["deadline"]["due_at"]  # the same string, not the same instant in Z
    assert dispatched["dispatched_at"].endswith("+08:00")
    bounced = call("bounce", "POST", f"/v1/orders/{oid}/bounce", di, json={"reason": "不属于本单位"})
    again = call("dispatch again", "POST", f"/v1/orders/{oid}/dispatch", di, json={"version": bounced["version"], "unit": "岳麓区"})
    replied = call("reply", "POST", f"/v1/orders/{oid}/reply", di, json={"text": "已修复路灯", "version": again["version"]})
    assert replied["replied_at"].endswith("+08:00")
    visited = call("visit", "POST", f"/v1/orders/{oid}/visit", op, json={"satisfaction": "满意"})
    assert visited["visited_at"].endswith("+08:00")
    assert {e["kind"] for e in visited["events"]} >= {"created", "dispatched", "bounced", "replied", "visited"}
    assert all(e["at"].endswith("+08:00") for e in visited["events"])

    call("list", "GET", "/v1/orders", di)
    call("hot spots", "GET", "/v1/hotspots", an)
    call("model", "GET", "/v1/model", op)
    written = call("knowledge edit", "POST", "/v1/knowledge", an, json={
        "question": "城市书房夜间开放到几点？",
        "answer": "本市城市书房一般开放到晚上22点，部分24小时书房凭身份证或读者证刷卡入内。",
        "unit": "市文旅广电局",
        "topic": "教育文体",
    })
    call("knowledge history", "GET", f"/v1/knowledge/{written['id']}", an)
    assert seen >= 15
