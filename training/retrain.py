"""The analysts' loop: dispatchers' decided orders + the base data -> a candidate, promoted only if no head got worse.

Steps, each recorded in the report:
1. export the decided orders (what dispatchers confirmed or corrected) from the service database;
2. merge them with the base model's training data: an order outranks every base record with the same
   normalised text (a correction wins over the label it contradicts), and orders that repeat a call of
   the frozen evaluation set are held out so that the evaluation stays clean;
3. train a candidate with the base model's arguments (tuned on out-of-fold predictions, as every model is);
4. score the current model and the candidate on the frozen evaluation set (the own corpus's frozen test
   split, which neither trained nor tuned on);
5. promote when no headline figure is worse than the current one's by more than the tolerance.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from training.args import DataArguments, RunArguments
from training.datasets import (
    Dataset,
    Record,
    corpus_split,
    merge_labels,
    read_labelled,
    read_many,
    tipdm_train,
)
from training.evaluate import evaluate
from training.registry import HEADLINE, Registry, ensure_registered, headline, models_root
from triage.bundle import load_bundle
from triage.normalise import normalise
from triage.pipeline import TriagePipeline
from triage.units import default_catalogue

logger = logging.getLogger(__name__)
Step = Callable[[str], None]
LOWER_IS_BETTER = {"scope_false_refusal_rate"}
DEFAULT_TOLERANCE = 0.02
RUNNING = threading.Lock()
"""One retrain at a time per process: two would race for the registry and the CPU."""


class RetrainBusy(RuntimeError):
    """Another retrain is running in this process."""


@dataclass
class MergeStats:
    orders: int = 0
    orders_used: int = 0
    orders_duplicate_text: int = 0
    orders_held_out_frozen: int = 0
    base_rows: int = 0
    base_replaced: int = 0
    base_contradicted: int = 0


def export_orders(sessions: Any, out_file: Path, *, since: dt.datetime | None = None) -> int:
    """Write the decided orders as JSONL (the format of GET /v1/exports/labelled-orders); returns how many."""
    from api.queries import labelled_orders

    out_file.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with sessions() as session, out_file.open("w", encoding="utf-8") as sink:
        for row in labelled_orders(session, since=since):
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _key(text: str) -> str:
    """The text two records must share to be "the same call": normalised (so PII-masked), punctuation and spaces dropped."""
    try:
        text = normalise(text)
    except Exception:  # an unreadable base line cannot collide with anything
        pass
    return re.sub(r"[\W_]+", "", text)


def base_data(run: RunArguments) -> Dataset:
    """The base model's training data as records (never the own corpus's frozen test split)."""
    catalogue = default_catalogue()
    data = Dataset()
    if run.data.preset in ("default", "full"):
        data.extend(corpus_split(catalogue)[0])
    if run.data.preset == "full":
        data.extend(tipdm_train(catalogue))
    if run.data.data_files:
        files = read_many(run.data.data_files, catalogue=catalogue, unknown_units="error")
        for label_file in run.data.label_files:
            merge_labels(files, label_file, catalogue=catalogue, strict=True)
        data.extend(files)
    return data


def merge_corrections(base: Dataset, orders: Dataset, frozen: Iterable[Record]) -> tuple[list[Record], list[Record], MergeStats]:
    """(base records kept, order records used, counts): orders outrank base records with the same normalised text."""
    stats = MergeStats(orders=len(orders), base_rows=len(base))
    frozen_texts = {_key(r.text) for r in frozen}
    by_text: dict[str, Record] = {}
    for record in orders.records:  # in id order: the latest decision on a repeated call wins
        key = _key(record.text)
        if key in frozen_texts:
            stats.orders_held_out_frozen += 1
            continue
        if key in by_text:
            stats.orders_duplicate_text += 1
        by_text[key] = record
    kept = []
    for record in base.records:
        order = by_text.get(_key(record.text))
        if order is None:
            kept.append(record)
            continue
        stats.base_replaced += 1
        if any(record.label(f) and order.label(f) and record.label(f) != order.label(f) for f in order.labels):
            stats.base_contradicted += 1
    used = list(by_text.values())
    stats.orders_used = len(used)
    return kept, used, stats


def write_jsonl(records: Iterable[Record], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as sink:
        for record in records:
            row: dict[str, Any] = {"id": record.id, "text": record.text, "origin": record.origin, **record.labels}
            if record.units_ok:
                row["units_ok"] = list(record.units_ok)
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


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
    if not RUNNING.acquire(blocking=False):
        raise RetrainBusy("a retrain is already running")
    try:
        return _retrain(
            orders_file, root=root or models_root(), base_model=base_model, tolerance=tolerance, promote=promote, version=version, step=step, sign=sign
        )
    finally:
        RUNNING.release()


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

    say("reading orders and base data")
    catalogue = default_catalogue()
    orders = read_labelled(orders_file, catalogue=catalogue, unknown_units="error")
    base = base_data(base_run)
    frozen = corpus_split(catalogue)[1]
    kept, used, stats = merge_corrections(base, orders, frozen.records)
    version = version or f"retrain-{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S')}"
    work = root / "retrain" / version
    merged_file = work / "train.jsonl"
    write_jsonl([*kept, *used], merged_file)

    say(f"training candidate {version} on {len(kept)} base rows + {len(used)} orders")
    run = RunArguments(
        DataArguments(preset=None, data_files=[str(merged_file.resolve())], knowledge_rows=base_run.data.knowledge_rows),
        base_run.model,
        replace(base_run.training, output_dir=str((root / version).resolve()), version=version),
    )
    bundle, _ = train(run, step=say)
    if sign is not None:
        sign(bundle)

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
        "merge": vars(stats),
        "headline": table,
        "agreement_with_orders": {"current": _corrected_accuracy(current_pipeline, used), "candidate": _corrected_accuracy(candidate_pipeline, used)},
        "bundle": str(bundle),
        "training_file": str(merged_file),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    with Registry.edit(root) as registry:
        registry.register(bundle, retrain={"decision": report["decision"], "reasons": reasons, "against": current_version})
        if promoted:
            registry.promote(version)
    (work / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    say(f"{report['decision']}: {'; '.join(reasons)}")
    return report
