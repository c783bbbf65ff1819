"""How failures become responses: each a status and a `detail` sentence, none a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.lifecycle import LifecycleError
from api.schemas import Problem
from triage.errors import InvalidTranscriptError

logger = logging.getLogger(__name__)


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route can return, so clients and fuzzers know them."""
    text = {
        400: "bad request",
        401: "missing or unknown token",
        403: "the token's role may not do this",
        404: "no such order",
        409: "the order changed meanwhile, or its state does not allow this",
        413: "request body too large",
        428: "the order's version is required",
        503: "database unavailable; retry after the Retry-After seconds",
    }
    return {s: {"model": Problem, "description": text[s]} for s in statuses}


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    retry = str(request.app.state.settings.retry_after_s)
    logger.warning("database unavailable: %s", type(exc).__name__)
    return problem(503, "the database is unavailable just now; nothing was saved, retry shortly", {"Retry-After": retry})


def install(app: FastAPI) -> None:
    @app.exception_handler(LifecycleError)
    async def _lifecycle(_: Request, exc: LifecycleError) -> JSONResponse:
        return problem(exc.status, exc.detail)

    @app.exception_handler(InvalidTranscriptError)
    async def _transcript(_: Request, exc: InvalidTranscriptError) -> JSONResponse:
        return problem(422, str(exc))

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> JSONResponse:
        return _unavailable(request, exc)

    @app.exception_handler(DBAPIError)
    async def _dbapi(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return _unavailable(request, exc)
        raise exc

    app.add_middleware(BodyLimit)


class BodyLimit:
    """Refuse bodies over the configured size before reading them (a 1 MB paste is a mistake, not a call).

    Plain ASGI rather than BaseHTTPMiddleware: it adds nothing to the request path but a header check.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            limit = scope["app"].state.settings.max_body_bytes
            if length is not None:
                if not length.isdigit():
                    await problem(400, "Content-Length is not a number")(scope, receive, send)
                    return
                if int(length) > limit:
                    detail = f"request body of {int(length)} bytes is over the limit of {limit} bytes"
                    await problem(413, detail)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
