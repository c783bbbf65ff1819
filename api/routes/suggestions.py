"""Live auto-fill: the suggestion alone, nothing stored."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Operator, PipelineDep
from api.errors import responses
from api.schemas import SuggestionRequest
from triage.schemas import Suggestion

router = APIRouter(prefix="/v1", tags=["suggestions"])


@router.post("/suggestions", response_model=Suggestion, responses=responses(401, 403, 413))
def suggest(body: SuggestionRequest, pipeline: PipelineDep, _: Operator) -> Suggestion:
    """What the operator's form fills in while the caller is still talking."""
    return pipeline.suggest(body.text, address=body.address)
