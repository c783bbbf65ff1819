"""Reliability tests reuse the API fixtures (SQLite and PostgreSQL apps, clients, tokens, a live server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.api.conftest import (  # noqa: F401  (fixtures, found by name)
    CALLS,
    POSTGRES,
    app,
    client,
    create,
    database_url,
    live_server,
    model_holder,
    postgres_available,
    settings,
    tokens,
)

BAD_INPUTS = Path(__file__).resolve().parents[2] / "data" / "bad_inputs.jsonl"


def bad_inputs() -> list[dict[str, Any]]:
    """The checked-in hostile corpus; `repeat: [unit, n]` (+ `then`) builds the long lines."""
    rows = []
    for line in BAD_INPUTS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "repeat" in row:
            unit, times = row["repeat"]
            row["text"] = unit * times + row.get("then", "")
        rows.append(row)
    return rows
