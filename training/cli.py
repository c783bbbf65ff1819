"""The `triage` command: the composition root that wires the library, training and (later) the service.

Heavy modules are imported inside the command that needs them, so `triage --help` stays instant.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from training.args import LOCAL_WEIGHT
from triage.errors import TriageError
from triage.resources import DEFAULT_MODEL_DIR

app = typer.Typer(help="12345 hotline triage: train, evaluate and run the suggestion models.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)
logger = logging.getLogger("triage.cli")

ModelOption = Annotated[
    Path | None, typer.Option("--model", help="model bundle folder (default: models/default, trained first if absent)")
]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show progress details")] = False) -> None:
    level = logging.INFO if verbose else logging.WARNING
    # the handler's own level keeps out what a library's logger lets through (bm25s sets its logger to DEBUG)
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=err, show_path=False, show_time=False, level=level)])


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _spinner() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=False)


def ensure_model(model: Path | None) -> Path:
    """The model to use: the one given, else the registry's current one, else the default one (trained
    from data/ when missing)."""
    if model is not None:
        return model
    from triage.registry import Registry

    promoted = Registry.load().current_path()
    if promoted is not None:
        return promoted
    if (DEFAULT_MODEL_DIR / "manifest.json").is_file():
        from triage.bundle import FORMAT_VERSION, read_manifest

        try:
            version = read_manifest(DEFAULT_MODEL_DIR).get("format_version")
        except TriageError:
            version = None
        if version == FORMAT_VERSION:
            return DEFAULT_MODEL_DIR
        # the default model is built by a command from data/: an older format is rebuilt, not refused
        err.print(f"The default model at {DEFAULT_MODEL_DIR} is of bundle format {version}: training it again from data/ (seconds).")
    else:
        err.print(f"No model at {DEFAULT_MODEL_DIR}: training the default model from data/ first (seconds).")
    _train_run(preset="default", data=[], labels=[], out=DEFAULT_MODEL_DIR, seed=0, config=None)
    return DEFAULT_MODEL_DIR


def _train_run(
    *,
    preset: str | None,
    data: list[Path],
    labels: list[Path],
    out: Path,
    seed: int,
    config: Path | None,
    model: dict[str, Any] | None = None,
    data_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from training.args import DataArguments, ModelArguments, RunArguments, TrainingArguments
    from training.train import train

    if config is not None:
        run = RunArguments.load(config)
        run.training.output_dir = str(out)
    else:
        run = RunArguments(
            DataArguments(preset=preset, data_files=[str(p) for p in data], label_files=[str(p) for p in labels], **(data_options or {})),  # type: ignore[arg-type]
            ModelArguments(**(model or {})),
            TrainingArguments(output_dir=str(out), seed=seed),
        )
    with _spinner() as progress:
        task = progress.add_task("training", total=None)
        bundle, metrics = train(run, step=lambda message: progress.update(task, description=message))
        progress.update(task, description=f"saved {bundle}")
    return metrics


@app.command("train")
def train_command(
    out: Annotated[Path, typer.Option("--out", help="bundle folder to write")] = DEFAULT_MODEL_DIR,
    preset: Annotated[
        str | None, typer.Option(help="default: data/ only (seconds); full: plus every shared dataset; none: the --data files only")
    ] = None,
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="a hotline's labelled orders, JSONL/CSV (text + any of category/topic/unit/units_ok/district/scope), trained beside the preset")
    ] = None,
    local_weight: Annotated[float, typer.Option("--local-weight", help="how much each --data row counts beside a preset's rows")] = LOCAL_WEIGHT,
    adapt_priors: Annotated[
        Path | None, typer.Option("--adapt-priors", help="unlabelled local calls (JSONL/CSV `text`): re-estimate category/topic/unit priors (EM)")
    ] = None,
    labels: Annotated[list[Path] | None, typer.Option("--labels", help="extra labels by id (JSONL), merged into --data")] = None,
    seed: Annotated[int, typer.Option(help="seed for splits and models")] = 0,
    max_train_samples: Annotated[
        int | None, typer.Option("--max-train-samples", min=10, help="train on at most this many rows, drawn with the seed (a quick trial run)")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="training_args.json of an earlier run, to reproduce it")] = None,
    model: Annotated[str, typer.Option("--model", help="linear, transformer or ensemble (linear + transformer, mixed on dev)")] = "linear",
    base_model: Annotated[str | None, typer.Option("--base-model", help="encoder to fine-tune: folder from `triage pretrain`, or a local checkpoint")] = None,
    epochs: Annotated[float, typer.Option(help="transformer fine-tuning epochs")] = 3.0,
    max_length: Annotated[int, typer.Option(help="transformer tokens per text")] = 256,
    batch_size: Annotated[int, typer.Option(help="transformer texts per step per device")] = 32,
    learning_rate: Annotated[float, typer.Option(help="transformer peak learning rate")] = 1e-4,
) -> None:
    """Train a model bundle (linear heads; with --model transformer|ensemble also a fine-tuned encoder)."""
    if preset not in (None, "default", "full", "none"):
        raise fail(f"unknown preset {preset!r}; use default, full or none")
    if model not in ("linear", "transformer", "ensemble"):
        raise fail(f"unknown model {model!r}; use linear, transformer or ensemble")
    if preset == "none" and not data:
        raise fail("--preset none trains on the --data files only: give at least one")
    preset = None if preset == "none" else preset or "default"  # local orders train beside the project's data
    options: dict[str, Any] = {"model_type": model, "base_model": base_model}
    if model != "linear":
        options.update(
            transformer_epochs=epochs, transformer_max_length=max_length, transformer_batch_size=batch_size,
            transformer_learning_rate=learning_rate,
        )
    try:
        metrics = _train_run(
            preset=preset, data=list(data or []), labels=list(labels or []), out=out, seed=seed, config=config, model=options,
            data_options={
                "local_weight": local_weight, "adapt_priors": str(adapt_priors) if adapt_priors else None, "max_train_samples": max_train_samples,
            },
        )
    except (TriageError, ValueError) as exc:
        raise fail(str(exc)) from exc
    print(json.dumps(metrics, ensure_ascii=False, indent=2))


@app.command("pretrain")
def pretrain_command(
    out: Annotated[Path, typer.Option("--out", help="folder of the pretrained encoder (and its resumable checkpoints)")] = Path("models/.cache/charbert"),
    corpus: Annotated[list[Path] | None, typer.Option("--corpus", help="text files (.txt, .gz: a text a line; .jsonl: `text`)")] = None,
    shared: Annotated[bool, typer.Option("--shared/--no-shared", help="add ../shared/data/unlabelled_zh and the shared train splits")] = True,
    own: Annotated[bool, typer.Option("--own/--no-own", help="add the project's own call corpus (data/corpus)")] = True,
    max_steps: Annotated[int, typer.Option(help="optimiser steps in all; a rerun resumes and trains on to this")] = 10_000,
    hidden_size: Annotated[int, typer.Option(help="encoder width")] = 256,
    layers: Annotated[int, typer.Option(help="transformer layers")] = 4,
    heads: Annotated[int, typer.Option(help="attention heads")] = 4,
    max_length: Annotated[int, typer.Option(help="tokens per training window")] = 128,
    batch_size: Annotated[int, typer.Option(help="windows per step per device")] = 64,
    learning_rate: Annotated[float, typer.Option(help="peak learning rate (scale with the global batch)")] = 5e-4,
    max_texts: Annotated[int | None, typer.Option(help="cap on corpus texts, for quick runs")] = None,
    seed: Annotated[int, typer.Option(help="seed")] = 0,
) -> None:
    """Pretrain a character-level BERT with masked-language modelling (resumes from its last checkpoint)."""
    try:
        from training.datasets import corpus_files
        from training.transformer import PretrainArguments, pretrain
    except ImportError as exc:
        raise fail(f"the transformer path needs torch and transformers: pip install -e '.[transformer]' ({exc})") from exc
    files = [str(p) for p in corpus or []] + ([str(p) for p in corpus_files()] if own else [])
    try:
        args = PretrainArguments(
            output_dir=str(out), corpus_files=files, include_shared=shared, max_steps=max_steps, hidden_size=hidden_size,
            num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=4 * hidden_size, max_length=max_length,
            per_device_batch_size=batch_size, learning_rate=learning_rate, max_texts=max_texts, seed=seed,
        )
        folder = pretrain(args)
    except (TriageError, ValueError, OSError) as exc:
        raise fail(str(exc)) from exc
    err.print(f"pretrained encoder in {folder}; fine-tune it with `triage train --model ensemble --base-model {folder}`")


@app.command("predict")
def predict_command(
    text: Annotated[str | None, typer.Argument(help="one transcript (or use --input)")] = None,
    model: ModelOption = None,
    input: Annotated[Path | None, typer.Option("--input", help='JSONL of {"id", "text"} lines; a letter\'s "title" goes in front of its text')] = None,
    output: Annotated[Path | None, typer.Option("--output", help="JSONL of suggestions (default: stdout)")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="processes for a large --input file (default: one per core; 1: this process only)")
    ] = None,
    register: Annotated[
        str, typer.Option("--register", help="spoken (call transcripts) or written (letters, web messages): each has its own review thresholds")
    ] = "spoken",
) -> None:
    """Suggest category, topic, units, district, scope and deadline for transcripts."""
    if (text is None) == (input is None):
        raise fail("give one transcript as an argument, or --input FILE")
    from triage.schemas import REGISTERS

    if register not in REGISTERS:
        raise fail(f"--register must be one of {', '.join(REGISTERS)}, not {register!r}")
    if workers is not None and workers < 1:
        raise fail("--workers must be at least 1")
    try:
        bundle = ensure_model(model)
    except (TriageError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if text is not None:
        from triage.collector import collection_paused

        try:
            with collection_paused():  # a short run that allocates and frees nothing worth collecting
                from training.batch import answered
                from triage.bundle import load_bundle

                suggestion = answered(load_bundle(bundle).suggest(text, register=register))  # type: ignore[arg-type]
        except (TriageError, ValueError) as exc:
            raise fail(str(exc)) from exc
        print(json.dumps(suggestion.to_json_dict(), ensure_ascii=False, indent=2))
        return
    assert input is not None
    _predict_file(bundle, input, output, workers, register)


SKIPPED_SHOWN = 20
"""Bad lines named on the terminal; all of them are in the output, each with its file and line."""


def _predict_file(bundle: Path, input: Path, output: Path | None, workers: int | None, register: str = "spoken") -> None:
    """Every input line gives one output line, in input order: a suggestion, or an error naming the line. Nothing
    is dropped, nothing is held: a large file is streamed through worker processes (`training.batch`)."""
    from training.batch import check_input, count_lines, predict_file

    try:
        check_input(input)
    except TriageError as exc:
        raise fail(str(exc)) from exc
    skipped = 0

    def report(message: str) -> None:
        nonlocal skipped
        skipped += 1
        if skipped <= SKIPPED_SHOWN:
            err.print(f"[yellow]skipped[/] {message}", highlight=False)

    columns = (TextColumn("suggesting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    started = time.perf_counter()
    try:
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("suggest", total=count_lines(input), rate="")

            def advance(rows: int, lines: int) -> None:
                rate = rows / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=lines, rate=f"{rate:,.0f} rows/s")

            summary = predict_file(bundle, input, sink, workers=workers, on_progress=advance, on_skipped=report, register=register)
    except (TriageError, ValueError) as exc:
        raise fail(str(exc)) from exc
    finally:
        if output:
            sink.close()
    if skipped > SKIPPED_SHOWN:
        err.print(f"[yellow]skipped[/] {skipped - SKIPPED_SHOWN} more lines, each named in the output", highlight=False)
    err.print(f"{summary.good} suggestions, {summary.bad} lines with errors")
    if logger.isEnabledFor(logging.INFO):  # -v: the figures the batch benchmark reads (one line, never wrapped)
        seconds = time.perf_counter() - started
        figures = {
            "rows": summary.rows, "seconds": round(seconds, 3), "rows_per_s": round(summary.rows / max(seconds, 1e-9), 1),
            "processes": summary.workers, "peak_rss_mb": round(summary.peak_rss_kb / 1024, 1),
            "worker_peak_rss_mb": sorted(round(kb / 1024, 1) for kb in summary.worker_peak_rss_kb.values()),
        }
        err.print(f"batch figures: {json.dumps(figures)}", highlight=False, markup=False, soft_wrap=True)


@app.command("evaluate")
def evaluate_command(
    model: ModelOption = None,
    data: Annotated[list[Path] | None, typer.Option("--data", help="labelled JSONL/CSV to score on")] = None,
    labels: Annotated[list[Path] | None, typer.Option("--labels", help="extra labels by id (JSONL), e.g. category_labels_test.jsonl")] = None,
    split: Annotated[str | None, typer.Option(help="'test': the own corpus's frozen test split; 'messages': the held-out real messages")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="folder for metrics.json and report.html (with plots)")] = None,
    second_labels: Annotated[
        Path | None, typer.Option("--second-labels", help="a second annotator's categories by id (JSONL): adds the ceiling (category_ceiling)")
    ] = None,
) -> None:
    """Score a model: per-head accuracy and macro-F1, units top-k (any acceptable unit, and the primary alone),
    what is decided with no one checking and how precise it is, scope errors, district and deadline accuracy.

    With --report: also confusion matrices, per-class P/R/F1, reliability (ECE), risk-coverage curves per auto
    decision (category, unit, scope, the joint dispatch) with coverage at 90/95/98% precision and the bundle's
    operating point, and the worst-classified examples, as metrics.json and an HTML report drawn from it.

    With --second-labels: how far the category head is from what two annotators agree on, over the messages both
    labelled: their agreement (raw and Cohen's kappa), the accuracy against each and on the messages both agree
    on, and the gap, each share with its n and 95% interval (`category_ceiling`).
    """
    from training.evaluate import evaluate, evaluate_report
    from triage.bundle import load_bundle

    _require_rows(data, split)
    try:
        pipeline = load_bundle(ensure_model(model))
        dataset = _labelled_rows(list(data or []), list(labels or []), split, pipeline.knowledge.catalogue)
        second = None
        if second_labels is not None:
            from training.datasets import Dataset, labels_by_id

            found = Dataset(dataset.records)
            second = labels_by_id(found, second_labels)
            for problem in found.problems:
                err.print(f"[yellow]skipped[/] {problem}", highlight=False)
            dataset.problems.extend(found.problems)
            if not any(r.label("category") and r.id in second for r in dataset.records):
                raise fail(f"no row has a category from both the labels and {second_labels}: there is no ceiling to measure")
        with _spinner() as progress:
            progress.add_task(f"evaluating on {len(dataset)} rows", total=None)
            metrics = evaluate(pipeline, dataset, second=second) if report is None else evaluate_report(pipeline, dataset, second=second)
    except (TriageError, ValueError) as exc:
        raise fail(str(exc)) from exc
    metrics["skipped_lines"] = len(dataset.problems)
    if report is not None:
        from training.report import write_report

        page = write_report(metrics, report)
        err.print(f"report: {page}")
        metrics = {k: v for k, v in metrics.items() if k not in ("confusion", "calibration", "coverage", "worst", "scope_misses")}
    print(json.dumps(metrics, ensure_ascii=False, indent=2))


users_app = typer.Typer(help="API users and their tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _database() -> Any:
    """The service's settings and a migrated session factory, for commands that work on its database."""
    from api.db import make_engine, make_session_factory, migrate
    from api.settings import Settings

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return settings, make_session_factory(engine)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="user name, e.g. the dispatcher's staff id")],
    role: Annotated[str, typer.Option("--role", help="operator | dispatcher | analyst | admin")],
) -> None:
    """Create a user and print its token once (only a hash is stored)."""
    from api.models import Role
    from api.security import add_user

    if role not in Role.__members__:
        raise fail(f"unknown role {role!r}; use one of {', '.join(Role.__members__)}")
    settings, sessions = _database()
    with sessions() as session:
        try:
            _, token = add_user(session, name, role)
        except ValueError as exc:
            raise fail(str(exc)) from exc
    err.print(f"user {name} ({role}) added to {settings.resolved_database_url}; its token (shown once):")
    print(token)


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (PostgreSQL or SQLite; 2 on a 2-core machine)")] = 1,
    model: ModelOption = None,
) -> None:
    """Run the dispatch service (embedded SQLite by default; TRIAGE_DATABASE_URL for PostgreSQL)."""
    import os

    import uvicorn

    from api.logs import logging_config
    from api.security import first_admin

    try:
        model_dir = ensure_model(model)
    except (TriageError, ValueError) as exc:
        raise fail(str(exc)) from exc
    os.environ["TRIAGE_MODEL_DIR"] = str(model_dir.resolve())  # the workers read their settings from here
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")  # one BLAS thread per worker: workers, not threads, use the cores
    settings, sessions = _database()
    with sessions() as session:
        token = first_admin(session)
    err.print(f"database: {settings.resolved_database_url}")
    err.print(f"model: {model_dir}")
    if token:
        err.print("[bold]The database had no user: a first admin was created. Its token (shown only now):[/]")
        err.print(f"    {token}", highlight=False, markup=False)
        err.print("Add staff with `triage users add NAME --role operator|dispatcher|analyst|admin`.")
    err.print(f"API docs: http://{host}:{port}/docs")
    logging.getLogger().handlers.clear()  # the service logs through its own handler (TRIAGE_LOG_FORMAT), once
    uvicorn.run(
        "api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info",
        log_config=logging_config(settings.log_format),
    )


# --- evaluators and analysts: compare two models, retrain on decided orders, the model registry ---


SPLITS = ("test", "dev", "messages")
"""`test`: the own corpus's frozen test split (`dev`, its name before tuning moved to out-of-fold predictions);
`messages`: the held-out unit-labelled real messages (../shared/data), which the full preset never trains on."""


def _require_rows(data: list[Path] | None, split: str | None) -> None:
    """Refuse a scoring command with nothing to score on, before any model is loaded or trained."""
    if split is not None and split not in SPLITS:
        raise fail(f"unknown --split {split!r}; use test (the own corpus's frozen test split) or messages (held-out real messages)")
    if not data and split is None:
        raise fail("give --data FILE or --split test")


def _labelled_rows(data: list[Path], labels: list[Path], split: str | None, catalogue: Any) -> Any:
    """Rows to score on: files (with extra labels by id, `units_ok` included) and/or the own corpus's frozen test
    split; bad lines, and label lines whose id matches no row, reported, and a unit name the catalogue does not
    know left out of the unit figures."""
    from training.datasets import Dataset, corpus_split, merge_labels, read_many

    dataset = Dataset()
    if split == "messages":
        from training.datasets import tipdm_held_out

        dataset.extend(tipdm_held_out(catalogue))
    elif split in SPLITS:
        if split == "dev":
            err.print("[yellow]--split dev[/] is now the frozen test split (--split test): nothing is tuned on a dev split any more")
        dataset.extend(corpus_split(catalogue)[1])
    files = read_many(data, catalogue=catalogue)
    for label_file in labels:
        merge_labels(files, label_file, catalogue=catalogue)
    dataset.extend(files)
    for problem in dataset.problems:
        err.print(f"[yellow]skipped[/] {problem}", highlight=False)
    if not dataset.records:
        raise fail("no usable rows to evaluate")
    return dataset


@app.command("compare")
def compare_command(
    model: Annotated[list[Path], typer.Option("--model", help="model bundle folder; give exactly two: A then B")],
    data: Annotated[list[Path] | None, typer.Option("--data", help="labelled JSONL/CSV both are scored on")] = None,
    labels: Annotated[list[Path] | None, typer.Option("--labels", help="extra labels by id (JSONL)")] = None,
    split: Annotated[str | None, typer.Option(help="'test': the own corpus's frozen test split")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="folder for comparison.json and comparison.png")] = None,
) -> None:
    """Score two models on the same rows: per-head difference, paired McNemar test and bootstrap interval."""
    from training.compare import compare, comparison_figure, comparison_table
    from triage.bundle import load_bundle

    if len(model) != 2:
        raise fail("give --model A --model B (exactly two)")
    _require_rows(data, split)
    try:
        a, b = load_bundle(model[0]), load_bundle(model[1])
        dataset = _labelled_rows(list(data or []), list(labels or []), split, a.knowledge.catalogue)
        with _spinner() as progress:
            progress.add_task(f"scoring both models on {len(dataset)} rows", total=None)
            result = compare(a, b, dataset)
    except (TriageError, ValueError) as exc:
        raise fail(str(exc)) from exc
    Console(stderr=True).print(comparison_table(result))
    if out is not None:
        from training.report import png

        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
        (out / "comparison.png").write_bytes(png(comparison_figure(result)))
        err.print(f"written: {out / 'comparison.json'}, {out / 'comparison.png'}")
    print(json.dumps(result, ensure_ascii=False, indent=2))



@app.command("bench")
def bench_command(
    data: Annotated[str, typer.Option("--data", help="tipdm: tipdm2020c test split (default when ../shared/data is present); own: the own corpus's dev split")] = "auto",
    limit: Annotated[int | None, typer.Option("--limit", help="cap on training rows, for a quick run")] = None,
    seed: Annotated[int, typer.Option(help="seed for splits and models")] = 0,
) -> None:
    """The topic head against its peers (char TF-IDF + LinearSVC, fastText where it installs) on the same split:
    macro-F1, accuracy, training seconds, throughput and the ratios (product / peer)."""
    from training.peers import bench_table, bench_topic

    if data not in ("auto", "tipdm", "own"):
        raise fail(f"unknown --data {data!r}; use tipdm or own")
    if limit is not None and limit < 10:
        raise fail("--limit must be at least 10")
    try:
        with _spinner() as progress:
            progress.add_task("training the product's model and its peers on the same split", total=None)
            result = bench_topic(data, limit=limit, seed=seed)
    except (TriageError, ValueError) as exc:
        raise fail(str(exc)) from exc
    Console(stderr=True).print(bench_table(result))
    print(json.dumps(result, ensure_ascii=False, indent=2))

@app.command("learning-curve")
def learning_curve_command(
    data: Annotated[Path, typer.Option("--data", help="a hotline's labelled orders (JSONL/CSV with text and the head's label)")],
    out: Annotated[Path, typer.Option("--out", help="folder for metrics.json, report.html and the plot")] = Path("reports/lc"),
    sizes: Annotated[str, typer.Option(help="local rows trained beside the base, comma-separated")] = "50,100,200,400",
    head: Annotated[str, typer.Option(help="category, topic or scope")] = "category",
    repeats: Annotated[int, typer.Option(help="draws per size (stratified, seeded)")] = 3,
    preset: Annotated[str, typer.Option(help="the base: default (data/) or full (plus ../shared/data)")] = "default",
    local_weight: Annotated[float, typer.Option("--local-weight", help="how much each local row counts beside a base row")] = LOCAL_WEIGHT,
    scored_share: Annotated[float, typer.Option("--scored-share", help="share of the local rows held out to score every run")] = 0.3,
    seed: Annotated[int, typer.Option(help="seed for the split and the draws")] = 0,
) -> None:
    """How many local orders a new hotline needs: base + n of its rows, scored on its other rows, plotted."""
    from rich.table import Table

    from training.learning_curve import CurveArguments, learning_curve, write_curve

    if preset not in ("default", "full"):
        raise fail(f"unknown preset {preset!r}; use default or full")
    try:
        args = CurveArguments(
            data=str(data), head=head, sizes=[int(x) for x in sizes.split(",") if x.strip()], repeats=repeats,
            scored_share=scored_share, preset=preset, local_weight=local_weight, seed=seed,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise fail(f"--sizes {sizes!r}: give whole numbers, e.g. 50,100,200" if "invalid literal" in str(exc) else str(exc)) from exc
    try:
        with _spinner() as progress:
            task = progress.add_task("learning curve", total=None)
            curve = learning_curve(args, step=lambda m: progress.update(task, description=m))
    except (TriageError, ValueError) as exc:
        raise fail(str(exc)) from exc
    page = write_curve(curve, out)
    table = Table(title=f"{head}: {curve['scored']} local rows scored; majority {curve['majority']['label']} {curve['majority']['accuracy']:.3f}")
    for column in ("n", "draws", "accuracy (range)", "macro-F1", "home accuracy"):
        table.add_column(column)
    for row in curve["summary"]:
        table.add_row(
            str(row["n"]), str(row["draws"]), f"{row['accuracy']:.3f} ({row['accuracy_range'][0]:.3f}–{row['accuracy_range'][1]:.3f})",
            f"{row['macro_f1']:.3f}", f"{row['home_accuracy']:.3f}" if "home_accuracy" in row else "–",
        )
    Console(stderr=True).print(table)
    if curve["sizes_skipped"]:
        err.print(f"[yellow]skipped sizes larger than the {curve['pool']} rows to draw from: {curve['sizes_skipped']}[/]")
    err.print(f"report: {page}")


@app.command("retrain")
def retrain_command(
    orders: Annotated[Path | None, typer.Option("--orders", help="labelled-orders JSONL (default: export from the service database)")] = None,
    tolerance: Annotated[float, typer.Option(help="largest fall of any headline figure that still allows promotion")] = 0.02,
    promote: Annotated[bool, typer.Option("--promote/--no-promote", help="promote the candidate when it passes")] = True,
    model: ModelOption = None,
) -> None:
    """Retrain on the dispatchers' decided orders; promote the candidate only if no head got worse.

    The candidate trains on the current model's preset plus the orders as local rows, as `triage train --data`
    does; with a deployment signing key configured (TRIAGE_SIGNING_KEY[_FILE]) it is signed before registering."""
    from api.export import export_orders
    from training.retrain import retrain
    from triage.registry import RETRAIN_BUSY_EXIT, Registry, RetrainBusy

    try:
        base = None if Registry.load().current else ensure_model(model)
        key = _deployment_key()
        if orders is None:
            import datetime as dt
            import tempfile

            _, sessions = _database()
            orders = Path(tempfile.mkdtemp(prefix="triage-orders-")) / f"orders-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}.jsonl"
            n = export_orders(sessions, orders)
            err.print(f"exported {n} decided orders to {orders}")
        with _spinner() as progress:
            task = progress.add_task("retraining", total=None)
            report = retrain(
                orders,
                base_model=base,
                tolerance=tolerance,
                promote=promote,
                step=lambda m: progress.update(task, description=m),
                sign=_signer(key),
            )
    except RetrainBusy as exc:
        raise fail(str(exc), code=RETRAIN_BUSY_EXIT) from exc
    except (TriageError, ValueError) as exc:
        raise fail(str(exc)) from exc
    print(json.dumps(report, ensure_ascii=False, indent=2))
    err.print(f"[bold]{report['decision']}[/]: {'; '.join(report['reasons'])}")


def _deployment_key() -> bytes | None:
    """The deployment's signing key from the environment (the service's settings), or None."""
    from api.settings import Settings
    from api.signing import deployment_key

    return deployment_key(Settings())


def _signer(key: bytes | None) -> Callable[[Path], Any] | None:
    if key is None:
        return None
    from api.signing import sign_bundle

    return lambda bundle: sign_bundle(bundle, key)


models_app = typer.Typer(help="The model registry (models/registry.json): list, register, promote, roll back.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list() -> None:
    """Registered versions with their headline figures; * marks the current one."""
    from rich.table import Table

    from triage.registry import Registry

    registry = Registry.load()
    table = Table(title=f"{registry.root / 'registry.json'}")
    for column in ("", "version", "created", "train rows", "category", "topic", "unit top-1", "unit top-3", "path"):
        table.add_column(column)
    for version, entry in registry.versions.items():
        m = entry.get("metrics", {})
        cells = [f"{m.get(k):.3f}" if isinstance(m.get(k), float) else "n/a" for k in ("category_accuracy", "topic_accuracy", "unit_top1", "unit_top3")]
        mark = "*" if version == registry.current else ("prev" if version == registry.previous else "")
        table.add_row(mark, version, str(entry.get("created_at")), str(entry.get("train_rows")), *cells, entry["path"])
    Console().print(table)


@models_app.command("register")
def models_register(bundle: Annotated[Path, typer.Argument(help="a model bundle folder")]) -> None:
    """Add a bundle to the registry (the first one registered becomes current)."""
    from triage.registry import ensure_registered

    try:
        print(ensure_registered(bundle))
    except TriageError as exc:
        raise fail(str(exc)) from exc


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument(help="a registered version (see `triage models list`)")]) -> None:
    """Make VERSION the current model (its checksums are verified first)."""
    from triage.registry import Registry

    try:
        with Registry.edit() as registry:
            registry.promote(version)
    except TriageError as exc:
        raise fail(str(exc)) from exc
    err.print(f"current: {version}; POST /v1/models/reload (admin) switches a running service to it")


@models_app.command("rollback")
def models_rollback() -> None:
    """Make the previously promoted version current again."""
    from triage.registry import Registry

    try:
        with Registry.edit() as registry:
            version = registry.rollback()
    except TriageError as exc:
        raise fail(str(exc)) from exc
    err.print(f"current: {version}; POST /v1/models/reload (admin) switches a running service to it")


@models_app.command("sign")
def models_sign(bundle: Annotated[Path, typer.Argument(help="bundle folder to sign")]) -> None:
    """Sign a bundle's manifest with the deployment key (TRIAGE_SIGNING_KEY or TRIAGE_SIGNING_KEY_FILE)."""
    from api.settings import Settings
    from api.signing import deployment_key, key_id, sign_bundle

    try:
        key = deployment_key(Settings())
        if key is None:
            raise fail("no signing key: set TRIAGE_SIGNING_KEY or TRIAGE_SIGNING_KEY_FILE")
        sign_bundle(bundle, key)
    except (TriageError, OSError, ValueError) as exc:
        raise fail(str(exc)) from exc
    err.print(f"signed {bundle} with key {key_id(key)}")


def run() -> None:
    """The `triage` console script: the app, then the exit handlers, the log and the output flushed, and the
    process ended without tearing down every module and freeing each object one by one (jieba's dictionary, the
    compiled vocabularies ...): that teardown alone was 0.11 s of a 0.93 s `triage predict "one call"`.

    The console script and `python -m training.cli` exit this way; `app` itself (CliRunner in the tests) returns.
    """
    try:
        app()
        code: int = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    import multiprocessing
    import threading

    if threading.active_count() > 1 or multiprocessing.active_children():
        # threads or worker processes still alive (joblib's reusable pool after training): the interpreter's own
        # exit tells them to stop before it joins them; the exit handlers alone would wait out their idle timeout
        sys.exit(code)
    atexit._run_exitfuncs()  # logging.shutdown, worker pools and threads joined, temporary folders removed
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more can be written anyway
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    run()
