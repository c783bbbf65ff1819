"""Structured logs: one JSON object per line, carrying order ids, status codes and durations, never call text.

Why a formatter and not discipline alone: a log line is kept longer and read by more people than an order,
and exception messages (a database error quotes its SQL parameters) can carry a transcript. So every
message and traceback is passed through the same PII masking as stored text, and API tokens are
blanked, whatever the caller logged. The request log is a plain ASGI middleware that records the route
*template* (`/v1/orders/{order_id}`), the order id, the status and the duration: no query text, no body,
no headers.

`triage serve` runs `create_app`, whose start-up calls `configure(settings.log_format)`: `json` (default)
sends the root logger and uvicorn's own loggers through `JsonFormatter` on stderr; `text` keeps a plain
human-readable format for a developer's terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triage.normalise import mask_pii

LogFormat = Literal["json", "text"]
ACCESS_LOGGER = "api.access"
_TOKEN = re.compile(r"tri_[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
_MARK = "_triage_handler"
_PLAIN_PATHS = frozenset({"/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"})


def redact(text: str) -> str:
    """Mask phone, ID-card and bank-card numbers and blank API tokens (cheap: a few regular expressions)."""
    text = _BEARER.sub(r"\1***", text)
    text = _TOKEN.sub("tri_***", text)
    return mask_pii(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and any `extra=` fields, all redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactingFormatter(logging.Formatter):
    """The text format, with the same masking as the JSON one."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Looks up sys.stderr at each record, so a replaced stderr (tests, daemons) never gets a closed stream."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure(fmt: LogFormat = "json", level: int = logging.INFO) -> None:
    """Route the root logger (and, for JSON, uvicorn's loggers) through one redacting handler; idempotent."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, _MARK, False)), None)
    if handler is None:
        handler = _StderrHandler()
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
        for name in ("uvicorn", "uvicorn.error"):
            uvicorn_logger = logging.getLogger(name)
            uvicorn_logger.handlers.clear()
            uvicorn_logger.propagate = True
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("uvicorn.access").disabled = True  # RequestLog below replaces it, without query strings
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)


class RequestLog:
    """One `api.access` record per HTTP request: method, route template, order id, status, duration (ms)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.logger = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name == b"location" and value.startswith(b"/v1/orders/"):
                        seen["created"] = value.rsplit(b"/", 1)[-1].decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self._log(scope, seen, time.perf_counter() - started)

    def _log(self, scope: Scope, seen: dict[str, Any], elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None)
        if template is None:  # mounts and FastAPI's own pages (/openapi.json) set no route: name only those
            path = scope["path"]
            template = "/static" if path.startswith("/static/") else path if path in _PLAIN_PATHS else "unmatched"
        order_id = (scope.get("path_params") or {}).get("order_id") or seen.get("created")
        status = seen["status"]
        fields: dict[str, Any] = {
            "method": scope["method"],
            "route": template,
            "status": status,
            "duration_ms": round(elapsed * 1000, 1),
        }
        if order_id is not None:
            fields["order_id"] = int(order_id) if str(order_id).isdigit() else None
        level = logging.ERROR if status >= 500 else logging.INFO
        self.logger.log(level, "%s %s %s", scope["method"], template, status, extra=fields)
