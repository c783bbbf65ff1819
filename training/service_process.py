"""The service in processes of its own, on a database of its own: what the service benchmarks and the
fault tests share (a free port, a throw-away PostgreSQL schema, uvicorn started and waited for)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

import httpx
import sqlalchemy as sa

POSTGRES = os.environ.get("TRIAGE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
"""The PostgreSQL server of the development and CI machines (database `test`, trust auth)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_schema(prefix: str = "t") -> Iterator[str]:
    """A database URL on a new schema of POSTGRES, dropped with everything in it afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_service(
    env: Mapping[str, str],
    *,
    port: int,
    workers: int,
    output: int | IO[bytes] | None = subprocess.DEVNULL,
    access_log: bool = True,
) -> subprocess.Popen[bytes]:
    """`uvicorn api.app:create_app --factory` on 127.0.0.1:`port` with `env` added to this environment."""
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    if not access_log:
        command.append("--no-access-log")
    stderr = None if output is None else subprocess.STDOUT  # None: both streams stay this process's own
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=output, stderr=stderr)


def wait_until_healthy(base: str, server: subprocess.Popen[bytes], timeout: float = 120, interval: float = 0.3) -> None:
    """Block until /healthz answers; raise when the server exits or `timeout` passes first. `interval`: seconds
    between tries (the startup benchmark polls finely, to time the start to a few hundredths)."""
    deadline = time.monotonic() + timeout
    while not healthy(base):
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError(f"the service at {base} did not start")
        time.sleep(interval)
