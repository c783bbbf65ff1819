"""Peer baselines for `triage bench`: what a user would otherwise pick to classify the topic of a call.

- `char-tfidf-linearsvc`: a plain character 1-3-gram TF-IDF + LinearSVC (scikit-learn defaults otherwise),
  on the raw texts: no normalisation, no segmentation, no calibration.
- `fasttext`: the `fasttext` package (`pip install fasttext-wheel`), supervised, on the raw texts split into
  characters (fastText splits on whitespace and Chinese has none) with word bigrams, the tutorial's settings
  (25 epochs, learning rate 0.5). Where it does not import, its row says why instead of numbers.

Each peer is fitted on exactly the texts and labels given and scored on the test texts given: macro-F1 (over
the gold labels present, as `training.evaluate.head_scores`), accuracy, training seconds (fit only) and batch
throughput (texts per second, one process, median of `repeats` runs). Nothing here reads data or tunes on
the test split.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import LinearSVC

from training.evaluate import head_scores

RATIO_FIELDS = ("macro_f1", "accuracy", "train_seconds", "texts_per_s")


def char_tfidf_svc(seed: int = 0) -> Pipeline:
    """The plain baseline: character 1-3-gram TF-IDF (sublinear tf) + LinearSVC."""
    return make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1),
        LinearSVC(C=1.0, random_state=seed),
    )


class FastTextClassifier:
    """fastText supervised as a minimal fit/predict estimator over raw texts (characters as tokens)."""

    def __init__(self, epoch: int = 25, lr: float = 0.5, word_ngrams: int = 2, dim: int = 100, seed: int = 0, threads: int = 1) -> None:
        import fasttext  # noqa: F401  (fails here, at construction, when the package is missing)

        self.epoch, self.lr, self.word_ngrams, self.dim, self.seed, self.threads = epoch, lr, word_ngrams, dim, seed, threads
        self.model: Any = None

    @staticmethod
    def tokens(text: str) -> str:
        return " ".join(ch for ch in text if not ch.isspace())

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> FastTextClassifier:
        import fasttext

        handle, path = tempfile.mkstemp(suffix=".txt", prefix="fasttext-train-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                for text, label in zip(texts, labels, strict=True):
                    out.write(f"__label__{label.replace(' ', '_')} {self.tokens(text)}\n")
            self.model = fasttext.train_supervised(
                input=path, epoch=self.epoch, lr=self.lr, wordNgrams=self.word_ngrams, dim=self.dim,
                seed=self.seed, thread=self.threads, verbose=0,
            )  # fmt: skip
        finally:
            os.unlink(path)
        self._labels = {label.replace(" ", "_"): label for label in set(labels)}
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        predicted, _ = self.model.predict([self.tokens(t) for t in texts], k=1)
        return [self._labels.get(p[0].removeprefix("__label__"), p[0].removeprefix("__label__")) for p in predicted]


def fasttext_unavailable() -> str | None:
    """None when fastText imports, else the reason it cannot be benchmarked here."""
    try:
        import fasttext  # noqa: F401
    except Exception as exc:  # ImportError, or a broken native module
        return f"not available: the `fasttext` package does not import here ({type(exc).__name__}: {exc}); pip install fasttext-wheel"
    return None


def throughput(predict: Callable[[list[str]], object], texts: list[str], repeats: int = 3) -> float:
    """Median texts per second of `repeats` batch predictions over all of `texts` (one warm-up run first)."""
    predict(texts[: min(len(texts), 50)])
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(texts)
        rates.append(len(texts) / max(time.perf_counter() - started, 1e-9))
    return round(statistics.median(rates), 1)


def score_row(name: str, gold: Sequence[str], predicted: Sequence[str], train_seconds: float, texts_per_s: float, **extra: Any) -> dict[str, Any]:
    scores = head_scores(list(gold), list(predicted))
    return {
        "name": name,
        "macro_f1": scores["macro_f1"],
        "accuracy": scores["accuracy"],
        "train_seconds": round(train_seconds, 2),
        "texts_per_s": texts_per_s,
        "n_train": extra.pop("n_train", None),
        "n_test": len(gold),
        **extra,
    }


def ratios(product: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    """product / peer for each figure (a training-seconds ratio below 1 and the others above 1 favour the product)."""
    out: dict[str, float | None] = {}
    for key in RATIO_FIELDS:
        a, b = product.get(key), peer.get(key)
        out[key] = round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and b else None
    return out


def compare_peers(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    test_texts: Sequence[str],
    test_labels: Sequence[str],
    *,
    product: dict[str, Any] | None = None,
    seed: int = 0,
    repeats: int = 3,
) -> list[dict[str, Any]]:
    """Fit and score each peer on the same split; with `product` (a row of the project's model on the same test
    texts: name, macro_f1, accuracy, train_seconds, texts_per_s) it comes first and every peer row gets
    `ratio_vs_product` = product / peer."""
    pairs = [(t, y) for t, y in zip(train_texts, train_labels, strict=True) if y is not None]
    x_train, y_train = [t for t, _ in pairs], [str(y) for _, y in pairs]
    x_test, y_test = list(test_texts), [str(y) for y in test_labels]
    if not x_train or not x_test:
        raise ValueError("compare_peers needs labelled training and test texts")
    rows: list[dict[str, Any]] = []

    svc = char_tfidf_svc(seed)
    started = time.perf_counter()
    svc.fit(x_train, y_train)
    fit = time.perf_counter() - started
    rows.append(
        score_row(
            "char-tfidf-linearsvc", y_test, [str(p) for p in svc.predict(x_test)], fit,
            throughput(svc.predict, x_test, repeats), n_train=len(x_train), setup="char 1-3-gram TF-IDF (sublinear) + LinearSVC(C=1), raw text",
        )
    )  # fmt: skip

    reason = fasttext_unavailable()
    if reason is None:
        ft = FastTextClassifier(seed=seed)
        started = time.perf_counter()
        ft.fit(x_train, y_train)
        fit = time.perf_counter() - started
        rows.append(
            score_row(
                "fasttext", y_test, ft.predict(x_test), fit, throughput(ft.predict, x_test, repeats),
                n_train=len(x_train), setup="fastText supervised, characters + word bigrams, 25 epochs, lr 0.5, 1 thread",
            )
        )  # fmt: skip
    else:
        rows.append({"name": "fasttext", "macro_f1": None, "accuracy": None, "train_seconds": None, "texts_per_s": None, "unavailable": reason})

    if product is not None:
        for row in rows:
            row["ratio_vs_product"] = ratios(product, row)
        rows.insert(0, product)
    return rows


def bench_topic(data: str = "auto", limit: int | None = None, seed: int = 0, repeats: int = 3, out_dir: str | None = None) -> dict[str, Any]:
    """The project's model and the peers on one split of the topic head, in one run.

    `tipdm`: the `full` preset is trained as the product trains it (own corpus train split + tipdm2020c train)
    and the peers fit on exactly those rows' topic labels; all are scored on tipdm2020c's test split, read
    only to report. `own`: the `default` preset (own corpus training pool), scored on the own corpus's frozen
    test split, which nothing tunes on. `auto`: tipdm when
    ../shared/data is present. `limit` caps training rows (the same random sample for all systems).
    """
    from training.args import DataArguments, ModelArguments, RunArguments, TrainingArguments
    from training.datasets import TIPDM_DIR, corpus_split, read_labelled
    from training.train import load_training_data, train
    from triage.bundle import load_bundle
    from triage.units import default_catalogue

    if data == "auto":
        data = "tipdm" if (TIPDM_DIR / "train.jsonl").is_file() and (TIPDM_DIR / "test.jsonl").is_file() else "own"
    if data not in ("tipdm", "own"):
        raise ValueError(f"unknown data {data!r}; use tipdm or own")
    preset = "full" if data == "tipdm" else "default"
    catalogue = default_catalogue()
    data_args = DataArguments(preset=preset, max_train_samples=limit)  # type: ignore[arg-type]
    train_rows, _, _ = load_training_data(data_args, catalogue, seed)
    train_rows.records = [r for r in train_rows.records if r.origin != "catalogue"]  # knowledge rows carry no topic
    if data == "tipdm":
        test = read_labelled(TIPDM_DIR / "test.jsonl", catalogue=catalogue)
        test_name = "tipdm2020c test split"
    else:
        test = corpus_split(catalogue)[1]
        test_name = "own corpus frozen test split"
    test_records = [r for r in test.records if r.label("topic")]
    test_texts, test_labels = [r.text for r in test_records], [str(r.label("topic")) for r in test_records]

    folder = out_dir or tempfile.mkdtemp(prefix="triage-bench-")
    run = RunArguments(data_args, ModelArguments(), TrainingArguments(output_dir=os.path.join(folder, preset), seed=seed, version=f"bench-{preset}"))
    started = time.perf_counter()
    bundle, metrics = train(run)
    total = time.perf_counter() - started
    pipeline = load_bundle(bundle)

    def product_topics(texts: list[str]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(texts), 256):  # as `triage predict` feeds batches
            out.extend(s.topic.label for s in pipeline.suggest_many(texts[start : start + 256], n_jobs=1))
        return out

    product = score_row(
        f"triage ({preset} preset)", test_labels, product_topics(test_texts), metrics["fit_seconds"],
        throughput(product_topics, test_texts, repeats), n_train=len(train_rows),
        train_seconds_total=metrics["train_seconds"], train_wall_seconds=round(total, 2),
        setup="word+char TF-IDF, calibrated LinearSVC per head (all heads fitted); throughput = full suggestions",
    )  # fmt: skip
    rows = compare_peers(train_rows.texts(), train_rows.labels("topic"), test_texts, test_labels, product=product, seed=seed, repeats=repeats)
    return {
        "head": "topic",
        "data": data,
        "preset": preset,
        "train": f"{preset} preset training rows ({len(train_rows)})" + (f", capped at {limit}" if limit else ""),
        "test": f"{test_name} ({len(test_texts)} rows)",
        "notes": [
            "train_seconds: the product's is fitting every head (category, topic, scope, unit, ...) from loading the data; "
            "train_seconds_total adds tuning routing and thresholds on dev, scoring and saving; a peer's is fitting its one topic model",
            "texts_per_s: one process; the product's is whole suggestions (all heads, routing, district, deadline), a peer's is the topic label only",
            "ratio_vs_product: product / peer",
        ],
        "systems": rows,
    }


def bench_table(result: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title="topic head: the product and its peers (ratios: product / peer)", caption=f"train: {result['train']}; test: {result['test']}")
    table.add_column("system", no_wrap=True)
    for column in ("macro-F1", "acc", "train s", "texts/s", "F1 ×", "acc ×", "train-s ×", "texts/s ×"):
        table.add_column(column, justify="right")

    def cell(value: Any, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    for row in result["systems"]:
        if row.get("unavailable"):
            table.add_row(row["name"], row["unavailable"], *[""] * 7)
            continue
        r = row.get("ratio_vs_product") or {}
        table.add_row(
            row["name"], cell(row["macro_f1"], 4), cell(row["accuracy"], 4), cell(row["train_seconds"], 2), cell(row["texts_per_s"], 0),
            *(cell(r.get(k), 2) if r else "—" for k in RATIO_FIELDS),
        )  # fmt: skip
    return table
