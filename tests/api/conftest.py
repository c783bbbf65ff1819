"""API fixtures: every test runs on SQLite and, when a server is reachable, on PostgreSQL.

PostgreSQL: the development and CI machines run one on 127.0.0.1:5432 (database `test`, trust auth).
Each test gets its own schema, dropped afterwards. Set TRIAGE_REQUIRE_POSTGRES=1 (CI does) to fail
instead of skipping when the server is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ModelHolder
from api.security import add_user
from api.settings import Settings
from tests.servers import serve_in_thread
from training.service_process import POSTGRES, postgres_schema

ROLES = ("operator", "dispatcher", "analyst", "admin")


def _postgres_reachable() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "no server here"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    problem = _postgres_reachable()
    if problem is None:
        return True
    if os.environ.get("TRIAGE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (TRIAGE_REQUIRE_POSTGRES=1) but not reachable at {POSTGRES}: {problem}")
    return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'triage.db'}"
        return
    if not request.getfixturevalue("postgres_available"):
        pytest.skip(f"no PostgreSQL at {POSTGRES}")
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def model_holder(default_bundle: Path) -> ModelHolder:
    return ModelHolder(default_bundle)


@pytest.fixture()
def settings(database_url: str, tmp_path: Path, default_bundle: Path) -> Settings:
    return Settings(database_url=database_url, home=tmp_path, model_dir=default_bundle)


@pytest.fixture()
def app(settings: Settings, model_holder: ModelHolder) -> FastAPI:
    return create_app(settings, model=model_holder)


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture()
def tokens(client: TestClient, app: FastAPI) -> dict[str, dict[str, str]]:
    """Authorization headers for one user of each role."""
    headers = {}
    with app.state.sessions() as session:
        for role in ROLES:
            _, token = add_user(session, f"{role}-1", role)
            headers[role] = {"Authorization": f"Bearer {token}"}
    return headers


@pytest.fixture()
def create(client: TestClient, tokens: dict[str, dict[str, str]]) -> Callable[..., dict]:
    """Create an order as the operator and return its JSON."""

    def _create(text: str, **extra: object) -> dict:
        response = client.post("/v1/orders", json={"text": text, **extra}, headers=tokens["operator"])
        assert response.status_code == 201, response.text
        return response.json()

    return _create


@pytest.fixture()
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by a real uvicorn on a free loopback port, for tests that need true concurrency."""
    with serve_in_thread(app, limit_concurrency=1000, backlog=2048) as base:
        yield base


CALLS = {
    "stalls": "喂你好，开福区伍家岭那边有个小区门口天天占道经营，路都堵死了，我电话13873112345",
    "fund": "我想问一下住房公积金怎么提取，我身份证号430102199001011234",
    "lights": "岳麓区麓山南路那一段路灯坏了一个多星期了，晚上黑漆漆的很危险",
    "fight": "我邻居天天跟我吵架，我们两家的矛盾你们给评评理",
}
