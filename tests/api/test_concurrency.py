"""Many clients at once, on a real server: one dispatch wins, no order is lost or duplicated by retries."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.conftest import CALLS
from triage.normalise import normalise


def test_twenty_concurrent_dispatches_of_one_order_exactly_one_wins(live_server: str, tokens, create) -> None:
    order = create(CALLS["stalls"])
    units = ["开福区", "市城管局", "芙蓉区", "市交通运输局", "市住建委"]

    def dispatch(i: int) -> int:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            body = {"version": order["version"], "unit": units[i % len(units)]}
            return http.post(f"/v1/orders/{order['id']}/dispatch", json=body, headers=tokens["dispatcher"]).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(dispatch, range(20)))
    assert sorted(statuses) == [200] + [409] * 19
    with httpx.Client(base_url=live_server) as http:
        final = http.get(f"/v1/orders/{order['id']}", headers=tokens["dispatcher"]).json()
    assert final["version"] == 2
    assert [e["kind"] for e in final["events"]] == ["created", "dispatched"]


def test_two_hundred_concurrent_creations_with_retries_lose_and_duplicate_nothing(live_server: str, tokens) -> None:
    """Each of 200 orders is sent twice at once with the same Idempotency-Key (a client retrying). A client told
    503 (the database busy beyond its timeout, as SQLite can be on a loaded machine: "nothing was saved") sends the
    same request again after Retry-After, as the API's contract asks; nothing may be lost or duplicated either way."""
    texts = [f"{CALLS['lights']}，第{i}次反映" for i in range(200)]

    def create(i: int) -> tuple[int, int, int]:
        headers = {**tokens["operator"], "Idempotency-Key": f"retry-{i}"}
        with httpx.Client(base_url=live_server, timeout=120) as http:
            for _ in range(5):
                response = http.post("/v1/orders", json={"text": texts[i]}, headers=headers)
                if response.status_code != 503:
                    break
                time.sleep(float(response.headers["Retry-After"]))
        return i, response.status_code, response.json()["id"]

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(create, [i for i in range(200) for _ in range(2)]))
    assert {status for _, status, _ in results} <= {200, 201}
    by_key: dict[int, set[int]] = {}
    for i, _, order_id in results:
        by_key.setdefault(i, set()).add(order_id)
    assert all(len(ids) == 1 for ids in by_key.values())
    assert len({next(iter(ids)) for ids in by_key.values()}) == 200
    assert sum(status == 201 for _, status, _ in results) == 200
    with httpx.Client(base_url=live_server) as http:
        listed = http.get("/v1/orders", params={"limit": 200}, headers=tokens["operator"]).json()
    assert listed["total"] == 200
    assert sorted(o["text"] for o in listed["items"]) == sorted(normalise(t) for t in texts)
