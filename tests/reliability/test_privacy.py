"""Personal numbers never reach the database, the logs or the export; logs are JSON with ids, not text or tokens."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.logs import ACCESS_LOGGER, JsonFormatter, redact

PHONE, PHONE_SPACED, LANDLINE = "13873112345", "139 0731 6688", "0731-88123456"
ID_CARD, BANK_CARD, BANK_SPACED = "430102199001011234", "6217000010012345678", "6222 0212 3456 7890 123"
SECRETS = [PHONE, PHONE_SPACED, LANDLINE, ID_CARD, BANK_CARD, BANK_SPACED]
FRAGMENTS = ["73112345", "07316688", "88123456", "199001011234", "10012345678", "3456 7890", "34567890"]
"""Pieces of the numbers above: a partly masked number is still a leak."""
MARKER = "伍家岭菜市场"
"""A phrase of the transcript: logs carry ids, never the call's words."""


@pytest.fixture()
def captured() -> Iterator[io.StringIO]:
    """Every record, at every level, as the service's JSON handler would write it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _dump_database(app: FastAPI) -> str:
    """Every column of every row of every table, as text."""
    engine: sa.Engine = app.state.engine
    metadata = sa.MetaData()
    metadata.reflect(engine)
    out = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                out.append(f"{table.name}: {tuple(row)!r} {json.dumps([str(v) for v in row], ensure_ascii=False)}")
    assert any(line.startswith("orders:") for line in out)
    return "\n".join(out)


def _assert_clean(where: str, haystack: str) -> None:
    for secret in SECRETS + FRAGMENTS:
        assert secret not in haystack, f"{secret!r} found in {where}"
        assert secret.replace(" ", "").replace("-", "") not in haystack, f"{secret!r} (digits) found in {where}"


def test_lifecycle_leaks_no_personal_numbers(
    client: TestClient, app: FastAPI, tokens: dict[str, dict[str, str]], captured: io.StringIO
) -> None:
    op, di, an = tokens["operator"], tokens["dispatcher"], tokens["analyst"]
    text = (
        f"喂你好，开福区{MARKER}门口天天占道经营，路都堵死了。我电话{PHONE}，座机{LANDLINE}，"
        f"另一个手机{PHONE_SPACED}，身份证{ID_CARD}，银行卡{BANK_CARD}，还有卡号{BANK_SPACED}"
    )
    created = client.post(
        "/v1/orders",
        json={"text": text, "address": f"开福区伍家岭 联系{PHONE} 卡{BANK_CARD}"},
        headers={**op, "Idempotency-Key": "privacy-1"},
    )
    assert created.status_code == 201, created.text
    order = created.json()
    oid = order["id"]
    replay = client.post("/v1/orders", json={"text": text, "address": f"开福区伍家岭 联系{PHONE} 卡{BANK_CARD}"},
                         headers={**op, "Idempotency-Key": "privacy-1"})
    assert replay.status_code == 200
    steps = [
        ("dispatch", di, {"version": 1, "unit": "开福区", "note": f"已联系{PHONE}，身份证{ID_CARD}"}),
        ("bounce", di, {"reason": f"不属于本单位，请联系{LANDLINE}或{PHONE_SPACED}"}),
        ("dispatch", di, {"version": 3, "unit": "市城管局", "note": f"卡号{BANK_SPACED}"}),
        ("reply", di, {"text": f"已处理，回电{PHONE}，退款至{BANK_CARD}"}),
        ("visit", op, {"satisfaction": "满意", "note": f"市民留了新号码{PHONE_SPACED}和身份证{ID_CARD}"}),
    ]
    for step, headers, body in steps:
        response = client.post(f"/v1/orders/{oid}/{step}", json=body, headers=headers)
        assert response.status_code == 200, (step, response.text)
        _assert_clean(f"the {step} response", response.text)
    # refused requests must not echo what they were sent either
    bad = client.post("/v1/orders", json={"text": text, "phone": PHONE}, headers=op)
    assert bad.status_code == 422
    _assert_clean("a 422 response", bad.text)
    client.post("/v1/suggestions", json={"text": text}, headers=op)
    client.get("/v1/orders", params={"unit": PHONE}, headers=op)  # even a filter value is not logged
    export = client.get("/v1/exports/labelled-orders", headers=an)
    assert export.status_code == 200 and export.text.strip()

    _assert_clean("the database", _dump_database(app))
    _assert_clean("the export", export.text)
    logs = captured.getvalue()
    _assert_clean("the logs", logs)
    assert MARKER not in logs
    for header in tokens.values():
        token = header["Authorization"].removeprefix("Bearer ")
        assert token not in logs and token[8:24] not in logs

    access = [json.loads(line) for line in logs.splitlines() if f'"logger": "{ACCESS_LOGGER}"' in line]
    assert access, "no request log"
    routes = {(e["method"], e["route"], e["status"]) for e in access}
    assert ("POST", "/v1/orders", 201) in routes and ("POST", "/v1/orders/{order_id}/dispatch", 200) in routes
    assert all(isinstance(e["duration_ms"], float) for e in access)
    assert {e.get("order_id") for e in access if e["route"].startswith("/v1/orders/")} == {oid}
    assert any(e.get("order_id") == oid for e in access if e["route"] == "/v1/orders" and e["status"] == 201)


def test_formatter_masks_whatever_is_logged() -> None:
    """Even a careless `logger.exception(transcript)` or a database error quoting its parameters is masked."""
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed on %s", (f"电话{PHONE} 卡{BANK_CARD}",), None)
    try:
        raise ValueError(f"[parameters: ('{ID_CARD}', 'Bearer tri_abcdefghijklmnopqrstuvwxyz')]")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["exc_type"] == "ValueError"
    _assert_clean("a formatted record", line)
    assert "tri_abcdefghijklmnopqrstuvwxyz" not in line
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
