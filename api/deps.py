"""Dependencies injected into the routes: settings, the database session, the current user, the model."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.hotspots import HotspotService
from api.knowledge import KnowledgeService
from api.models import Role, User
from api.settings import Settings
from api.signing import verify_signature
from triage.bundle import load_bundle, read_manifest
from triage.pipeline import TriagePipeline


@dataclass
class LoadedModel:
    pipeline: TriagePipeline
    path: Path
    manifest: dict[str, Any]


class ModelHolder:
    """The served model, swappable at run time: a bundle that fails to load leaves the previous one serving."""

    def __init__(self, path: Path, *, signing_key: bytes | None = None) -> None:
        self._lock = threading.Lock()
        self._signing_key = signing_key
        self._current = self._load(path)

    def _load(self, path: Path) -> LoadedModel:
        """With a deployment key, the manifest's signature is checked before load_bundle unpickles anything."""
        if self._signing_key is not None:
            verify_signature(path, self._signing_key)
        pipeline = load_bundle(path)
        return LoadedModel(pipeline, Path(path), read_manifest(path))

    @property
    def current(self) -> LoadedModel:
        return self._current

    def swap(self, path: Path) -> LoadedModel:
        loaded = self._load(path)  # raises before anything changes
        with self._lock:
            self._current = loaded
        return loaded


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        yield session


async def get_model(request: Request) -> LoadedModel:
    return request.app.state.model.current


async def get_pipeline(model: Annotated[LoadedModel, Depends(get_model)]) -> TriagePipeline:
    return model.pipeline


async def get_knowledge(request: Request) -> KnowledgeService:
    return request.app.state.knowledge


async def get_hotspots(request: Request) -> HotspotService:
    return request.app.state.hotspots


SessionDep = Annotated[Session, Depends(get_session)]
KnowledgeDep = Annotated[KnowledgeService, Depends(get_knowledge)]
HotspotsDep = Annotated[HotspotService, Depends(get_hotspots)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelineDep = Annotated[TriagePipeline, Depends(get_pipeline)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]

_bearer = HTTPBearer(auto_error=False, description="an API token from `triage users add NAME --role ROLE`")


def current_user(
    request: Request, session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing token: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = request.app.state.tokens.user(session, credentials.credentials)
    session.rollback()  # end any read transaction: the route starts its own
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


def require(*roles: Role) -> Callable[..., User]:
    """A dependency that lets through the given roles (and admin) and refuses the others with 403."""
    allowed = {*roles, Role.admin}
    names = ", ".join(sorted(r.value for r in allowed))

    async def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {names}; your token's role is {user.role}")
        return user

    return check


CurrentUser = Annotated[User, Depends(current_user)]
Operator = Annotated[User, Depends(require(Role.operator))]
Dispatcher = Annotated[User, Depends(require(Role.dispatcher))]
Reader = Annotated[User, Depends(require(Role.operator, Role.dispatcher, Role.analyst))]
Visitor = Annotated[User, Depends(require(Role.operator, Role.dispatcher))]
Analyst = Annotated[User, Depends(require(Role.analyst))]
StatsReader = Annotated[User, Depends(require(Role.dispatcher, Role.analyst))]
Admin = Annotated[User, Depends(require())]
