"""The decided orders as labelled JSONL: what the analysts' loop (`triage retrain`, POST /v1/models/retrain) learns from."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from api.queries import labelled_orders


def export_orders(sessions: Any, out_file: Path, *, since: dt.datetime | None = None) -> int:
    """Write the decided orders as JSONL (the format of GET /v1/exports/labelled-orders); returns how many."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with sessions() as session, out_file.open("w", encoding="utf-8") as sink:
        for row in labelled_orders(session, since=since):
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n
