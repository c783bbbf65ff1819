"""Alembic environment: migrations run on the connection the service hands over (see api.db.migrate)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from api.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, _context: Any) -> str | bool:
    """Migrations spell the storage type, so they never import the application's models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic` run by hand: use the URL it was given
        with create_engine(config.get_main_option("sqlalchemy.url")).begin() as own:
            context.configure(connection=own, target_metadata=target_metadata, render_as_batch=True, render_item=render_item)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True, render_item=render_item)
    context.run_migrations()


run_migrations_online()
