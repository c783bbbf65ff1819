"""Live auto-fill: the suggestion alone, nothing stored."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import KnowledgeDep, Operator, PipelineDep, SessionDep
from api.errors import responses
from api.schemas import REGISTER_OF_CHANNEL, SuggestionRequest
from triage.schemas import Suggestion

router = APIRouter(prefix="/v1", tags=["suggestions"])


@router.post("/suggestions", response_model=Suggestion, responses=responses(401, 403, 413))
def suggest(
    body: SuggestionRequest, pipeline: PipelineDep, knowledge: KnowledgeDep, session: SessionDep, _: Operator
) -> Suggestion:
    """What the operator's form fills in while the caller is still talking; consultations come with the
    knowledge base's best answers."""
    return knowledge.answer(session, pipeline.suggest(body.text, address=body.address, register=REGISTER_OF_CHANNEL[body.channel]))
