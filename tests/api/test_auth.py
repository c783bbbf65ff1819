"""Tokens and roles: 401 without a known token, 403 for the wrong role, tokens stored only as hashes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from api.security import first_admin

ENDPOINTS = {
    ("POST", "/v1/orders"): {"operator"},
    ("POST", "/v1/suggestions"): {"operator"},
    ("GET", "/v1/orders"): {"operator", "dispatcher", "analyst"},
    ("GET", "/v1/orders/1"): {"operator", "dispatcher", "analyst"},
    ("POST", "/v1/orders/1/dispatch"): {"dispatcher"},
    ("POST", "/v1/orders/1/bounce"): {"dispatcher"},
    ("POST", "/v1/orders/1/reply"): {"dispatcher"},
    ("POST", "/v1/orders/1/visit"): {"operator", "dispatcher"},
    ("GET", "/v1/stats"): {"dispatcher", "analyst"},
    ("GET", "/v1/exports/labelled-orders"): {"analyst"},
    ("POST", "/v1/users"): set(),
    ("GET", "/v1/model"): {"operator", "dispatcher", "analyst"},
    ("GET", "/v1/units"): {"operator", "dispatcher", "analyst"},
}


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
def test_every_endpoint_needs_a_known_token(client, tokens, method: str, path: str) -> None:
    missing = client.request(method, path)
    assert missing.status_code == 401 and "Bearer" in missing.json()["detail"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    unknown = client.request(method, path, headers={"Authorization": "Bearer tri_not-a-real-token"})
    assert unknown.status_code == 401 and unknown.json()["detail"] == "unknown or revoked token"


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
def test_each_endpoint_lets_in_only_its_roles(client, tokens, method: str, path: str) -> None:
    allowed = ENDPOINTS[(method, path)] | {"admin"}
    for role, headers in tokens.items():
        status = client.request(method, path, headers=headers).status_code
        if role in allowed:
            assert status not in (401, 403), (role, method, path)
        else:
            response = client.request(method, path, headers=headers)
            assert status == 403, (role, method, path)
            assert role in response.json()["detail"]


def test_health_needs_no_token(client) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["model"] == "test-default"


def test_tokens_are_stored_only_as_hashes(client, tokens, app: FastAPI) -> None:
    token = tokens["dispatcher"]["Authorization"].removeprefix("Bearer ")
    with app.state.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT name, role, token_hash FROM users")).all()
    assert {r.role for r in rows} == {"operator", "dispatcher", "analyst", "admin"}
    assert all(token not in str(r) for r in rows)


def test_admin_adds_users_and_the_token_works_once_shown(client, tokens) -> None:
    created = client.post("/v1/users", json={"name": "李四", "role": "analyst"}, headers=tokens["admin"])
    assert created.status_code == 201
    token = created.json()["token"]
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {"name": "李四", "role": "analyst"}
    again = client.post("/v1/users", json={"name": "李四", "role": "operator"}, headers=tokens["admin"])
    assert again.status_code == 409
    assert client.post("/v1/users", json={"name": "x", "role": "root"}, headers=tokens["admin"]).status_code == 422


def test_a_first_admin_is_made_only_for_an_empty_database(app: FastAPI, client) -> None:
    with app.state.sessions() as session:
        token = first_admin(session)
        assert token is not None
        assert first_admin(session) is None
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["role"] == "admin"
