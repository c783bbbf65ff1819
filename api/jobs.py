"""The service's retrain job: `triage retrain` run as a child process, so that the service never imports `training/`.

A child process also keeps a minute of training off the request workers' memory and interpreter, and a crash in it
cannot take the service down. The command prints its report as JSON on stdout; its exit status says busy or failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from triage.registry import RETRAIN_BUSY_EXIT, RetrainBusy


class RetrainFailed(RuntimeError):
    """The retrain command stopped with an error (its last words are the message)."""


def run_retrain(
    orders: Path, *, base_model: Path, tolerance: float, promote: bool, env: dict[str, str] | None = None, timeout_s: float = 3600
) -> dict[str, Any]:
    """Run `triage retrain --orders ORDERS` and return its report; the registry it edits is TRIAGE_MODELS_DIR's.

    `env` adds to this process's environment, e.g. the deployment's signing key so that the child signs the
    candidate before registering it."""
    command = [
        sys.executable, "-m", "training.cli", "retrain", "--orders", str(orders), "--model", str(base_model),
        "--tolerance", str(tolerance), "--promote" if promote else "--no-promote",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout_s, check=False)
    if done.returncode == RETRAIN_BUSY_EXIT:
        raise RetrainBusy("a retrain is already running")
    if done.returncode != 0:
        words = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise RetrainFailed(words[-1] if words else f"the retrain command stopped with status {done.returncode}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise RetrainFailed(f"the retrain command printed no report ({exc})") from exc
