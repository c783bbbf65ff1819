"""The hostile-input corpus (data/bad_inputs.jsonl) through the pipeline and the API: a correct answer or a
clear 4xx for every line, never a 5xx, and markup or SQL stays inert text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.reliability.conftest import bad_inputs
from triage.errors import InvalidTranscriptError
from triage.pipeline import TriagePipeline

ROWS = bad_inputs()
IDS = [row["id"] for row in ROWS]


def _body(row: dict[str, Any]) -> bytes:
    """JSON with ASCII escapes, so lone surrogates travel as `\\ud800` the way a broken client sends them."""
    body = {"text": row["text"]}
    if "address" in row:
        body["address"] = row["address"]
    return json.dumps(body).encode()


def test_corpus_covers_the_issue_list() -> None:
    assert len(set(IDS)) == len(IDS)
    for needed in ("empty", "one-megabyte", "control-chars", "mixed-scripts", "emoji-only", "sql-injection",
                   "html-injection", "traditional", "numbers-only", "phone-only", "nul-bytes", "lone-surrogate"):
        assert needed in IDS


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_pipeline(pipeline: TriagePipeline, row: dict[str, Any]) -> None:
    if row["pipeline"] == "invalid":
        with pytest.raises(InvalidTranscriptError):
            pipeline.suggest(row["text"], address=row.get("address"))
        return
    suggestion = pipeline.suggest(row["text"], address=row.get("address"))
    out = json.dumps(suggestion.to_json_dict(), ensure_ascii=False).encode()  # storable and sendable
    assert b"\x00" not in out
    assert "13873112345" not in suggestion.text
    assert suggestion.category.label and suggestion.topic.label
    if row["id"] == "fillers-only":  # a caller on the line who has said nothing yet: reviewed, never refused alone
        assert (suggestion.scope.reason, suggestion.scope.by_rule, suggestion.needs_review) == ("not_specific", False, True)


def test_api(client: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    """Every line through POST /v1/suggestions and POST /v1/orders (one client: SQLite, then PostgreSQL)."""
    headers = {**tokens["operator"], "Content-Type": "application/json"}
    for row in ROWS:
        body = _body(row)
        for path, ok in (("/v1/suggestions", 200), ("/v1/orders", 201)):
            response = client.post(path, content=body, headers=headers)
            expected = ok if row["api"] == "ok" else row["api"]
            assert response.status_code == expected, (row["id"], path, response.status_code, response.text[:300])
            payload = response.json()
            if expected >= 400:
                assert payload["detail"], row["id"]
                continue
            text = payload["text"]
            assert "\x00" not in text and "13873112345" not in text
            if path == "/v1/orders":
                order = client.get(f"/v1/orders/{payload['id']}", headers=tokens["operator"]).json()
                assert order["text"] == text
                assert "\x00" not in (order["address"] or "") and "13873112345" not in (order["address"] or "")
                if row["id"] == "html-injection":  # stored and returned verbatim as text, never interpreted
                    assert "<script>alert('x')</script>" in order["text"]
                if row["id"] == "traditional":
                    assert "问一下住房公积金怎么提取" in order["text"]
    listed = client.get("/v1/orders", params={"limit": 200}, headers=tokens["operator"])
    assert listed.status_code == 200
    assert listed.json()["total"] == sum(row["api"] == "ok" for row in ROWS)
