"""`triage serve` and `triage users add`: the README's main command, from a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from training.cli import app
from training.service_process import free_port


def test_serve_starts_prints_a_first_admin_token_and_serves(tmp_path: Path, default_bundle: Path) -> None:
    port = free_port()
    env = {**os.environ, "TRIAGE_HOME": str(tmp_path / "home")}
    env.pop("TRIAGE_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "training.cli", "serve", "--port", str(port), "--model", str(default_bundle)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Uvicorn running" in line or process.poll() is not None:
                break
        output = "".join(lines)
        token = re.search(r"(tri_[\w-]{40,})", output)
        assert token, output
        assert (tmp_path / "home" / "triage.db").is_file()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            assert http.get("/healthz").json()["status"] == "ok"
            me = http.get("/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"}).json()
            assert me == {"name": "admin", "role": "admin"}
    finally:
        process.terminate()
        process.wait(20)


def test_users_add_prints_the_token_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path))
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["users", "add", "王五", "--role", "dispatcher"])
    assert result.exit_code == 0, result.output
    assert re.search(r"tri_[\w-]{40,}", result.stdout)
    again = runner.invoke(app, ["users", "add", "王五", "--role", "dispatcher"])
    assert again.exit_code == 2 and "already exists" in again.output
    wrong = runner.invoke(app, ["users", "add", "赵六", "--role", "boss"])
    assert wrong.exit_code == 2 and "unknown role" in wrong.output
