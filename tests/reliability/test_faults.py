"""Faults: the SQLite disk fills up (clear 507, nothing half-written, no corruption), and a worker process is
killed mid-request while clients retry with their Idempotency-Key (exactly one order per key)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.db import make_engine, migrate
from api.deps import ModelHolder
from api.security import add_user
from api.settings import Settings
from tests.reliability.conftest import CALLS, POSTGRES
from training.service_process import free_port, healthy, postgres_schema, start_service


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_disk_full_is_a_clear_507_and_nothing_is_corrupted(
    client: TestClient, app: FastAPI, tokens: dict[str, dict[str, str]], database_url: str
) -> None:
    op, di = tokens["operator"], tokens["dispatcher"]
    first = client.post("/v1/orders", json={"text": CALLS["stalls"]}, headers=op).json()
    engine: sa.Engine = app.state.engine

    def full(dbapi_connection: Any, _record: Any) -> None:
        """No page beyond those already used: the next write that needs one fails with SQLITE_FULL."""
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    sa.event.listen(engine, "connect", full)
    engine.dispose()
    try:
        refused = []
        for k in range(6):  # fill what free pages remain, then run out
            response = client.post("/v1/orders", json={"text": CALLS["lights"] * 40, "address": f"第{k}号"}, headers=op)
            refused.append(response)
            if response.status_code == 507:
                break
        assert refused[-1].status_code == 507, [r.status_code for r in refused]
        assert "no space left" in refused[-1].json()["detail"]
        assert client.get("/v1/orders", headers=op).status_code == 200  # reads still work
        dispatch = client.post(f"/v1/orders/{first['id']}/dispatch", json={"version": 1, "unit": "开福区", "note": "满" * 2000},
                               headers=di)
        assert dispatch.status_code in (200, 507)
    finally:
        sa.event.remove(engine, "connect", full)
        engine.dispose()
    stored = client.get("/v1/orders", params={"limit": 200}, headers=op).json()
    created = 1 + sum(r.status_code == 201 for r in refused)
    assert stored["total"] == created  # the refused order was not half-written
    order = client.get(f"/v1/orders/{first['id']}", headers=op).json()
    assert (order["status"], order["version"]) == (("dispatched", 2) if dispatch.status_code == 200 else ("pending", 1))
    assert len(order["events"]) == order["version"]  # every step with its event, or neither
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert client.post("/v1/orders", json={"text": CALLS["fund"]}, headers=op).status_code == 201  # space again


def _children(pid: int) -> list[int]:
    """The uvicorn worker processes of a supervisor (not multiprocessing's resource tracker)."""
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(line.split()[0]) for line in out.stdout.splitlines() if line.strip() and "resource_tracker" not in line]


@pytest.fixture()
def two_workers(
    postgres_available: bool, tmp_path: Path, default_bundle: Path
) -> Iterator[tuple[str, str, sa.Engine, int]]:
    """`uvicorn api.app:create_app --factory --workers 2` on a fresh PostgreSQL schema.

    Yields (base url, an operator token, an engine on the schema, the supervisor's pid).
    """
    if not postgres_available:
        pytest.skip(f"no PostgreSQL at {POSTGRES}")
    with postgres_schema() as url:
        engine = make_engine(url, pool_size=2)
        migrate(engine)
        with sa.orm.Session(engine) as session:
            _, token = add_user(session, "op", "operator")
        port = free_port()
        env = {"TRIAGE_DATABASE_URL": url, "TRIAGE_MODEL_DIR": str(default_bundle), "TRIAGE_HOME": str(tmp_path),
               "TRIAGE_RATE_LIMIT_PER_MINUTE": "0"}
        log = (tmp_path / "server.log").open("wb")
        server = start_service(env, port=port, workers=2, output=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while len(_children(server.pid)) < 2 or not healthy(base):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start: " + (tmp_path / "server.log").read_text()[-2000:])
                time.sleep(0.3)
            yield base, token, engine, server.pid
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
            engine.dispose()


def _connections(pid: int, port: int) -> int:
    """Established TCP connections to `port` held by process `pid` (Linux /proc), i.e. requests in flight."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(fields[9])
    count = 0
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}").removeprefix("socket:[").rstrip("]") in inodes:
                    count += 1
    return count


def test_worker_killed_mid_request_then_retries_give_exactly_one_order_per_key(
    two_workers: tuple[str, str, sa.Engine, int],
) -> None:
    base, token, engine, supervisor = two_workers
    headers = {"Authorization": f"Bearer {token}"}
    keys = [f"kill-{k}" for k in range(12)]
    text = CALLS["stalls"] + "，" + "路边摊贩占道经营，油烟噪音扰民，" * 600  # long: the kill lands mid-request

    def call_until_done(key: str) -> tuple[int, int]:
        """What a console does: retry the same call with the same key until it gets an answer."""
        attempts = 0
        while True:
            attempts += 1
            try:
                response = httpx.post(f"{base}/v1/orders", json={"text": text}, timeout=30,
                                      headers={**headers, "Idempotency-Key": key})
                if response.status_code in (200, 201):
                    return response.json()["id"], attempts
                assert response.status_code == 503, response.text  # the only other acceptable answer
            except httpx.TransportError:
                pass  # the worker died with our request: retry
            assert attempts < 60, f"{key}: no answer after {attempts} attempts"
            time.sleep(0.2)

    port = int(base.rsplit(":", 1)[1])
    with concurrent.futures.ThreadPoolExecutor(len(keys)) as pool:
        futures = {key: pool.submit(call_until_done, key) for key in keys}
        deadline = time.monotonic() + 20
        while True:  # the worker holding the most requests in flight (the kernel may give one worker them all)
            busy = {pid: _connections(pid, port) for pid in _children(supervisor)}
            victim = max(busy, key=busy.__getitem__)
            if busy[victim] >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        os.kill(victim, signal.SIGKILL)
        results = {key: f.result() for key, f in futures.items()}
    assert any(attempts > 1 for _, attempts in results.values()), "the kill hit no request; the test proved nothing"
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT idempotency_key, id FROM orders")).all()
    per_key: dict[str, list[int]] = {}
    for key, order_id in rows:
        per_key.setdefault(key, []).append(order_id)
    assert sorted(per_key) == sorted(keys)
    assert all(len(ids) == 1 for ids in per_key.values()), per_key
    assert {key: per_key[key][0] for key in keys} == {key: results[key][0] for key in keys}


class TcpProxy:
    """A loopback TCP forwarder to PostgreSQL: stopping it is, for the service, the database going away
    (open connections cut, new ones refused); starting it again is the database back after a restart.
    The shared server itself is never touched."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            for s in [self._listener, *self._sockets]:
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                    s.close()
            self._sockets, self._listener = [], None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_database_restart_gives_503_with_retry_after_then_recovers_with_nothing_half_written(
    database_url: str, tmp_path: Path, default_bundle: Path, model_holder: ModelHolder
) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.start()
    proxied = database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
    assert proxied != database_url
    settings = Settings(database_url=proxied, home=tmp_path, model_dir=default_bundle, retry_after_s=3)
    app = create_app(settings, model=model_holder)
    try:
        with TestClient(app) as client:
            with app.state.sessions() as session:
                op = {"Authorization": f"Bearer {add_user(session, 'op', 'operator')[1]}"}
                di = {"Authorization": f"Bearer {add_user(session, 'di', 'dispatcher')[1]}"}
            first = client.post("/v1/orders", json={"text": CALLS["stalls"]}, headers=op)
            assert first.status_code == 201
            proxy.stop()  # the database goes away
            for method, path, body, headers in (
                ("POST", "/v1/orders", {"text": CALLS["lights"]}, {**op, "Idempotency-Key": "during-outage"}),
                ("POST", f"/v1/orders/{first.json()['id']}/dispatch", {"version": 1, "unit": "开福区"}, di),
                ("GET", "/v1/orders", None, op),
            ):
                response = client.request(method, path, json=body, headers=headers)
                assert response.status_code == 503, (path, response.status_code, response.text)
                assert response.headers["Retry-After"] == "3"
                assert "retry" in response.json()["detail"]
            health = client.get("/healthz").json()
            assert (health["status"], health["database"]) == ("degraded", "unavailable")
            proxy.start()  # back after its restart: the client's retry with the same key now succeeds
            retried = None
            for _ in range(10):
                retried = client.post("/v1/orders", json={"text": CALLS["lights"]},
                                      headers={**op, "Idempotency-Key": "during-outage"})
                if retried.status_code != 503:
                    break
                time.sleep(0.3)
            assert retried is not None and retried.status_code == 201, retried.text if retried else None
            again = client.post("/v1/orders", json={"text": CALLS["lights"]}, headers={**op, "Idempotency-Key": "during-outage"})
            assert again.status_code == 200 and again.json()["id"] == retried.json()["id"]
            page = client.get("/v1/orders", headers=op).json()
            assert page["total"] == 2  # nothing half-written while the database was away
            for order in page["items"]:
                assert (order["status"], order["version"], len(order["events"])) == ("pending", 1, 1)
            assert client.post(f"/v1/orders/{first.json()['id']}/dispatch", json={"version": 1, "unit": "开福区"},
                               headers=di).status_code == 200
    finally:
        proxy.stop()
