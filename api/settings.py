"""Every setting of the service, read from the environment (prefix TRIAGE_) in one object."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from triage.knowledge_base import KNOWLEDGE_FILE
from triage.resources import DEFAULT_MODEL_DIR


class Settings(BaseSettings):
    """Defaults run the embedded service: SQLite in a data folder outside the source tree, the default model."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("hotline-triage")),
        description="folder for the embedded database (created on first start)",
    )
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite:///<home>/triage.db")
    model_dir: Path = Field(default=DEFAULT_MODEL_DIR, description="model bundle the service loads")
    bounce_limit: int = Field(default=2, ge=1, description="bounces after which an order becomes difficult (疑难工单)")
    auto_dispatch: Literal["off", "on"] = Field(
        default="off", description="on: an order whose suggestion is fully auto is dispatched at creation by the system"
    )
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="larger request bodies get 413")
    db_pool_size: int = Field(default=10, ge=1)
    retry_after_s: int = Field(default=2, ge=1, description="Retry-After sent with 503 when the database is unavailable")
    rate_limit_per_minute: int = Field(
        default=600, ge=0, description="requests per API token per minute, per worker process (0: no limit); over it: 429"
    )
    log_format: Literal["json", "text"] = Field(default="json", description="json: one object per line (order ids, never text)")
    signing_key: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key: when set, only model bundles whose manifest it signed are loaded"
    )
    signing_key_file: Path | None = Field(default=None, description="file holding the signing key (instead of signing_key)")
    knowledge_file: Path = Field(default=KNOWLEDGE_FILE, description="standard answers; API edits are stored in the database")
    hotspot_alert_orders: int = Field(default=10, ge=2, description="an incident with this many orders raises an alert")
    hotspot_window_hours: float = Field(default=72, gt=0, description="an incident takes no new orders after this long quiet")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'triage.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
