"""Per-token rate limits: 429 with Retry-After past the allowance, per token, refilled over time, off at 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ModelHolder
from api.ratelimit import MAX_BUCKETS, TokenBuckets
from api.security import add_user
from api.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_spends_refills_and_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(60, clock=clock)  # one a second, bursts of 60
    assert all(buckets.take("a") == 0 for _ in range(60))
    wait = buckets.take("a")
    assert 0 < wait <= 1.0
    assert buckets.take("b") == 0  # another token has its own bucket
    clock.now += 1.0
    assert buckets.take("a") == 0
    assert buckets.take("a") > 0
    clock.now += 3600
    assert all(buckets.take("a") == 0 for _ in range(60))  # refills to the cap, not beyond
    assert buckets.take("a") > 0


def test_buckets_are_bounded() -> None:
    buckets = TokenBuckets(10, clock=Clock())
    for k in range(MAX_BUCKETS + 50):
        buckets.take(f"k{k}")
    assert len(buckets._buckets) == MAX_BUCKETS


def _client(tmp_path: Path, bundle: Path, holder: ModelHolder, per_minute: int) -> tuple[TestClient, dict, dict]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'rl.db'}", home=tmp_path, model_dir=bundle,
                        rate_limit_per_minute=per_minute)
    app = create_app(settings, model=holder)
    client = TestClient(app)
    client.__enter__()
    with app.state.sessions() as session:
        _, a = add_user(session, "a", "operator")
        _, b = add_user(session, "b", "operator")
    return client, {"Authorization": f"Bearer {a}"}, {"Authorization": f"Bearer {b}"}


def test_api_answers_429_with_retry_after(tmp_path: Path, default_bundle: Path, model_holder: ModelHolder) -> None:
    client, a, b = _client(tmp_path, default_bundle, model_holder, per_minute=5)
    try:
        assert [client.get("/v1/me", headers=a).status_code for _ in range(5)] == [200] * 5
        refused = client.get("/v1/me", headers=a)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 12
        assert "5 per minute" in refused.json()["detail"]
        assert client.get("/v1/me", headers=b).status_code == 200  # per token
        assert client.get("/healthz").status_code == 200  # no token, no limit
        schema = client.get("/openapi.json").json()
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                if "401" in operation.get("responses", {}):
                    assert "429" in operation["responses"], (method, path)
    finally:
        client.__exit__(None, None, None)


@pytest.mark.parametrize("per_minute", [0])
def test_zero_disables(tmp_path: Path, default_bundle: Path, model_holder: ModelHolder, per_minute: int) -> None:
    client, a, _ = _client(tmp_path, default_bundle, model_holder, per_minute=per_minute)
    try:
        assert {client.get("/v1/me", headers=a).status_code for _ in range(50)} == {200}
    finally:
        client.__exit__(None, None, None)
