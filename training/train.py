"""Train a bundle: load the data, fit the heads on everything and on k folds, tune on the out-of-fold
predictions, score on the own corpus's frozen test split (to report only), save.

Nothing tunes on a fixed dev split any more: recalibration, ranking weights, the refusal threshold and
each field's auto threshold are chosen on out-of-fold predictions over all training rows, calls and real
messages alike (training/crossval.py, training/tuning.py). The frozen test split is never among them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from training.args import DataArguments, ModelArguments, RunArguments
from training.crossval import OutOfFold, fit_with_out_of_fold
from training.datasets import (
    Dataset,
    caller_state_rows,
    catalogue_rows,
    corpus_split,
    development_probes,
    fingerprint,
    merge_labels,
    outrank,
    probe_files,
    read_labelled,
    read_many,
    tipdm_annotated_test,
    tipdm_split,
)
from training.evaluate import ceiling_rows, ceiling_scores, evaluate, predict_all
from training.tuning import choose_auto_thresholds, register_of, tune_ranking, tune_refusal_threshold
from triage.bundle import save_bundle
from triage.classifiers import CalibratedLinearClassifier, MultiHeadClassifier
from triage.classifiers.calibration import ProbabilityCalibrator
from triage.classifiers.caller_state import CallerState
from triage.classifiers.ensemble import choose_weights
from triage.classifiers.multihead import HeadLabel
from triage.deadlines import default_calendar
from triage.errors import LabelError
from triage.features import TextFeaturizer
from triage.labels import HEADS
from triage.normalise import normalise
from triage.pipeline import Knowledge, TriagePipeline
from triage.places import default_gazetteer
from triage.rules import default_rules
from triage.suggest import apply_thresholds
from triage.units import LOCAL, Catalogue, default_catalogue

logger = logging.getLogger(__name__)
RECALIBRATED_HEADS = ("category", "topic", "scope")
"""Heads whose probabilities are shown or thresholded as they are; the unit scores get the ranker's own temperature."""
TRANSFORMER_HEADS = ("category", "topic", "scope")
"""Heads the transformer learns; units stay with the linear model and the routing knowledge."""
Step = Callable[[str], None]


def load_training_data(args: DataArguments, catalogue: Catalogue, seed: int) -> tuple[Dataset, dict[str, Dataset], dict[str, Any]]:
    """(training rows, held-out sets by name, fingerprints) for a preset and/or an analyst's files.

    The held-out sets (`test`: the own corpus's frozen test split; `messages`: the held-out unit-labelled real
    messages, full preset) are returned only to be scored for the model card; nothing trains or tunes on them.
    """
    train = Dataset()
    held: dict[str, Dataset] = {}
    sources: dict[str, Any] = {}
    if args.preset in ("default", "full"):
        own_train, own_test = corpus_split(catalogue)
        train.extend(own_train)
        held["test"] = own_test
        sources["own_corpus"] = {"train": fingerprint(own_train), "test": fingerprint(own_test)}
        # outside writers' calls, read for fixes or written to train (data/probes/probes.yaml); a repeat of a frozen call is left out
        probes = development_probes(catalogue, frozen=own_test.records)
        train.extend(probes)
        sources["development_probes"] = {"files": [p.name for p in probe_files("development")], "train": fingerprint(probes)}
    if args.preset == "full":
        tip_train, tip_held = tipdm_split(catalogue)
        train.extend(tip_train)
        held["messages"] = tip_held
        sources["tipdm2020c_train"] = {"train": fingerprint(tip_train), "held_out": fingerprint(tip_held)}
    if args.data_files:
        # a hotline's own orders: every bad line stops training (nothing trains on silently dropped rows)
        analyst = read_many(args.data_files, catalogue=catalogue, unknown_units="error", strict=True)
        for label_file in args.label_files:
            merge_labels(analyst, label_file, catalogue=catalogue, strict=True)
        if len(analyst) < MIN_LOCAL_ROWS:
            logger.warning("only %d rows in the data files: what they change will be noisy (at least %d advised)", len(analyst), MIN_LOCAL_ROWS)
        # a local row outranks a preset row with the same normalised text; none repeats a held-out call
        kept, used, merge = outrank(train, analyst, [r for held_set in held.values() for r in held_set.records])
        if args.preset is not None and args.local_weight != 1.0:
            for record in used:
                heads = [h for h in HEADS if record.label(h) is not None or (h == "unit" and record.units_ok)]
                for head in heads:
                    record.weights[head] = record.weights.get(head, 1.0) * args.local_weight
        train.records = [*kept, *used]
        train.problems.extend(analyst.problems)
        local = Dataset(records=used)
        sources["files"] = {"paths": list(args.data_files), "train": fingerprint(local), "local_weight": args.local_weight, "merge": vars(merge)}
    if args.max_train_samples is not None and len(train) > args.max_train_samples:
        rng = random.Random(seed)
        train.records = rng.sample(train.records, args.max_train_samples)
    if not train.records:
        raise LabelError("no usable training rows: every line was rejected (see the problems reported)")
    if args.knowledge_rows:
        knowledge = catalogue_rows(catalogue)
        train.extend(knowledge)
        sources["catalogue"] = {"train": fingerprint(knowledge)}
    return train, held, sources


UNTUNED = frozenset({"probes"})
"""Origins that train but choose no weight or threshold and are not scored out of fold: one development probe in six
is an emergency and many more are its look-alikes, not the traffic a threshold is for (as a source of their own, their rows
set the spoken bar at the low end of a wide interval; pooled with the calls, their easier categories lowered the
calls' bar below its target). Leaving their 3,280 rows out of the out-of-fold suggestions also saves about 3 s a run."""
MIN_LOCAL_ROWS = 20
PRIOR_HEADS = ("category", "topic", "unit")
"""Heads whose priors `--adapt-priors` re-estimates; never scope: a new city's traffic must not make refusals likelier."""


def adapt_priors(
    classifier: MultiHeadClassifier, path: str, proba: dict[str, np.ndarray], oof: OutOfFold, labels: dict[str, list[HeadLabel]]
) -> dict[str, Any]:
    """EM prior shift on unlabelled local calls. The priors the heads assume are their mean calibrated out-of-fold
    probabilities over the training rows that have the head's label."""
    local = read_labelled(path, strict=True)
    if not local.records:
        raise LabelError(f"{path}: no calls to adapt the priors on")
    X = classifier.transform([normalise(t) for t in local.texts()])
    train_priors = {}
    for head in PRIOR_HEADS:
        if head not in proba:
            continue
        rows = oof.scored(head) & np.array([v is not None for v in labels[head]])
        if rows.any():
            train_priors[head] = np.clip(proba[head][rows].mean(axis=0), 1e-6, None)
    return {"path": path, "heads": classifier.adapt_priors(X, train_priors)}


def build_classifier(args: ModelArguments, seed: int) -> MultiHeadClassifier:
    return MultiHeadClassifier(
        featurizer=TextFeaturizer(
            word_ngram_range=(1, args.word_ngram_max), char_ngram_range=(1, args.char_ngram_max), min_df=args.min_df
        ),
        head=CalibratedLinearClassifier(C=args.C, calibration=args.calibration, random_state=seed),
        alternative_weight=args.alternative_weight,
    )


def unit_target(acceptable: tuple[str, ...], catalogue: Catalogue) -> HeadLabel:
    """What the unit head learns from a row's acceptable units: districts and zones become `属地` (the head learns
    whether a matter is local; the place decides which district), the best first."""
    names = list(dict.fromkeys(LOCAL if catalogue.is_local(u) else u for u in acceptable))
    if not names:
        return None
    return names[0] if len(names) == 1 else tuple(names)


def trainable_labels(train: Dataset, catalogue: Catalogue) -> dict[str, list[HeadLabel]]:
    """Labels of every head that has any; category and topic are required for a pipeline."""
    labels: dict[str, list[HeadLabel]] = {}
    for head in HEADS:
        values: list[HeadLabel] = (
            [unit_target(r.acceptable_units(), catalogue) for r in train.records] if head == "unit" else list(train.labels(head))
        )
        if any(v is not None for v in values):
            labels[head] = values
    for required in ("category", "topic"):
        if required not in labels:
            raise LabelError(f"no `{required}` labels in the training data; a model needs category and topic")
    return labels


def label_weights(train: Dataset, labels: dict[str, list[HeadLabel]]) -> dict[str, list[float]] | None:
    """Per head with any row weighted otherwise than 1 (a low-confidence label), every row's weight."""
    out = {head: [r.weights.get(head, 1.0) for r in train.records] for head in labels if any(head in r.weights for r in train.records)}
    return out or None


def recalibrate(classifier: MultiHeadClassifier, oof: OutOfFold, labels: dict[str, list[HeadLabel]], method: str, seed: int) -> dict[str, Any]:
    """Recalibrate the heads on their out-of-fold probabilities, before anything is tuned on their scores."""
    if method == "none":
        return {}
    raw: dict[str, np.ndarray] = {}
    gold: dict[str, list[str | None]] = {}
    for head in RECALIBRATED_HEADS:
        if head not in oof.proba:
            continue
        rows = np.flatnonzero(oof.scored(head) & np.array([v is not None for v in labels[head]]))
        if len(rows):
            raw[head] = oof.proba[head][rows]
            gold[head] = [labels[head][i] for i in rows]  # type: ignore[misc]
    if not raw:
        return {}
    return classifier.recalibrate_from(raw, gold, ProbabilityCalibrator(method=method, random_state=seed))  # type: ignore[arg-type]


def calibrated(classifier: MultiHeadClassifier, oof: OutOfFold) -> dict[str, np.ndarray]:
    """The out-of-fold probabilities as the served heads would give them (recalibrated where they are)."""
    out = {}
    for head, proba in oof.proba.items():
        calibrator = classifier.calibrators_.get(head)
        scored = oof.scored(head)
        p = proba.copy()
        if calibrator is not None and scored.any():
            p[scored] = calibrator.transform(proba[scored])
        out[head] = p
    return out


def fit_transformer(
    run: RunArguments,
    pipeline: TriagePipeline,
    texts: list[str],
    labels: dict[str, list[HeadLabel]],
    oof: OutOfFold | None,
    linear_oof: dict[str, np.ndarray] | None,
    say: Step,
) -> dict[str, Any]:
    """Fine-tune the encoder, export it to int8 ONNX, and set its weights.

    The first fold is the encoder's validation set: it fine-tunes on the others, and `ensemble` weights come
    from log-loss on that fold against the linear heads' out-of-fold probabilities there. Where every weight
    is 0 the transformer is left out of the bundle, so that what is served is what validated best.
    """
    from training.transformer import FinetuneArguments, export_onnx, finetune
    from triage.transformer import TransformerHeads

    heads = [h for h in TRANSFORMER_HEADS if h in labels]
    held = np.flatnonzero(oof.folds == 0) if oof is not None else np.array([], dtype=int)
    rest = np.setdiff1d(np.arange(len(texts)), held)
    out = Path(run.training.output_dir)
    work = out.with_name(out.name + ".transformer")
    dev_texts = [texts[i] for i in held]
    dev_labels: dict[str, list[str | None]] = {h: [labels[h][i] for i in held] for h in heads}  # type: ignore[misc]
    args = FinetuneArguments(
        base_model=str(run.model.base_model),
        output_dir=str(work),
        heads=heads,
        max_length=run.model.transformer_max_length,
        per_device_batch_size=run.model.transformer_batch_size,
        learning_rate=run.model.transformer_learning_rate,
        epochs=run.model.transformer_epochs,
        seed=run.training.seed,
    )
    train_texts = [texts[i] for i in rest]
    train_labels = {h: [labels[h][i] for i in rest] for h in heads}
    say(f"fine-tuning {run.model.base_model} on {len(train_texts)} rows ({', '.join(heads)}); checkpoints in {work}")
    folder = finetune(args, train_texts, train_labels, dev_texts or None, dev_labels if dev_texts else None)  # type: ignore[arg-type]
    say("exporting the transformer to ONNX (int8) and checking it against PyTorch")
    parity = export_onnx(folder, quantize=True, texts_for_check=(dev_texts or texts)[:200])
    member = TransformerHeads.load(folder)
    table: dict[str, Any] = {}
    if run.model.model_type == "transformer" or not dev_texts or linear_oof is None:
        weights = dict.fromkeys(heads, 1.0)
    else:
        linear = {h: linear_oof[h][held] for h in heads}
        weights, table = choose_weights(linear, pipeline.classifier.classes_, member.predict_proba(dev_texts), member.classes_, dev_labels)
    kept = any(w > 0 for w in weights.values())
    pipeline.transformer, pipeline.blend = (member, weights) if kept else (None, {})
    say(f"transformer weights per head: {weights}" + ("" if kept else " (left out: the linear heads validate better)"))
    return {"base_model": run.model.base_model, "heads": heads, "weights": weights, "kept": kept, "chosen_on_fold0": table, "onnx_parity": parity}


def _gold(record: Any) -> dict[str, Any]:
    return {"category": record.label("category"), "scope": record.label("scope"), "units": record.acceptable_units()}


def tune(
    pipeline: TriagePipeline,
    train_data: Dataset,
    texts: list[str],
    X: Any,
    proba: dict[str, np.ndarray],
    oof: OutOfFold,
    run: RunArguments,
    say: Step,
) -> dict[str, Any]:
    """Ranking weights, refusal threshold and auto thresholds on out-of-fold predictions; returns what was
    measured (the ranking's figures, and the out-of-fold scores per register with the chosen thresholds)."""
    catalogue = pipeline.knowledge.catalogue
    records = train_data.records
    scored = np.array([r.origin != "catalogue" for r in records])
    for head in ("category", "topic"):
        scored &= oof.scored(head)
    if "unit" in proba:
        scored &= oof.scored("unit") | ~np.array([bool(r.acceptable_units()) for r in records])
    origin = np.array([r.origin for r in records])
    tuned = np.array([o not in UNTUNED for o in origin])
    rows = np.flatnonzero(scored & tuned)
    report: dict[str, Any] = {}

    def part(index: np.ndarray) -> dict[str, np.ndarray]:
        return {h: np.nan_to_num(p[index]) for h, p in proba.items()}

    unit_rows = np.array([i for i in rows if records[i].acceptable_units() and records[i].label("scope") in (None, "accepted")], dtype=int)
    if len(unit_rows) and "unit" in proba:
        say(f"tuning the unit ranking on {len(unit_rows)} out-of-fold rows")
        evidence = pipeline.routing_evidence([texts[i] for i in unit_rows], part(unit_rows), X=X[unit_rows])
        weights, report["ranking"] = tune_ranking(
            pipeline.ranker, evidence, [records[i].acceptable_units() for i in unit_rows], origin[unit_rows].tolist()
        )
        pipeline.ranker.weights = weights
    if "scope" in proba:
        scope_rows = np.array([i for i in np.flatnonzero(oof.scored("scope") & tuned) if records[i].label("scope")], dtype=int)
        classes = [str(c) for c in pipeline.classifier.classes_["scope"]]
        pipeline.scope.refusal_threshold = tune_refusal_threshold(
            pipeline.scope,
            [texts[i] for i in scope_rows],
            [dict(zip(classes, proba["scope"][i].tolist(), strict=True)) for i in scope_rows],
            [str(records[i].label("scope")) for i in scope_rows],
            origin[scope_rows].tolist(),
        )
    say(f"choosing auto thresholds on {len(rows)} out-of-fold suggestions")
    suggestions = pipeline.suggest_scored(
        [texts[i] for i in rows], part(rows), ids=[records[i].id for i in rows], X=X[rows], registers=[register_of(origin[i]) for i in rows]
    )
    t = run.training
    pipeline.thresholds = choose_auto_thresholds(
        suggestions,
        [_gold(records[i]) for i in rows],
        origin[rows].tolist(),
        catalogue,
        {"unit": t.unit_precision, "category": t.category_precision, "scope": t.scope_precision},
    )
    # the suggestions were assembled before the thresholds were chosen: decide their auto fields again
    suggestions = [apply_thresholds(s, pipeline.thresholds) for s in suggestions]
    by_origin: dict[str, Any] = {}
    for name in sorted(set(origin[rows].tolist())):
        pick = [k for k, i in enumerate(rows) if origin[i] == name]
        subset = Dataset([records[rows[k]] for k in pick])
        by_origin[name] = evaluate(pipeline, subset, [suggestions[k] for k in pick], catalogue=catalogue)
    report["out_of_fold"] = by_origin
    return report


def train(run: RunArguments, *, step: Step | None = None) -> tuple[Path, dict[str, Any]]:
    """Run a whole training; returns the bundle folder and its metrics (out-of-fold and frozen test split)."""
    say = step or (lambda message: logger.info(message))
    started = time.perf_counter()
    seed = run.training.seed
    random.seed(seed)
    np.random.seed(seed)
    catalogue = default_catalogue()
    knowledge = Knowledge(catalogue, default_gazetteer(), default_rules(), default_calendar())

    say("loading data")
    train_data, held_out, sources = load_training_data(run.data, catalogue, seed)
    for problem in train_data.problems:
        logger.warning(problem)
    labels = trainable_labels(train_data, catalogue)
    texts = [normalise(t) for t in train_data.texts()]
    n_jobs = run.training.n_jobs if run.training.n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + run.training.n_jobs)
    always = np.array([r.origin == "catalogue" for r in train_data.records])
    weights = label_weights(train_data, labels)
    classifier, oof, X = fit_with_out_of_fold(
        build_classifier(run.model, seed), texts, labels, k=run.training.folds, seed=seed, n_jobs=n_jobs, progress=say, always=always,
        weights=weights,
    )
    fit_seconds = time.perf_counter() - started

    name = Path(run.training.output_dir).name
    version = run.training.version or f"{name}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S')}"
    pipeline = TriagePipeline(classifier, knowledge, version=version)
    state_rows = caller_state_rows() if run.data.preset is not None else []
    states_from_probes = sum(r["origin"] == "probes" for r in state_rows)
    if state_rows:
        say(f"fitting the caller-state head on {len(state_rows)} labelled calls ({len(state_rows) - states_from_probes} of the training pool, {states_from_probes} development probes)")
        pipeline.caller_state = CallerState.from_rows(state_rows)
    metrics: dict[str, Any] = {}
    recalibration: dict[str, Any] = {}
    members: dict[str, Any] = {}
    tuning: dict[str, Any] = {}
    proba = None
    if oof is not None:
        say("recalibrating on out-of-fold predictions")
        recalibration = recalibrate(classifier, oof, labels, run.model.recalibration, seed)
        proba = calibrated(classifier, oof)
    if run.model.model_type != "linear":
        members = fit_transformer(run, pipeline, texts, labels, oof, proba, say)
    if oof is not None and proba is not None:
        tuning = tune(pipeline, train_data, texts, X, proba, oof, run, say)
        metrics["out_of_fold"] = tuning.pop("out_of_fold")
    else:
        say(f"{int((~always).sum())} labelled rows are too few for {run.training.folds}-fold tuning: default thresholds and weights kept")
    priors: dict[str, Any] = {}
    if run.data.adapt_priors:
        if oof is None or proba is None:
            raise LabelError("--adapt-priors needs enough training rows for cross-validation (the priors the heads assume)")
        say(f"re-estimating class priors on {run.data.adapt_priors}")
        priors = adapt_priors(classifier, run.data.adapt_priors, proba, oof, labels)
    for name, held in held_out.items():
        if len(held):
            say(f"scoring on the held-out {'calls' if name == 'test' else name} ({len(held)} rows)")
            metrics[name] = evaluate(pipeline, held, catalogue=catalogue)
    if run.data.preset == "full":
        annotated, second = tipdm_annotated_test()
        if annotated.records:
            say(f"scoring the category head against both annotators of {len(annotated)} tipdm2020c test messages (to report only)")
            ceiling = ceiling_scores(annotated, predict_all(pipeline, annotated), second)
            if ceiling is not None:
                metrics["category_ceiling"] = ceiling
    metrics["train_seconds"] = round(time.perf_counter() - started, 2)
    metrics["fit_seconds"] = round(fit_seconds, 2)
    training_info = {
        "arguments": run.to_dict(),
        "data": sources,
        "train_rows": len(train_data),
        "test_rows": len(held_out.get("test", ())),
        "held_out_messages": len(held_out.get("messages", ())),
        "folds": run.training.folds if oof is not None else None,
        "problems": train_data.problems[:200],
        "n_problems": len(train_data.problems),
        "ranking_weights": asdict(pipeline.ranker.weights),
        "ranking_out_of_fold": tuning.get("ranking", {}),
        "thresholds": asdict(pipeline.thresholds),
        "refusal_threshold": pipeline.scope.refusal_threshold,
        "recalibration": recalibration,
        "transformer": members,
        "prior_shift": priors,
        "caller_state_rows": len(state_rows),
        "caller_state_rows_from_probes": states_from_probes,
    }
    say("saving bundle")
    out = save_bundle(
        pipeline,
        run.training.output_dir,
        training=training_info,
        metrics=metrics,
        card=model_card(pipeline, training_info, metrics),
        extra_files={"training_args.json": json.dumps(run.to_dict(), ensure_ascii=False, indent=2)},
    )
    return out, metrics


def members_lines(members: dict[str, Any]) -> list[str]:
    if not members:
        return []
    if not members["kept"]:
        return [f"A transformer fine-tuned from `{members['base_model']}` was tried and left out: every dev weight came out 0."]
    weights = ", ".join(f"{h} {w:.1f}" for h, w in members["weights"].items())
    return [
        f"Mixed with a transformer fine-tuned from `{members['base_model']}` (in `transformer/`, served as int8 ONNX);",
        f"its share of the probabilities per head, chosen by dev log-loss: {weights}.",
    ]


def recalibration_line(chosen: dict[str, Any]) -> str:
    if not chosen:
        return "none"
    parts = []
    for head, info in chosen.items():
        method = info["method"] + (f" (T={info['temperature']})" if "temperature" in info else "")
        before, after = info["cross_validated"].get("none"), info["cross_validated"].get(info["method"])
        if before and after and info["method"] != "none":
            method += f", ECE {before['ece']:.3f} -> {after['ece']:.3f}"
        parts.append(f"{head}: {method}")
    return "; ".join(parts)


def _figure(metrics: dict[str, Any], path: list[str]) -> str:
    node: Any = metrics
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return "n/a"
        node = node[key]
    return f"{node:.3f}" if isinstance(node, float) else str(node)


def _threshold_lines(thresholds: dict[str, Any]) -> list[str]:
    lines = ["| field | threshold | target precision | out-of-fold precision / coverage (pooled) | per register |", "|---|---|---|---|---|"]
    for field_name, info in thresholds.get("measured", {}).items():
        if "threshold" not in info:
            continue
        per = "; ".join(f"{k}: {v.get('precision')} / {v.get('coverage')} (n={v.get('n')})" for k, v in info.get("by_source", {}).items())
        lines.append(f"| {field_name} | {info['threshold']} | {info['target_precision']} | {info.get('precision')} / {info.get('coverage')} (n={info.get('n')}) | {per} |")
    unmeasured = thresholds.get("measured", {}).get("unmeasured_registers", {})
    for register, own in thresholds.get("by_register", {}).items():
        chosen = ", ".join(f"{name} {value:.4f}" for name, value in own.items())
        if register in unmeasured:
            aims = ", ".join(f"{name} {info['target_precision']}" for name, info in unmeasured[register].items())
            lines.append(
                f"\nNo row the thresholds were chosen on was {register} text (development files train and never tune): such a text is "
                f"decided by thresholds aimed higher on the other rows ({aims}): {chosen}. Its precision is not measured; a training "
                f"whose tuned rows hold {register} text (the full preset's real messages) gives it thresholds of its own."
            )
        else:
            lines.append(f"\nA {register} text is decided by its own register's thresholds: {chosen} (chosen on that register's rows alone).")
    rules = thresholds.get("measured", {}).get("rule_refusals")
    if rules:
        lines.append(f"\nRefusals by rule: precision {rules.get('precision')} on {rules.get('n')} out-of-fold rows; auto: {rules.get('auto')}.")
    return lines


def _ceiling_lines(ceiling: dict[str, Any] | None) -> list[str]:
    """The model card's ceiling table: the category head against two annotators of the same real messages."""
    if not ceiling:
        return []
    lines = [
        "## Request type against two annotators",
        f"tipdm2020c's test messages that two annotators labelled independently ({ceiling['n']}; read only to report,",
        "never trained or tuned on). What they agree on is the ceiling; the gap is how far the head is below it.",
        "",
        "| | n | figure | 95% interval |",
        "|---|---:|---:|---|",
    ]
    for label, _, n, value, interval in ceiling_rows(ceiling):
        shown = "n/a" if value is None else f"{value:.3f}"
        lines.append(f"| {label} | {n if n is not None else 'n/a'} | {shown} | {f'{interval[0]:.3f}–{interval[1]:.3f}' if interval else ''} |")
    return [*lines, ""]


def _prior_lines(prior_shift: dict[str, Any]) -> list[str]:
    """The priors `--adapt-priors` found on the local calls, per head, beside those the heads assumed."""
    if not prior_shift:
        return []
    lines = [f"- class priors re-estimated without labels (EM, Saerens et al. 2002) on {prior_shift['path']}; training → local:"]
    for head, found in prior_shift["heads"].items():
        moved = sorted(found["priors"].items(), key=lambda kv: -abs(kv[1]["local"] - kv[1]["train"]))[:5]
        shown = ", ".join(f"{label} {p['train']:.2f}→{p['local']:.2f}" for label, p in moved)
        lines.append(f"  - {head} ({found['rows']} calls, {found['iterations']} steps): {shown}")
    return lines


def _probe_lines(probes: dict[str, Any] | None) -> list[str]:
    if not probes:
        return []
    counts = probes["train"]["labels"].get("scope", {})
    return [
        f"- outside writers' development probes trained beside the corpus: {probes['train']['rows']} calls"
        f" ({counts.get('emergency', 0)} emergencies) from {', '.join(probes['files'])}; blind probes never train"
        " (`data/probes/probes.yaml`)"
    ]


def model_card(pipeline: TriagePipeline, training: dict[str, Any], metrics: dict[str, Any]) -> str:
    oof = metrics.get("out_of_fold", {})
    held = {name: metrics[name] for name in ("test", "messages") if name in metrics}
    titles = {"test": "frozen test: calls", "messages": "held out: messages"}
    columns = [*(titles[k] for k in held), *(f"out-of-fold: {k}" for k in oof)]
    blocks = [*held.values(), *oof.values()]
    rows = [
        ("rows", ["n"]),
        ("category accuracy / macro-F1", ["category", "accuracy"], ["category", "macro_f1"]),
        ("topic accuracy / macro-F1", ["topic", "accuracy"], ["topic", "macro_f1"]),
        ("unit top-1 / top-3 acceptable", ["unit", "top1_accuracy"], ["unit", "top3_accuracy"]),
        ("unit top-1 / top-3, primary unit only", ["unit", "exact_top1"], ["unit", "exact_top3"]),
        ("dispatch fully auto (share of accepted) / its unit precision", ["automation", "dispatch", "coverage"], ["automation", "dispatch", "precision"]),
        ("category auto-filled (share) / its precision", ["automation", "category", "coverage"], ["automation", "category", "precision"]),
        ("needs_review share", ["needs_review_share"]),
        ("scope false refusals / out-of-scope recall", ["scope", "false_refusal_rate"], ["scope", "out_of_scope_recall"]),
        ("district accuracy where a place is said", ["district", "accuracy_where_place_said"]),
        ("deadline class accuracy", ["deadline", "accuracy"]),
    ]
    table = ["| metric | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, *paths in rows:
        cells = [" / ".join(_figure(block, path) for path in paths) for block in blocks]
        table.append(f"| {label} | " + " | ".join(cells) + " |")
    args = training["arguments"]
    lines = [
        f"# Model card: {pipeline.version}",
        "",
        "Linear heads (LinearSVC, sigmoid-calibrated) over word (jieba) and character TF-IDF features, with the",
        "routing knowledge of data/ (unit catalogue, gazetteer, scope and deadline rules) copied into `knowledge/`.",
        *members_lines(training.get("transformer") or {}),
        "",
        "## How it was trained",
        f"- preset: {args['data']['preset']}; files: {args['data']['data_files'] or 'none'}"
        + (f" (each row counting {args['data'].get('local_weight')} beside the preset's)" if args["data"]["data_files"] and args["data"]["preset"] else ""),
        *_probe_lines(training.get("data", {}).get("development_probes")),
        *_prior_lines(training.get("prior_shift") or {}),
        f"- rows: {training['train_rows']} trained on; held out, scored below and never trained or tuned on: {training['test_rows']} calls"
        f" of the own corpus's frozen test split and {training.get('held_out_messages', 0)} unit-labelled real messages",
        f"- tuning: {training['folds'] or 'no'}-fold out-of-fold predictions over every training row (recalibration), and over every row"
        " but the development probes (ranking weights, refusal threshold, auto thresholds, the out-of-fold scores below)",
        f"- heads: {', '.join(pipeline.heads)}; the unit head learns every acceptable unit (the best with weight 1, others {args['model'].get('alternative_weight')}), districts as `属地`",
        f"- seed: {args['training']['seed']}; arguments in `training_args.json`; data fingerprints in `manifest.json`",
        f"- rows rejected while reading: {training['n_problems']}",
        f"- recalibration (chosen by 5-fold log-loss on out-of-fold probabilities): {recalibration_line(training.get('recalibration', {}))}",
        "",
        "## Scores",
        "A unit counts as right when a dispatcher would accept it (`units_ok`). Out-of-fold figures also chose the",
        "thresholds, so their automation rows are optimistic; the held-out columns are the fair ones.",
        "",
        *table,
        "",
        *_ceiling_lines(metrics.get("category_ceiling")),
        "## When a field is auto",
        *_threshold_lines(training.get("thresholds", {})),
        "",
        "## Intended use and limits",
        "Suggestions for 12345 dispatchers, who confirm or correct them; `needs_review` marks a call whose scope,",
        "unit or (for a local matter) district is not auto. Place knowledge is 长沙's; in another city `district` is",
        "mostly null until its gazetteer is added. Trained on calls the project wrote and on real written messages:",
        "check on your own calls before relying on it.",
        "",
    ]
    return "\n".join(lines)
