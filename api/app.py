"""The FastAPI application: settings, database, model and routes wired together in `create_app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, logs
from api.db import make_engine, make_session_factory, migrate
from api.deps import ModelHolder
from api.hotspots import HotspotService
from api.knowledge import KnowledgeService
from api.ratelimit import RateLimit
from api.routes import console, hotspots, knowledge, models, orders, stats, suggestions, system
from api.security import TokenCache
from api.settings import Settings
from api.signing import deployment_key

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, model: ModelHolder | None = None) -> FastAPI:
    """The service for `settings` (default: from the environment). Migrates the database on start."""
    settings = settings or Settings()
    engine = make_engine(settings.resolved_database_url, pool_size=settings.db_pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure(settings.log_format)
        migrate(engine)
        if model is None:
            app.state.model = ModelHolder(settings.model_dir, signing_key=deployment_key(settings))
        app.state.knowledge = KnowledgeService(settings.knowledge_file)
        app.state.hotspots = HotspotService(
            alert_orders=settings.hotspot_alert_orders, window_hours=settings.hotspot_window_hours
        )
        app.state.hotspots.warm_up()  # not awaited: /healthz is ready before it
        logger.info("serving model %s", app.state.model.current.pipeline.version)
        yield
        engine.dispose()

    app = FastAPI(
        title="12345 hotline triage",
        version="1",
        summary="Suggested routings for a city's 12345 hotline: operators create orders, dispatchers confirm them.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    app.state.tokens = TokenCache()
    if model is not None:
        app.state.model = model
    errors.install(app)
    app.add_middleware(RateLimit)  # inside the request log, so 429s are logged too
    app.add_middleware(logs.RequestLog)
    for module in (system, suggestions, orders, stats, hotspots, knowledge, models, console):
        app.include_router(module.router)
    app.mount(console.STATIC_PATH, console.static_files(), name="static")
    return app
