"""How failures become responses: each a status and a `detail` sentence, none a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
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
        429: "too many requests for this token; retry after the Retry-After seconds (TRIAGE_RATE_LIMIT_PER_MINUTE)",
        503: "database unavailable; retry after the Retry-After seconds",
        507: "the database's disk is full; nothing was saved",
    }
    if 401 in statuses and 429 not in statuses:  # every route that takes a token is rate-limited
        statuses = (*statuses, 429)
    if 503 in statuses and 507 not in statuses:  # what can hit the database can find its disk full
        statuses = (*statuses, 507)
    return {s: {"model": Problem, "description": text[s]} for s in statuses}


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    retry = str(request.app.state.settings.retry_after_s)
    reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]  # the driver's message, never the SQL or its parameters
    logger.warning("database unavailable: %s: %s", type(exc).__name__, reason)
    return problem(503, "the database is unavailable just now; nothing was saved, retry shortly", {"Retry-After": retry})


def _disk_full(exc: OperationalError) -> bool:
    """SQLITE_FULL ("database or disk is full") or PostgreSQL's disk_full (SQLSTATE 53100)."""
    orig = exc.orig
    return getattr(orig, "sqlite_errorname", None) == "SQLITE_FULL" or getattr(orig, "sqlstate", None) == "53100"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422 without the `input` echo: the echo repeated transcripts (personal data) back, and a
        lone surrogate in it could not be encoded, turning a 422 into a 500."""
        details = [{k: v for k, v in error.items() if k != "input"} for error in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(details)}, status_code=422)

    @app.exception_handler(LifecycleError)
    async def _lifecycle(_: Request, exc: LifecycleError) -> JSONResponse:
        return problem(exc.status, exc.detail)

    @app.exception_handler(InvalidTranscriptError)
    async def _transcript(_: Request, exc: InvalidTranscriptError) -> JSONResponse:
        return problem(422, str(exc))

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> JSONResponse:
        if _disk_full(exc):
            logger.error("database disk full: %s", type(exc.orig).__name__)
            return problem(507, "the database has no space left: nothing was saved; ask the administrator to free disk space")
        return _unavailable(request, exc)

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        """A value the database cannot hold or compare (a NUL character in a filter on PostgreSQL)."""
        logger.info("value refused by the database: %s", type(exc.orig).__name__)
        return problem(422, "a value in the request cannot be stored or searched (e.g. it contains a NUL character)")

    @app.exception_handler(DBAPIError)
    async def _dbapi(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return _unavailable(request, exc)
        raise exc

    app.add_middleware(BodyLimit)
    _document_body_errors(app)


def _document_body_errors(app: FastAPI) -> None:
    """Every operation that takes a body can get 400 (unparseable body) and 413 (BodyLimit): say so in the
    schema, once for all routes, instead of in each route's `responses=`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        problem_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict):
                    continue
                refused = operation.get("responses", {}).get("422", {}).get("content", {}).get("application/json")
                if refused is not None:  # FastAPI's list of field errors, or a sentence (InvalidTranscriptError...)
                    refused["schema"] = {"anyOf": [refused["schema"], {"$ref": "#/components/schemas/Problem"}]}
                if "requestBody" in operation:
                    for code, text in (("400", "the body is not valid JSON text"), ("413", "request body too large")):
                        operation["responses"].setdefault(code, {"description": text, **problem_ref})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


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
