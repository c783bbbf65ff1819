"""Train a bundle: load and split data, fit the heads, tune routing and review thresholds on dev, score, save."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from training.args import DataArguments, ModelArguments, RunArguments
from training.datasets import Dataset, fingerprint, merge_labels, own_corpus, read_many, split, tipdm_train
from training.evaluate import evaluate, predict_all
from triage.bundle import save_bundle
from triage.classifiers import CalibratedLinearClassifier, MultiHeadClassifier
from triage.classifiers.calibration import ProbabilityCalibrator
from triage.classifiers.ensemble import choose_weights
from triage.deadlines import default_calendar
from triage.errors import LabelError
from triage.features import TextFeaturizer
from triage.labels import HEADS
from triage.normalise import normalise
from triage.pipeline import Knowledge, TriagePipeline
from triage.places import default_gazetteer
from triage.routing import RankingWeights
from triage.rules import default_rules
from triage.suggest import ReviewThresholds, choose_threshold
from triage.units import Catalogue, default_catalogue

logger = logging.getLogger(__name__)
RECALIBRATED_HEADS = ("category", "topic", "scope")
TRANSFORMER_HEADS = ("category", "topic", "scope")
"""Heads the transformer learns; units stay with the linear model and the routing knowledge."""
"""Heads whose probabilities are shown or thresholded as they are; the unit scores get the ranker's own temperature."""
Step = Callable[[str], None]


def load_training_data(args: DataArguments, catalogue: Catalogue, seed: int) -> tuple[Dataset, Dataset, dict[str, Any]]:
    """Training and development sets for a preset and/or an analyst's files, with their fingerprints."""
    train, dev = Dataset(), Dataset()
    sources: dict[str, Any] = {}
    if args.preset in ("default", "full"):
        own_train, own_dev = split(own_corpus(catalogue), args.dev_fraction, seed)
        train.extend(own_train)
        dev.extend(own_dev)
        sources["own_corpus"] = {"train": fingerprint(own_train), "dev": fingerprint(own_dev)}
    if args.preset == "full":
        # all of it trains: thresholds and routing are tuned on the own corpus's dev split, which is in the
        # register the product serves (calls), and the shared test split stays for reporting only
        tip_train = tipdm_train()
        train.extend(tip_train)
        sources["tipdm2020c_train"] = {"train": fingerprint(tip_train)}
    if args.data_files:
        analyst = read_many(args.data_files, catalogue=catalogue)
        for label_file in args.label_files:
            merge_labels(analyst, label_file)
        a_train, a_dev = split(analyst, args.dev_fraction, seed)
        train.extend(a_train)
        dev.extend(a_dev)
        sources["files"] = {"paths": list(args.data_files), "train": fingerprint(a_train), "dev": fingerprint(a_dev)}
    if args.max_train_samples is not None and len(train) > args.max_train_samples:
        rng = random.Random(seed)
        train.records = rng.sample(train.records, args.max_train_samples)
    if not train.records:
        raise LabelError("no usable training rows: every line was rejected (see the problems reported)")
    return train, dev, sources


def build_classifier(args: ModelArguments, seed: int) -> MultiHeadClassifier:
    return MultiHeadClassifier(
        featurizer=TextFeaturizer(
            word_ngram_range=(1, args.word_ngram_max), char_ngram_range=(1, args.char_ngram_max), min_df=args.min_df
        ),
        head=CalibratedLinearClassifier(C=args.C, calibration=args.calibration, random_state=seed),
    )


def trainable_labels(train: Dataset) -> dict[str, list[str | None]]:
    """Labels of every head that has any; category and topic are required for a pipeline."""
    labels = {head: train.labels(head) for head in HEADS if any(v is not None for v in train.labels(head))}
    for required in ("category", "topic"):
        if required not in labels:
            raise LabelError(f"no `{required}` labels in the training data; a model needs category and topic")
    return labels


def recalibrate(pipeline: TriagePipeline, dev: Dataset, method: str, seed: int) -> dict[str, Any]:
    """Recalibrate the heads on the dev split, before anything else is tuned on their scores there."""
    if method == "none":
        return {}
    heads = {h: dev.labels(h) for h in RECALIBRATED_HEADS if h in pipeline.heads and any(dev.labels(h))}
    if not heads:
        return {}
    texts = [normalise(t) for t in dev.texts()]
    return pipeline.classifier.recalibrate(texts, heads, ProbabilityCalibrator(method=method, random_state=seed))  # type: ignore[arg-type]


def fit_transformer(
    run: RunArguments, pipeline: TriagePipeline, texts: list[str], labels: dict[str, list[str | None]], dev: Dataset, say: Step
) -> dict[str, Any]:
    """Fine-tune the encoder on the same rows as the linear heads, export it to int8 ONNX, and set its weights.

    `ensemble` weights come from dev log-loss per head; where every weight is 0 the transformer is left out
    of the bundle, so that what is served is what validated best.
    """
    from training.transformer import FinetuneArguments, export_onnx, finetune
    from triage.transformer import TransformerHeads

    heads = [h for h in TRANSFORMER_HEADS if h in labels]
    out = Path(run.training.output_dir)
    work = out.with_name(out.name + ".transformer")
    dev_texts = [normalise(t) for t in dev.texts()]
    dev_labels = {h: dev.labels(h) for h in heads}
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
    say(f"fine-tuning {run.model.base_model} on {len(texts)} rows ({', '.join(heads)}); checkpoints in {work}")
    folder = finetune(args, texts, {h: labels[h] for h in heads}, dev_texts or None, dev_labels if dev_texts else None)
    say("exporting the transformer to ONNX (int8) and checking it against PyTorch")
    parity = export_onnx(folder, quantize=True, texts_for_check=(dev_texts or texts)[:200])
    member = TransformerHeads.load(folder)
    table: dict[str, Any] = {}
    if run.model.model_type == "transformer" or not dev_texts:
        weights = dict.fromkeys(heads, 1.0)
    else:
        linear = pipeline.classifier.predict_proba(dev_texts)
        weights, table = choose_weights(
            linear, pipeline.classifier.classes_, member.predict_proba(dev_texts), member.classes_, dev_labels
        )
    kept = any(w > 0 for w in weights.values())
    pipeline.transformer, pipeline.blend = (member, weights) if kept else (None, {})
    say(f"transformer weights per head: {weights}" + ("" if kept else " (left out: the linear heads validate better)"))
    return {"base_model": run.model.base_model, "heads": heads, "weights": weights, "kept": kept, "chosen_on_dev": table, "onnx_parity": parity}


def tune_ranking(pipeline: TriagePipeline, dev: Dataset) -> RankingWeights:
    """Grid-search the ranking weights for top-1 + top-3 unit accuracy on dev, then the score temperature for log-loss."""
    rows = [r for r in dev.records if r.label("unit")]
    if len(rows) < 10:
        return pipeline.ranker.weights
    ranker = pipeline.ranker
    evidence = pipeline.routing_evidence([normalise(r.text) for r in rows])
    gold = [r.label("unit") for r in rows]
    best, best_score = ranker.weights, -1.0
    grid = itertools.product([0.5, 1.0, 2.0], [0.3, 0.6, 1.0], [0.2, 0.4, 0.8], [0.1, 0.3, 0.6], [0.3, 0.8, 1.5])
    for model, duty, similarity, topic, place in grid:
        weights = replace(ranker.weights, model=model, duty=duty, similarity=similarity, topic=topic, place=place)
        top1 = top3 = 0
        for ev, g in zip(evidence, gold, strict=True):
            names = [u.name for u in ranker.rank_evidence(ev, top_k=3, weights=weights)]
            top1 += names[0] == g
            top3 += g in names
        score = (top1 + top3) / (2 * len(rows))
        if score > best_score + 1e-9:
            best, best_score = weights, score
    best_nll, best_temperature = float("inf"), best.temperature
    for temperature in (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8):
        weights = replace(best, temperature=temperature)
        nll = 0.0
        for ev, g in zip(evidence, gold, strict=True):
            ranked = {u.name: u.score for u in ranker.rank_evidence(ev, top_k=len(ranker.names), weights=weights)}
            nll -= float(np.log(max(ranked.get(str(g), 0.0), 1e-9)))
        if nll < best_nll:
            best_nll, best_temperature = nll, temperature
    best = replace(best, temperature=best_temperature)
    logger.info("ranking weights %s (dev top-1+top-3 score %.3f)", best, best_score)
    return best


def tune_refusal_threshold(pipeline: TriagePipeline, dev: Dataset, max_false_refusals: float = 0.02) -> float:
    """The threshold that catches most out-of-scope calls while false refusals stay under the limit on dev."""
    rows = [r for r in dev.records if r.label("scope")]
    if "scope" not in pipeline.heads or len(rows) < 10:
        return pipeline.scope.refusal_threshold
    texts = [normalise(r.text) for r in rows]
    proba = pipeline.head_proba(texts)["scope"]
    classes = [str(c) for c in pipeline.classifier.classes_["scope"]]
    best, best_recall = 0.9, -1.0
    for threshold in (0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        pipeline.scope.refusal_threshold = threshold
        decisions = [pipeline.scope.decide(t, dict(zip(classes, p.tolist(), strict=True))) for t, p in zip(texts, proba, strict=True)]
        gold_in = [r.label("scope") == "accepted" for r in rows]
        n_in = max(1, sum(gold_in))
        n_out = max(1, len(rows) - sum(gold_in))
        false_refusals = sum(1 for g, d in zip(gold_in, decisions, strict=True) if g and not d.accepted) / n_in
        recall = sum(1 for g, d in zip(gold_in, decisions, strict=True) if not g and not d.accepted) / n_out
        if false_refusals <= max_false_refusals and recall > best_recall:
            best, best_recall = threshold, recall
    pipeline.scope.refusal_threshold = best
    return best


def tune_thresholds(pipeline: TriagePipeline, dev: Dataset, target_precision: float) -> ReviewThresholds:
    suggestions = predict_all(pipeline, dev)
    values: dict[str, float] = {}
    for head in ("category", "topic"):
        pairs = [(getattr(s, head).score, getattr(s, head).label == r.label(head)) for r, s in zip(dev.records, suggestions, strict=True) if r.label(head)]
        if len(pairs) >= 10:
            values[head] = choose_threshold(*zip(*pairs, strict=True), target_precision)  # type: ignore[arg-type]
    pairs = [(s.units[0].score, s.units[0].name == r.label("unit")) for r, s in zip(dev.records, suggestions, strict=True) if r.label("unit") and s.units]
    if len(pairs) >= 10:
        values["unit"] = choose_threshold(*zip(*pairs, strict=True), target_precision)  # type: ignore[arg-type]
    return ReviewThresholds(**values, target_precision=target_precision, chosen_on=f"dev split, {len(dev)} rows")


def train(run: RunArguments, *, step: Step | None = None) -> tuple[Path, dict[str, Any]]:
    """Run a whole training; returns the bundle folder and its dev metrics."""
    say = step or (lambda message: logger.info(message))
    started = time.perf_counter()
    seed = run.training.seed
    random.seed(seed)
    np.random.seed(seed)
    catalogue = default_catalogue()
    knowledge = Knowledge(catalogue, default_gazetteer(), default_rules(), default_calendar())

    say("loading data")
    train_data, dev_data, sources = load_training_data(run.data, catalogue, seed)
    for problem in train_data.problems + dev_data.problems:
        logger.warning(problem)
    labels = trainable_labels(train_data)
    say(f"fitting heads {', '.join(labels)} on {len(train_data)} rows")
    texts = [normalise(t) for t in train_data.texts()]
    classifier = build_classifier(run.model, seed).fit(texts, labels)
    fit_seconds = time.perf_counter() - started

    name = Path(run.training.output_dir).name
    version = run.training.version or f"{name}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S')}"
    pipeline = TriagePipeline(classifier, knowledge, version=version)
    metrics: dict[str, Any] = {}
    recalibration: dict[str, Any] = {}
    members: dict[str, Any] = {}
    if len(dev_data):
        say(f"recalibrating, tuning routing and thresholds on {len(dev_data)} dev rows")
        recalibration = recalibrate(pipeline, dev_data, run.model.recalibration, seed)
    if run.model.model_type != "linear":
        members = fit_transformer(run, pipeline, texts, labels, dev_data, say)
    if len(dev_data):
        pipeline.ranker.weights = tune_ranking(pipeline, dev_data)
        tune_refusal_threshold(pipeline, dev_data)
        pipeline.thresholds = tune_thresholds(pipeline, dev_data, run.training.target_precision)
        say("scoring on dev")
        metrics = {"dev": evaluate(pipeline, dev_data)}
    metrics["train_seconds"] = round(time.perf_counter() - started, 2)
    metrics["fit_seconds"] = round(fit_seconds, 2)
    training_info = {
        "arguments": run.to_dict(),
        "data": sources,
        "train_rows": len(train_data),
        "dev_rows": len(dev_data),
        "problems": train_data.problems[:200],
        "n_problems": len(train_data.problems),
        "ranking_weights": asdict(pipeline.ranker.weights),
        "recalibration": recalibration,
        "transformer": members,
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


def model_card(pipeline: TriagePipeline, training: dict[str, Any], metrics: dict[str, Any]) -> str:
    dev = metrics.get("dev", {})

    def score(path: list[str]) -> str:
        node: Any = dev
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return "n/a"
            node = node[key]
        return f"{node:.3f}" if isinstance(node, float) else str(node)

    lines = [
        f"# Model card: {pipeline.version}",
        "",
        "Linear heads (LinearSVC, sigmoid-calibrated) over word (jieba) and character TF-IDF features, with the",
        "routing knowledge of data/ (unit catalogue, gazetteer, scope and deadline rules) copied into `knowledge/`.",
        *members_lines(training.get("transformer") or {}),
        "",
        "## How it was trained",
        f"- preset: {training['arguments']['data']['preset']}; files: {training['arguments']['data']['data_files'] or 'none'}",
        f"- rows: {training['train_rows']} train, {training['dev_rows']} dev (held out, used for tuning and the scores below)",
        f"- heads: {', '.join(pipeline.heads)}",
        f"- seed: {training['arguments']['training']['seed']}; arguments in `training_args.json`; data fingerprints in `manifest.json`",
        f"- rows rejected while reading: {training['n_problems']}",
        f"- recalibration on the dev split (chosen by 5-fold log-loss): {recalibration_line(training.get('recalibration', {}))}",
        "",
        "## Scores on the development split",
        "| metric | value |",
        "|---|---|",
        f"| category accuracy / macro-F1 | {score(['category', 'accuracy'])} / {score(['category', 'macro_f1'])} |",
        f"| topic accuracy / macro-F1 | {score(['topic', 'accuracy'])} / {score(['topic', 'macro_f1'])} |",
        f"| unit top-1 / top-3 | {score(['unit', 'top1_accuracy'])} / {score(['unit', 'top3_accuracy'])} |",
        f"| scope false refusals / out-of-scope recall | {score(['scope', 'false_refusal_rate'])} / {score(['scope', 'out_of_scope_recall'])} |",
        f"| district accuracy where a place is said | {score(['district', 'accuracy_where_place_said'])} |",
        f"| deadline class accuracy | {score(['deadline', 'accuracy'])} |",
        "",
        "## Intended use and limits",
        "Suggestions for 12345 dispatchers, who confirm or correct them; `needs_review` marks those below the",
        "thresholds chosen on the dev split. Place knowledge is 长沙's; in another city `district` is mostly null",
        "until its gazetteer is added. Trained on written and simulated call text: check on real calls before relying on it.",
        "",
    ]
    return "\n".join(lines)
