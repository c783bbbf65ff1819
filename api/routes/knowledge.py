"""The knowledge base of standard answers: search it, read an entry's versions, add or edit (analysts)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse

from api.deps import Analyst, CurrentUser, KnowledgeDep, SessionDep
from api.errors import responses
from api.knowledge import StaleEdit
from api.schemas import KnowledgeConflict, KnowledgeDetail, KnowledgeEdit, KnowledgeEntryOut, KnowledgeHit
from triage.knowledge_base import InvalidEntryError

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])


@router.get("", response_model=list[KnowledgeHit], responses=responses(401, 503))
def search(
    session: SessionDep,
    knowledge: KnowledgeDep,
    _: CurrentUser,
    q: Annotated[str, Query(min_length=1, max_length=500, description="the caller's question")],
    k: Annotated[int, Query(ge=1, le=20)] = 3,
) -> list[KnowledgeHit]:
    """The best standard answers for a question (what the operator console shows for consultations)."""
    try:
        return knowledge.search(session, q, k)
    except InvalidEntryError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


@router.get("/overdue", response_model=list[KnowledgeEntryOut], responses=responses(401, 503))
def overdue(session: SessionDep, knowledge: KnowledgeDep, _: CurrentUser) -> list[KnowledgeEntryOut]:
    """Answers past their review date (`valid_until`), longest overdue first: to check before they are read out."""
    return [KnowledgeEntryOut.model_validate(e.model_dump()) for e in knowledge.overdue(session)]


@router.get("/{entry_id}", response_model=KnowledgeDetail, responses=responses(401, 404, 503))
def entry(entry_id: str, session: SessionDep, knowledge: KnowledgeDep, _: CurrentUser) -> KnowledgeDetail:
    base = knowledge.current(session)
    if entry_id not in base:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no knowledge entry {entry_id}")
    return KnowledgeDetail.model_validate(
        {"entry": base.get(entry_id).model_dump(), "history": knowledge.history(session, entry_id)}
    )


CONFLICTS: dict[int | str, dict[str, Any]] = {
    409: {"model": KnowledgeConflict, "description": "the answer changed since the version you edited"},
    428: {"model": KnowledgeConflict, "description": "editing an existing answer needs the version you edited"},
}


@router.post("", response_model=KnowledgeEntryOut, responses={**responses(401, 403, 503), **CONFLICTS})
def write(body: KnowledgeEdit, session: SessionDep, knowledge: KnowledgeDep, user: Analyst) -> KnowledgeEntryOut | JSONResponse:
    """Add an answer (no id) or change an existing one (with the version you edited); each write is a new
    version, kept with its author."""
    changes = body.model_dump(exclude_none=True, exclude={"version"}, mode="json")
    try:
        stored = knowledge.write(session, changes, user, based_on=body.version)
    except InvalidEntryError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except StaleEdit as exc:
        session.rollback()
        current = KnowledgeEntryOut.model_validate(exc.current.model_dump())
        return JSONResponse(KnowledgeConflict(detail=exc.detail, current=current).model_dump(mode="json"), status_code=exc.status)
    return KnowledgeEntryOut.model_validate(stored.model_dump())
