"""Engines and sessions for SQLite (embedded, WAL) and PostgreSQL (shared by several processes), and migrations."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
WRITE = {"begin": "IMMEDIATE"}
"""Execution options for a write transaction: on SQLite it takes the write lock at BEGIN, so two writers
queue on the busy timeout instead of one failing when it upgrades a read lock."""


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGINs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=2 * pool_size)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=pool_size)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def begin_write(session: Session) -> None:
    """End any read transaction and start a write one (SQLite: holding the write lock from the start)."""
    if session.in_transaction():
        session.commit()
    session.connection(execution_options=WRITE)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic; safe when several processes start at once."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect().execution_options(**WRITE) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(12345)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info("database at revision %s", revision)
