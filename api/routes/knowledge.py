"""The knowledge base of standard answers: search it, read an entry's versions, add or edit (analysts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import Analyst, CurrentUser, KnowledgeDep, SessionDep
from api.errors import responses
from api.schemas import KnowledgeDetail, KnowledgeEdit, KnowledgeEntryOut
from triage.knowledge_base import InvalidEntryError
from triage.schemas import KnowledgeAnswer

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])


@router.get("", response_model=list[KnowledgeAnswer], responses=responses(401, 503))
def search(
    session: SessionDep,
    knowledge: KnowledgeDep,
    _: CurrentUser,
    q: Annotated[str, Query(min_length=1, max_length=500, description="the caller's question")],
    k: Annotated[int, Query(ge=1, le=20)] = 3,
) -> list[KnowledgeAnswer]:
    """The best standard answers for a question (what the operator console shows for consultations)."""
    try:
        return knowledge.current(session).search(q, k)
    except InvalidEntryError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


@router.get("/{entry_id}", response_model=KnowledgeDetail, responses=responses(401, 404, 503))
def entry(entry_id: str, session: SessionDep, knowledge: KnowledgeDep, _: CurrentUser) -> KnowledgeDetail:
    base = knowledge.current(session)
    if entry_id not in base:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no knowledge entry {entry_id}")
    return KnowledgeDetail.model_validate(
        {"entry": base.get(entry_id).model_dump(), "history": knowledge.history(session, entry_id)}
    )


@router.post("", response_model=KnowledgeEntryOut, responses=responses(401, 403, 503))
def write(body: KnowledgeEdit, session: SessionDep, knowledge: KnowledgeDep, user: Analyst) -> KnowledgeEntryOut:
    """Add an answer (no id) or change an existing one; each write is a new version, kept with its author."""
    changes = body.model_dump(exclude_none=True, mode="json")
    try:
        stored = knowledge.write(session, changes, user)
    except InvalidEntryError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return KnowledgeEntryOut.model_validate(stored.model_dump())
