"""The model registry over HTTP: list versions, retrain on the decided orders (analyst), reload the served model (admin).

Reload swaps the model of this worker process only (ModelHolder.swap): requests in flight keep the
pipeline they started with, and a bundle that fails to load or verify leaves the old one serving.
With several workers or hosts, send the reload to each (or restart them: `triage serve` starts on the
registry's current model).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from api.deps import Admin, Analyst, ModelDep, SettingsDep
from api.errors import responses
from api.export import export_orders
from api.jobs import RetrainFailed, run_retrain
from api.settings import Settings
from triage.errors import TriageError
from triage.registry import Registry, RetrainBusy

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/models", tags=["models"])


class RetrainRequest(BaseModel):
    tolerance: float = Field(default=0.02, ge=0.0, le=0.5, description="largest fall of any headline figure that still promotes")
    promote: bool = Field(default=True, description="promote the candidate when it passes (else register it only)")


class Reloaded(BaseModel):
    served: str = Field(description="the version now serving")
    path: str
    replaced: str = Field(description="the version served before")


def _registry() -> Registry:
    try:
        return Registry.load()
    except TriageError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.get("", responses=responses(401, 403))
def list_models(_: Analyst, model: ModelDep) -> dict[str, Any]:
    """The registry (versions with data fingerprints and headline figures, current, previous) and what this worker serves."""
    registry = _registry()
    return {
        "current": registry.current,
        "previous": registry.previous,
        "history": registry.data.get("history", []),
        "versions": registry.versions,
        "served": {"version": model.pipeline.version, "path": str(model.path)},
    }


@router.post("/reload", response_model=Reloaded, responses=responses(401, 403, 409))
def reload_model(request: Request, settings: SettingsDep, _: Admin) -> Reloaded:
    """Serve the registry's current model (or the configured bundle when the registry is empty), without a restart."""
    holder = request.app.state.model
    before = holder.current.pipeline.version
    registry = _registry()
    try:
        target = registry.current_path() or Path(settings.model_dir)
        loaded = holder.swap(target)
    except (TriageError, OSError, ValueError) as exc:
        logger.warning("reload refused, still serving %s: %s", before, exc)
        raise HTTPException(status.HTTP_409_CONFLICT, f"the model was not switched, {before} still serves: {exc}") from exc
    logger.info("reloaded: %s -> %s", before, loaded.pipeline.version)
    return Reloaded(served=loaded.pipeline.version, path=str(loaded.path), replaced=before)


@router.post("/retrain", responses=responses(400, 401, 403, 409, 503))
def retrain_model(request: Request, settings: SettingsDep, _: Analyst, body: RetrainRequest | None = None) -> dict[str, Any]:
    """Export the decided orders, train a candidate, score it against the current model on the frozen set, promote if no head is worse.

    Takes as long as a training (seconds for the default preset, about a minute for the full one), in a child
    process (api.jobs). The answer is the retrain report: decision and reasons. A promoted model serves after
    POST /v1/models/reload.
    """
    body = body or RetrainRequest()
    with tempfile.TemporaryDirectory(prefix="triage-orders-") as folder:
        orders = Path(folder) / "orders.jsonl"
        n = export_orders(request.app.state.sessions, orders)
        if n == 0:
            raise HTTPException(status.HTTP_409_CONFLICT, "no decided orders to learn from yet")
        try:
            report = run_retrain(
                orders,
                base_model=request.app.state.model.current.path,
                tolerance=body.tolerance,
                promote=body.promote,
                env=_signing_env(settings),
            )
        except RetrainBusy as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        except RetrainFailed as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"retraining failed: {exc}") from exc
    report["orders_exported"] = n
    return report


def _signing_env(settings: Settings) -> dict[str, str]:
    """The deployment's signing key for the child that trains, so that the candidate it registers is signed."""
    if settings.signing_key is not None and settings.signing_key.get_secret_value():
        return {"TRIAGE_SIGNING_KEY": settings.signing_key.get_secret_value()}
    if settings.signing_key_file is not None:
        return {"TRIAGE_SIGNING_KEY_FILE": str(settings.signing_key_file)}
    return {}
