"""Health, the loaded model, the unit catalogue, and users."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import text

from api.deps import Admin, CurrentUser, ModelDep, SessionDep
from api.errors import responses
from api.schemas import Health, Me, ModelInfo, UnitOut, UserCreate, UserCreated
from api.security import add_user

router = APIRouter()


@router.get("/healthz", response_model=Health, tags=["system"])
def healthz(session: SessionDep, model: ModelDep) -> Health:
    """Liveness and readiness, without a token: is the database reachable and which model serves."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # any failure here means "not ready", never a 500
        database = "unavailable"
    return Health(status="ok" if database == "ok" else "degraded", database=database, model=model.pipeline.version)


@router.get("/v1/model", response_model=ModelInfo, tags=["system"], responses=responses(401))
def model_info(_: CurrentUser, model: ModelDep) -> ModelInfo:
    """The served model: version, heads, label sets and the metrics it was trained and scored with."""
    classes = model.pipeline.classifier.classes_
    return ModelInfo(
        version=model.pipeline.version,
        heads=model.pipeline.heads,
        labels={head: [str(c) for c in classes[head]] for head in model.pipeline.heads},
        members=["linear"] + (["transformer"] if model.pipeline.transformer is not None else []),
        blend=model.pipeline.blend if model.pipeline.transformer is not None else {},
        metrics=model.manifest.get("metrics", {}),
        created_at=model.manifest.get("created_at"),
        path=str(model.path),
    )


@router.get("/v1/units", response_model=list[UnitOut], tags=["system"], responses=responses(401))
def units(_: CurrentUser, model: ModelDep) -> list[UnitOut]:
    """The member units a dispatcher can choose from (the model's catalogue)."""
    return [
        UnitOut(name=u.name, kind=str(u.kind), aliases=list(u.aliases), topics=list(u.topics))
        for u in model.pipeline.knowledge.catalogue
    ]


@router.get("/v1/me", response_model=Me, tags=["system"], responses=responses(401))
def me(user: CurrentUser) -> Me:
    """Who the token belongs to, and its role (the console picks its view from it)."""
    return Me(name=user.name, role=user.role)  # type: ignore[arg-type]


@router.post(
    "/v1/users", response_model=UserCreated, status_code=201, tags=["system"], responses=responses(401, 403, 409)
)
def create_user(body: UserCreate, session: SessionDep, _: Admin) -> UserCreated:
    """Add a user (admin); the token is shown in this response only."""
    try:
        user, token = add_user(session, body.name, body.role)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return UserCreated(name=user.name, role=user.role, token=token)  # type: ignore[arg-type]
