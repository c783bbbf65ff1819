"""The model endpoints: list, reload (admin) under load and on failure, retrain (analyst) from the service's orders."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from api.deps import ModelHolder
from api.export import export_orders
from api.settings import Settings
from tests.api.conftest import CALLS
from tests.training.bundles import clone_bundle
from triage.registry import Registry, ensure_registered


@pytest.fixture()
def models_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRIAGE_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


@pytest.fixture()
def model_holder(default_bundle: Path) -> ModelHolder:
    """Each test swaps its own holder: the session's one stays on the default model."""
    return ModelHolder(default_bundle)


@pytest.fixture()
def settings(database_url: str, tmp_path: Path, default_bundle: Path) -> Settings:
    return Settings(database_url=database_url, home=tmp_path, model_dir=default_bundle, rate_limit_per_minute=0)


def test_reload_switches_to_the_registry_current_and_keeps_the_old_one_on_failure(client, tokens, default_bundle, models_root) -> None:
    v2 = clone_bundle(default_bundle, models_root / "v2", "v2")
    ensure_registered(default_bundle)
    with Registry.edit() as registry:
        registry.register(v2)
        registry.promote("v2")
    assert client.post("/v1/models/reload", headers=tokens["analyst"]).status_code == 403
    response = client.post("/v1/models/reload", headers=tokens["admin"])
    assert response.status_code == 200, response.text
    assert response.json() == {"served": "v2", "path": str(models_root / "v2"), "replaced": "test-default"}
    listed = client.get("/v1/models", headers=tokens["analyst"]).json()
    assert listed["current"] == "v2" and listed["served"]["version"] == "v2"
    (v2 / "classifier.joblib").write_bytes(b"not a model")  # the current bundle breaks on disk
    response = client.post("/v1/models/reload", headers=tokens["admin"])
    assert response.status_code == 409 and "v2 still serves" in response.json()["detail"]
    assert client.post("/v1/suggestions", json={"text": CALLS["lights"]}, headers=tokens["operator"]).json()["model_version"] == "v2"


def test_requests_during_reloads_all_succeed(live_server: str, tokens, default_bundle, models_root) -> None:
    clone_bundle(default_bundle, models_root / "v2", "v2")
    ensure_registered(default_bundle)
    with Registry.edit() as registry:
        registry.register(models_root / "v2")
    stop = threading.Event()
    versions: set[str] = set()

    def hammer(i: int) -> list[int]:
        codes = []
        with httpx.Client(base_url=live_server, timeout=60) as http:
            while not stop.is_set():
                response = http.post("/v1/suggestions", json={"text": CALLS["stalls"] + str(i)}, headers=tokens["operator"])
                codes.append(response.status_code)
                if response.status_code == 200:
                    versions.add(response.json()["model_version"])
        return codes

    with ThreadPoolExecutor(6) as pool:
        running = [pool.submit(hammer, i) for i in range(6)]
        with httpx.Client(base_url=live_server, timeout=60) as http:
            for k in range(4):
                with Registry.edit() as registry:
                    registry.promote("v2") if k % 2 == 0 else registry.rollback()
                assert http.post("/v1/models/reload", headers=tokens["admin"]).status_code == 200
        stop.set()
        codes = [code for future in running for code in future.result()]
    assert len(codes) > 20 and set(codes) == {200}
    assert versions == {"v2", "test-default"}


def test_export_of_decided_orders_carries_the_dispatchers_correction(app, client, tokens, create, tmp_path) -> None:
    order = create(CALLS["stalls"])
    body = {"version": order["version"], "unit": "市城管局"}
    assert client.post(f"/v1/orders/{order['id']}/dispatch", json=body, headers=tokens["dispatcher"]).status_code == 200
    out = tmp_path / "orders.jsonl"
    assert export_orders(app.state.sessions, out) == 1
    assert '"unit": "市城管局"' in out.read_text(encoding="utf-8")


def test_retrain_needs_an_analyst_and_decided_orders(client, tokens, models_root) -> None:
    assert client.post("/v1/models/retrain", headers=tokens["operator"]).status_code == 403
    response = client.post("/v1/models/retrain", headers=tokens["analyst"])
    assert response.status_code == 409 and "no decided orders" in response.json()["detail"]


def test_a_retrain_while_another_runs_is_409_and_the_training_runs_in_a_child_process(client, tokens, create, models_root) -> None:
    from training.retrain import _running

    order = create(CALLS["stalls"])
    body = {"version": order["version"], "unit": "市城管局"}
    assert client.post(f"/v1/orders/{order['id']}/dispatch", json=body, headers=tokens["dispatcher"]).status_code == 200
    with _running(models_root):  # another process's retrain holds the models folder
        response = client.post("/v1/models/retrain", headers=tokens["analyst"])
    assert response.status_code == 409 and "already running" in response.json()["detail"]
