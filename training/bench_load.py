"""Load test of the running service: a sustained mix of calls, then a check that no order was lost or doubled.

Run: `python -m training.bench_load [--seconds 60] [--concurrency 16] [--workers 2]` (PostgreSQL at
127.0.0.1:5432, database `test`, in a fresh schema dropped afterwards).

Starts `uvicorn api.app:create_app --workers N` on 127.0.0.1 and drives it with async httpx clients, each
picking for every request: create an order (45%, each with its own Idempotency-Key, retried with the same
key after a transport error or a 503), a suggestion (30%), a dispatch of an order this run created (15%),
stats (10%). Prints requests/s, p50/p99 per kind and errors (5xx, transport errors, unexpected 4xx), then
compares the database with what the clients were told: every acknowledged key exactly once, nothing else.
Rate limiting is switched off for the run (TRIAGE_RATE_LIMIT_PER_MINUTE=0): it measures the service.
Exits non-zero when an order is lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

from api.db import make_engine, make_session_factory, migrate
from api.security import add_user
from training.datasets import own_corpus
from training.service_process import free_port, postgres_schema, start_service, wait_until_healthy
from triage.resources import DEFAULT_MODEL_DIR
from triage.units import default_catalogue

MIX = (("create", 0.45), ("suggest", 0.30), ("dispatch", 0.15), ("stats", 0.10))


class Driver:
    """Shared state of the clients: latencies, outcomes, acknowledged keys and orders waiting for dispatch."""

    def __init__(self, base: str, tokens: dict[str, str], texts: list[str], seed: int) -> None:
        self.base = base
        self.headers = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
        self.texts = texts
        self.random = random.Random(seed)
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, Counter[str]] = defaultdict(Counter)
        self.acknowledged: dict[str, int] = {}
        self.pending: list[int] = []
        self.errors = 0

    async def _timed(self, kind: str, client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            response = await client.request(method, self.base + path, **kw)
        except httpx.TransportError as exc:
            self.status[kind][type(exc).__name__] += 1
            self.errors += 1
            return None
        self.latency[kind].append(time.perf_counter() - start)
        self.status[kind][str(response.status_code)] += 1
        return response

    async def create(self, client: httpx.AsyncClient) -> None:
        key = uuid.uuid4().hex
        body = {"text": self.random.choice(self.texts)}
        for _ in range(5):  # the console's retry: same key, same body
            response = await self._timed("create", client, "POST", "/v1/orders", json=body,
                                         headers={**self.headers["operator"], "Idempotency-Key": key})
            if response is not None and response.status_code in (200, 201):
                order = response.json()
                self.acknowledged[key] = order["id"]
                if order["status"] == "pending":
                    self.pending.append(order["id"])
                return
            if response is not None and response.status_code != 503:
                self.errors += 1
                return
            await asyncio.sleep(0.2)

    async def suggest(self, client: httpx.AsyncClient) -> None:
        response = await self._timed("suggest", client, "POST", "/v1/suggestions",
                                     json={"text": self.random.choice(self.texts)}, headers=self.headers["operator"])
        if response is None or response.status_code != 200:
            self.errors += response is not None

    async def dispatch(self, client: httpx.AsyncClient) -> None:
        if not self.pending:
            return await self.create(client)
        order_id = self.pending.pop(self.random.randrange(len(self.pending)))
        response = await self._timed("dispatch", client, "POST", f"/v1/orders/{order_id}/dispatch",
                                     json={"version": 1}, headers=self.headers["dispatcher"])
        # 422: the suggestion named no unit (an out-of-scope call has none): a correct refusal, not an error
        if response is not None and response.status_code not in (200, 422):
            self.errors += 1

    async def stats(self, client: httpx.AsyncClient) -> None:
        response = await self._timed("stats", client, "GET", "/v1/stats", headers=self.headers["analyst"])
        if response is not None and response.status_code != 200:
            self.errors += 1

    async def run(self, concurrency: int, seconds: float) -> float:
        kinds = [k for k, _ in MIX]
        weights = [w for _, w in MIX]
        stop = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

        async def client_loop(client: httpx.AsyncClient) -> None:
            while time.perf_counter() < stop:
                await getattr(self, self.random.choices(kinds, weights)[0])(client)

        started = time.perf_counter()
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        return time.perf_counter() - started


def _figures(driver: Driver, elapsed: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    total = 0
    for kind, values in sorted(driver.latency.items()):
        ms = np.array(values) * 1000
        total += len(values)
        out[kind] = {"requests": len(values), "per_s": round(len(values) / elapsed, 1),
                     "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
                     "status": dict(driver.status[kind])}
    out["all"] = {"requests": total, "per_s": round(total / elapsed, 1), "errors": driver.errors}
    return out


def _check_orders(engine: sa.Engine, acknowledged: dict[str, int]) -> dict[str, int]:
    """Lost: acknowledged but absent (or under another id); duplicated: a key stored more than once."""
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT idempotency_key, id FROM orders")).all()
    stored: dict[str, list[int]] = defaultdict(list)
    for key, order_id in rows:
        stored[key].append(order_id)
    lost = sum(1 for key, order_id in acknowledged.items() if stored.get(key) != [order_id])
    duplicated = sum(len(ids) - 1 for ids in stored.values() if len(ids) > 1)
    return {"acknowledged": len(acknowledged), "stored": len(rows), "lost": lost, "duplicated": duplicated,
            "unacknowledged_stored": sum(1 for key in stored if key not in acknowledged)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.model / "manifest.json").is_file():
        sys.exit(f"no model at {args.model}: run `triage train` first")

    with postgres_schema("load") as url:
        _run(args, url)


def _run(args: argparse.Namespace, url: str) -> None:
    """Start the service on `url`, drive it, print the figures and the order check, stop it."""
    engine = make_engine(url, pool_size=2)
    server: subprocess.Popen[bytes] | None = None
    try:
        migrate(engine)
        tokens = {}
        with make_session_factory(engine)() as session:
            for role in ("operator", "dispatcher", "analyst"):
                _, tokens[role] = add_user(session, f"load-{role}", role)
        texts = [r.text for r in own_corpus(default_catalogue()).records]
        port = free_port()
        env = {"TRIAGE_DATABASE_URL": url, "TRIAGE_HOME": tempfile.mkdtemp(), "TRIAGE_RATE_LIMIT_PER_MINUTE": "0",
               "TRIAGE_MODEL_DIR": str(args.model.resolve()), "TRIAGE_LOG_FORMAT": "json"}
        server = start_service(env, port=port, workers=args.workers)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base, server)
        except RuntimeError as exc:
            sys.exit(str(exc))
        warm = Driver(base, tokens, texts, args.seed + 1)
        asyncio.run(warm.run(args.concurrency, 3))  # every worker loaded and warm; its orders are checked too
        driver = Driver(base, tokens, texts, args.seed)
        elapsed = asyncio.run(driver.run(args.concurrency, args.seconds))
        check = _check_orders(engine, {**warm.acknowledged, **driver.acknowledged})
        report = {"workers": args.workers, "concurrency": args.concurrency, "seconds": round(elapsed, 1),
                  "cpus": os.cpu_count(), **_figures(driver, elapsed), "orders": check}
        print(json.dumps(report, ensure_ascii=False, indent=2))
        if check["lost"] or check["duplicated"]:
            sys.exit("orders were lost or duplicated")
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        engine.dispose()

if __name__ == "__main__":
    main()
