"""Benchmark of the running service over loopback: latency and requests/s for suggestions and order creation.

Run: `python -m training.bench_service [--workers 2] [--concurrency 16] [--seconds 20] [--database postgresql]`
(`--startup-only`: only the start figures). Starts `uvicorn api.app:create_app` in its own processes on a fresh
database, drives it with an async httpx client from this process, prints figures; asserts nothing.
Goals (dispatch-service issue, 2 cores): p50 under 15 ms, over 300 requests/s for POST /v1/suggestions.
`startup`: seconds from starting the service with an existing model (fresh SQLite database, migrated at start)
to its first `/healthz` ok, with one worker and with `--workers`; median and min of `--startup-runs` starts
(goal of the cold-start issue: under 3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

from api.db import make_engine, make_session_factory, migrate
from api.security import add_user
from training.datasets import own_corpus
from training.service_process import free_port, postgres_schema, start_service, wait_until_healthy
from triage.resources import DEFAULT_MODEL_DIR
from triage.units import default_catalogue


async def _drive(base: str, token: str, path: str, bodies: list[dict], concurrency: int, seconds: float) -> dict[str, float]:
    """`concurrency` clients send requests back to back for `seconds`; returns latency and rate figures."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < stop:
                body = bodies[i % len(bodies)]
                i += concurrency
                extra = {"Idempotency-Key": uuid.uuid4().hex} if path == "/v1/orders" else {}
                started = time.perf_counter()
                response = await client.post(path, json=body, headers=extra)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 400:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def _latency_alone(base: str, token: str, path: str, bodies: list[dict], n: int) -> dict[str, float]:
    """One client, one request at a time: the latency an operator sees on an idle service."""
    ms = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for i in range(n):
            extra = {"Idempotency-Key": uuid.uuid4().hex} if path == "/v1/orders" else {}
            started = time.perf_counter()
            client.post(path, json=bodies[i % len(bodies)], headers=extra).raise_for_status()
            ms.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def startup(model: Path, workers: int, runs: int) -> dict[str, float]:
    """Start the service `runs` times on a fresh SQLite database; seconds to the first /healthz ok."""
    seconds = []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp())
        env = {"TRIAGE_DATABASE_URL": f"sqlite:///{home / 'triage.db'}", "TRIAGE_HOME": str(home),
               "TRIAGE_MODEL_DIR": str(model.resolve()), "TRIAGE_LOG_FORMAT": "json"}
        port = free_port()
        started = time.perf_counter()
        server = start_service(env, port=port, workers=workers, access_log=False)
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", server, interval=0.02)
            seconds.append(time.perf_counter() - started)
        finally:
            server.terminate()
            server.wait(30)
    return {"median_s": round(float(np.median(seconds)), 2), "min_s": round(min(seconds), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--startup-runs", type=int, default=3, help="starts timed per worker count (0: none)")
    parser.add_argument("--startup-only", action="store_true", help="print the start figures and stop")
    args = parser.parse_args()
    if not (args.model / "manifest.json").is_file():
        sys.exit(f"no model at {args.model}: run `triage train` first")
    if args.startup_runs:
        start = {f"{n}_workers": startup(args.model, n, args.startup_runs) for n in sorted({1, args.workers})}
        print(json.dumps({"startup": start}, indent=2))
    if args.startup_only:
        return

    with ExitStack() as stack:
        home = Path(tempfile.mkdtemp())
        url = (
            f"sqlite:///{home / 'triage.db'}" if args.database == "sqlite" else stack.enter_context(postgres_schema("bench"))
        )
        _run(args, url, home)


def _run(args: argparse.Namespace, url: str, home: Path) -> None:
    """Start the service on `url`, measure it, print the figures, stop it."""
    engine = make_engine(url)
    migrate(engine)
    with make_session_factory(engine)() as session:
        _, token = add_user(session, "bench", "operator")
    bodies = [{"text": r.text} for r in own_corpus(default_catalogue()).records]
    port = free_port()
    env = {
        "TRIAGE_DATABASE_URL": url,
        "TRIAGE_HOME": str(home),
        "TRIAGE_MODEL_DIR": str(args.model.resolve()),
        "TRIAGE_RATE_LIMIT_PER_MINUTE": "0",  # one token drives it all
        "TRIAGE_LOG_FORMAT": "json",
    }
    server = start_service(env, port=port, workers=args.workers, output=None, access_log=False)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(base, server)
        except RuntimeError as exc:
            sys.exit(str(exc))
        _latency_alone(base, token, "/v1/suggestions", bodies, 50)  # warm every worker
        figures: dict[str, object] = {"workers": args.workers, "concurrency": args.concurrency, "database": args.database}
        for name, path in (("suggestions", "/v1/suggestions"), ("orders", "/v1/orders")):
            figures[f"{name}_idle"] = _latency_alone(base, token, path, bodies, 200)
            figures[f"{name}_load"] = asyncio.run(_drive(base, token, path, bodies, args.concurrency, args.seconds))
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    finally:
        server.terminate()
        server.wait(30)
        engine.dispose()


if __name__ == "__main__":
    main()
