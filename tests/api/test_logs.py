"""The service's log is JSON, one object per line, at INFO: uvicorn's lines and every library's included.

A new user saw plain uvicorn lines between the JSON ones, and bm25s's DEBUG lines at the default level.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator

import jieba
import pytest
import uvicorn

from api import logs


@pytest.fixture()
def restore_logging() -> Iterator[None]:
    """dictConfig changes the whole process's loggers: put them back as they were for the tests that follow."""
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, list(logger.handlers), logger.propagate, logger.disabled) for logger in loggers]
    yield
    for logger, level, handlers, propagate, disabled in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate, logger.disabled = propagate, disabled


def serve_path() -> None:
    """What `triage serve` does: uvicorn applies the service's configuration before anything else runs."""
    uvicorn.Config("api.app:create_app", factory=True, log_config=logs.logging_config("json"), log_level="info")


def start_up_path() -> None:
    """uvicorn's own (plain) configuration first, then the application's start-up applies the service's."""
    uvicorn.Config("api.app:create_app", factory=True, log_level="info")
    logs.configure("json")


@pytest.mark.parametrize("configure", [serve_path, start_up_path], ids=["serve", "start-up"])
def test_every_line_is_json_and_no_debug_line_at_the_default_level(
    configure: Callable[[], None], monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)  # uvicorn's handlers and the service's both write to sys.stderr
    jieba.default_logger.addHandler(logging.StreamHandler(stream))  # as jieba's own handler does on import
    configure()

    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.info("Started server process [%d]", 4242, extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"})
    uvicorn_log.info("Uvicorn running on %s://%s:%d (Press CTRL+C to quit)", "http", "127.0.0.1", 8000)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", "/v1/knowledge?q=公积金怎么提取", "1.1", 200
    )
    bm25s = logging.getLogger("bm25s")
    bm25s.setLevel(logging.DEBUG)  # what bm25s does to its logger when imported, after any configuration
    bm25s.debug("Building index from IDs objects")
    jieba.default_logger.setLevel(logging.DEBUG)
    jieba.default_logger.debug("Building prefix dict from the default dictionary ...")
    jieba.default_logger.info("Prefix dict has been built successfully.")
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT orders.text FROM orders")
    logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1:8000/healthz")
    logging.getLogger("api.app").info("serving model %s", "test-default")

    lines = stream.getvalue().splitlines()
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not JSON: {line!r}\nall lines: {lines}")
    assert all(isinstance(e, dict) for e in entries)
    assert [e["level"] for e in entries if e["level"] == "DEBUG"] == []
    by_logger = [(e["logger"], e["msg"]) for e in entries]
    assert by_logger == [
        ("uvicorn.error", "Started server process [4242]"),
        ("uvicorn.error", "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)"),
        ("jieba", "Prefix dict has been built successfully."),
        ("httpx", "HTTP Request: GET http://127.0.0.1:8000/healthz"),
        ("api.app", "serving model test-default"),
    ]  # uvicorn's access line is replaced by api.access (no query string); SQL statements are never logged
    assert all({"ts", "level", "logger", "msg"} <= e.keys() and "color_message" not in e for e in entries)


def test_the_text_format_is_one_configuration_too(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    """TRIAGE_LOG_FORMAT=text: plain lines for a developer's terminal, still at INFO and still redacted."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logs.configure("text")
    logging.getLogger("bm25s").setLevel(logging.DEBUG)
    logging.getLogger("bm25s").debug("Building index")
    logging.getLogger("uvicorn.error").info("caller 13873112345")
    [line] = stream.getvalue().splitlines()
    assert line.endswith("INFO uvicorn.error: caller [电话]")
