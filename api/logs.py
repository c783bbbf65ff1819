"""Structured logs: one JSON object per line, carrying order ids, status codes and durations, never call text.

Why a formatter and not discipline alone: a log line is kept longer and read by more people than an order,
and exception messages (a database error quotes its SQL parameters) can carry a transcript. So every
message and traceback is passed through the same PII masking as stored text, and API tokens are
blanked, whatever the caller logged. The request log is a plain ASGI middleware that records the route
*template* (`/v1/orders/{order_id}`), the order id, the status and the duration: no query text, no body,
no headers.

One configuration, `logging_config(fmt, level)`, says all of it: one redacting handler on stderr at INFO by
default, on the root logger, and every library's logger (uvicorn, bm25s, jieba, SQLAlchemy, httpx ...) sending
its records there instead of to handlers of its own. `triage serve` gives it to uvicorn (`log_config=`), so even
uvicorn's first lines, before the application starts, are JSON; the application's start-up applies it again
(`configure`), which also removes the handler jieba adds to itself on import. The handler's own level is what
keeps DEBUG out: bm25s and jieba set their loggers to DEBUG when imported, after any configuration.
`json` (default) formats with `JsonFormatter`; `text` keeps a plain human-readable format for a developer's
terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
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
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName", "color_message"}
"""Record attributes that are not `extra=` fields; uvicorn's `color_message` is its message with terminal colours."""
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


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Looks up sys.stderr at each record, so a replaced stderr (tests, daemons) never gets a closed stream."""

    def __init__(self) -> None:
        super().__init__()
        setattr(self, _MARK, True)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


LIBRARY_LOGGERS: dict[str, int | None] = {
    "uvicorn": None,
    "uvicorn.error": None,
    "uvicorn.asgi": None,
    "bm25s": None,
    "jieba": None,
    "alembic": None,
    "httpx": None,
    "httpcore": None,
    "sqlalchemy": logging.WARNING,  # at INFO, SQLAlchemy logs every statement with its parameters
    "multipart": logging.WARNING,
    "python_multipart": logging.WARNING,
}
"""Libraries whose loggers get no handler of their own and pass their records to the service's one; the level
each is held at (None: the configured level)."""
OFF_LOGGERS = ("uvicorn.access",)
"""Silenced: `RequestLog` (api.access) replaces uvicorn's access line, which would carry query strings (a
knowledge-base search's `q` is the caller's words)."""


def logging_config(fmt: LogFormat = "json", level: int | str = logging.INFO) -> dict[str, Any]:
    """The service's one logging configuration, for `logging.config.dictConfig` and uvicorn's `log_config`."""
    level = logging.getLevelName(level) if isinstance(level, int) else level.upper()
    formatters: dict[str, dict[str, Any]] = {
        "json": {"()": JsonFormatter},
        "text": {"()": RedactingFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    }
    loggers: dict[str, dict[str, Any]] = {
        name: {"level": logging.getLevelName(held) if held else level, "handlers": [], "propagate": True}
        for name, held in LIBRARY_LOGGERS.items()
    }
    loggers.update({name: {"handlers": ["null"], "propagate": False} for name in OFF_LOGGERS})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {fmt: formatters[fmt]},
        "handlers": {
            "service": {"()": StderrHandler, "formatter": fmt, "level": level},
            "null": {"class": "logging.NullHandler"},
        },
        "root": {"level": level, "handlers": ["service"]},
        "loggers": loggers,
    }


def configure(fmt: LogFormat = "json", level: int | str = logging.INFO) -> None:
    """Apply `logging_config`; idempotent. Handlers that others put on the root logger (a test harness, an
    application embedding the service) are kept: the service replaces only its own and the libraries'."""
    root = logging.getLogger()
    foreign = [h for h in root.handlers if not getattr(h, _MARK, False)]
    logging.config.dictConfig(logging_config(fmt, level))
    for handler in foreign:
        root.addHandler(handler)


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
