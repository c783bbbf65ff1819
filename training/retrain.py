"""The analysts' loop: dispatchers' decided orders + the base data -> a candidate, promoted only if no head got worse.

Steps, each recorded in the report:
1. export the decided orders (what dispatchers confirmed or corrected) from the service database;
2. train a candidate with the base model's arguments on its preset plus the orders as local rows, the same
   path as `triage train --preset P --data ORDERS` (training.train.load_training_data): an order outranks
   every base record with the same normalised text (a correction wins over the label it contradicts), counts
   `local_weight` times, and orders that repeat a call of the frozen evaluation set are held out;
3. (tuned on out-of-fold predictions, as every model is);
4. score the current model and the candidate on the frozen evaluation set (the own corpus's frozen test
   split, which neither trained nor tuned on);
5. promote when no headline figure is worse than the current one's by more than the tolerance.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from training.args import RunArguments
from training.datasets import Dataset, Record, corpus_split, outrank, read_labelled
from training.evaluate import evaluate
from triage.bundle import load_bundle, read_manifest
from triage.pipeline import TriagePipeline
from triage.registry import HEADLINE, Registry, RetrainBusy, ensure_registered, headline, models_root
from triage.units import default_catalogue

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one retrain at a time is then the operator's care
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)
Step = Callable[[str], None]
LOWER_IS_BETTER = {"scope_false_refusal_rate"}
DEFAULT_TOLERANCE = 0.02
@contextlib.contextmanager
def _running(root: Path) -> Iterator[None]:
    """One retrain at a time per models folder, across processes: two would race for the registry and the CPU."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "retrain.lock").open("w") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise RetrainBusy("a retrain is already running") from exc
        yield


def gate(current: dict[str, float | None], candidate: dict[str, float | None], tolerance: float) -> tuple[bool, list[dict[str, Any]]]:
    """Per headline figure: the change and whether it is worse beyond the tolerance. Promote only if none is."""
    rows, ok = [], True
    for name in HEADLINE:
        a, b = current.get(name), candidate.get(name)
        if a is None or b is None:
            rows.append({"metric": name, "current": a, "candidate": b, "change": None, "worse": False})
            continue
        change = round(b - a, 4)
        worse = (change > tolerance) if name in LOWER_IS_BETTER else (change < -tolerance)
        ok &= not worse
        rows.append({"metric": name, "current": a, "candidate": b, "change": change, "worse": worse})
    return ok, rows


def _corrected_accuracy(pipeline: TriagePipeline, orders: list[Record]) -> dict[str, float | None]:
    """How often a model agrees with what the dispatchers decided, on the orders themselves (seen in training)."""
    if not orders:
        return {}
    suggestions = pipeline.suggest_many([r.text for r in orders])
    out: dict[str, float | None] = {}
    for head, pick in (("category", lambda s: s.category.label), ("topic", lambda s: s.topic.label), ("unit", lambda s: s.units[0].name if s.units else None)):
        pairs = [(r.label(head), pick(s)) for r, s in zip(orders, suggestions, strict=True) if r.label(head)]
        out[head] = round(sum(g == p for g, p in pairs) / len(pairs), 4) if pairs else None
    return out


def retrain(
    orders_file: Path,
    *,
    root: Path | None = None,
    base_model: Path | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    promote: bool = True,
    version: str | None = None,
    step: Step | None = None,
    sign: Callable[[Path], Any] | None = None,
) -> dict[str, Any]:
    """Train, compare and maybe promote a candidate from the orders in `orders_file`; returns the report.

    `base_model` is used when the registry has no current model yet (it is then registered as current);
    `sign` is called on the new bundle before it is registered (a service that loads only signed bundles).
    """
    root = root or models_root()
    with _running(root):
        return _retrain(orders_file, root=root, base_model=base_model, tolerance=tolerance, promote=promote, version=version, step=step, sign=sign)


def _retrain(
    orders_file: Path,
    *,
    root: Path,
    base_model: Path | None,
    tolerance: float,
    promote: bool,
    version: str | None,
    step: Step | None,
    sign: Callable[[Path], Any] | None,
) -> dict[str, Any]:
    from training.train import train

    say = step or (lambda message: logger.info(message))
    registry = Registry.load(root)
    if registry.current is None:
        if base_model is None:
            raise ValueError("the registry has no current model: give the base model to start from")
        ensure_registered(base_model, root)
        registry = Registry.load(root)
    current_version = registry.current
    assert current_version is not None
    current_dir = registry.path_of(current_version)
    base_run = RunArguments.load(current_dir / "training_args.json")

    say("reading orders")
    catalogue = default_catalogue()
    orders = read_labelled(orders_file, catalogue=catalogue, unknown_units="error", strict=True)  # a broken export stops here, naming the line
    version = version or f"retrain-{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S')}"
    work = root / "retrain" / version
    work.mkdir(parents=True, exist_ok=True)
    kept_orders = work / "orders.jsonl"
    shutil.copyfile(orders_file, kept_orders)  # the candidate's training_args.json must name a file that stays

    # the same path as `triage train --preset P --data LOCAL`: the base's preset and files, with the orders as the
    # latest local file (an export holds every decided order, so an earlier retrain's export is superseded)
    earlier = [f for f in base_run.data.data_files if not Path(f).resolve().is_relative_to((root / "retrain").resolve())]
    run = RunArguments(
        replace(base_run.data, data_files=[*earlier, str(kept_orders.resolve())]),
        base_run.model,
        replace(base_run.training, output_dir=str((root / version).resolve()), version=version),
    )
    say(f"training candidate {version} on the {base_run.data.preset or 'no'} preset + {len(earlier)} earlier files + the orders")
    bundle, _ = train(run, step=say)
    if sign is not None:
        sign(bundle)
    merge = read_manifest(bundle).get("training", {}).get("data", {}).get("files", {}).get("merge", {})
    frozen = corpus_split(catalogue)[1]
    _, used, _ = outrank(Dataset(), orders, frozen.records)  # the orders training used, as load_training_data chose them

    say(f"scoring current {current_version} and candidate on the frozen evaluation set ({len(frozen)} rows)")
    current_pipeline, candidate_pipeline = load_bundle(current_dir), load_bundle(bundle)
    current_metrics, candidate_metrics = evaluate(current_pipeline, frozen), evaluate(candidate_pipeline, frozen)
    passed, table = gate(headline(current_metrics), headline(candidate_metrics), tolerance)
    worse = [row for row in table if row["worse"]]
    if passed:
        reasons = [f"no headline figure is worse than {current_version}'s by more than {tolerance:.3f} on the frozen set"]
    else:
        reasons = [
            f"{row['metric']} {'rose' if row['metric'] in LOWER_IS_BETTER else 'fell'} from {row['current']:.4f} to {row['candidate']:.4f}"
            f" ({row['change']:+.4f}, tolerance {tolerance:.3f})"
            for row in worse
        ]
    promoted = passed and promote
    if passed and not promote:
        reasons.append("promotion not requested (--no-promote): registered only")
    report: dict[str, Any] = {
        "version": version,
        "current": current_version,
        "decision": "promoted" if promoted else "refused" if not passed else "not promoted",
        "reasons": reasons,
        "tolerance": tolerance,
        "frozen_set": {"name": "own corpus frozen test split", "rows": len(frozen)},
        "merge": merge,
        "headline": table,
        "agreement_with_orders": {"current": _corrected_accuracy(current_pipeline, used), "candidate": _corrected_accuracy(candidate_pipeline, used)},
        "bundle": str(bundle),
        "training_file": str(kept_orders),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    with Registry.edit(root) as registry:
        registry.register(bundle, retrain={"decision": report["decision"], "reasons": reasons, "against": current_version})
        if promoted:
            registry.promote(version)
    (work / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    say(f"{report['decision']}: {'; '.join(reasons)}")
    return report
