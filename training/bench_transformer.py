"""Benchmark of the transformer path: what domain pretraining gains, and what a char BERT costs on 2 CPU cores.

Run: `nice -n 10 python -m training.bench_transformer [--quick] [--size small] [--pretrain-steps N] ...`

1. pretrains a character BERT on ../shared/data/unlabelled_zh plus the shared *train* splits (cached and resumable
   under models/.cache/pretrained-charbert-...; a larger --pretrain-steps trains the cached model on);
2. fine-tunes heads topic + category on tipdm2020c train (10% held out by a seeded id split) twice: from the
   pretrained weights and from scratch (same config, random weights);
3. scores topic and category (accuracy, macro-F1) on the held-out split and on tipdm2020c test (categories from
   category_labels_test.jsonl), for scratch, pretrained, and pretrained as ONNX int8;
4. fits the project's linear heads on the same rows and mixes them with the int8 transformer, per head, by
   weights chosen on the held-out split (never the test split): linear, transformer and ensemble side by side;
5. times one transcript at a time (p50, batch 1) and batches of 32 (transcripts/s) for torch fp32 and ONNX int8,
   both with 2 threads.

`--quick` is a smoke run (tiny model, a few steps, small samples; a few minutes on 2 cores): its scores mean nothing.
Figures are printed as tables and written as JSON (`--out`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 256},
    "small": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024},
    "base": {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 6, "intermediate_size": 1536},
}
HEADS = ["topic", "category"]
"""tipdm2020c has no out-of-scope messages (scope is always `accepted`), so the scope head is not learned here."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny model, few steps, small samples")
    parser.add_argument("--size", choices=sorted(SIZES), default="small", help="encoder size (quick: tiny)")
    parser.add_argument("--pretrain-steps", type=int, default=4000, help="MLM steps in all; ~1 epoch of the corpus at batch 64 (quick: 30)")
    parser.add_argument("--pretrain-batch-size", type=int, default=64, help="MLM windows per step")
    parser.add_argument("--pretrain-max-length", type=int, default=128, help="tokens per MLM window (quick: 64)")
    parser.add_argument("--pretrain-max-texts", type=int, default=None, help="cap on corpus texts (quick: 3000)")
    parser.add_argument("--pretrained-dir", type=Path, default=None, help="cached pretrained model (default: models/.cache/...)")
    parser.add_argument("--use-pretrained", type=Path, default=None, help="a pretrained folder to fine-tune as it is (no pretraining)")
    parser.add_argument("--finetune-epochs", type=float, default=5.0, help="fine-tuning epochs (quick: 1)")
    parser.add_argument("--finetune-batch-size", type=int, default=32, help="fine-tuning texts per step")
    parser.add_argument("--finetune-lr", type=float, default=1e-4, help="fine-tuning learning rate")
    parser.add_argument("--max-length", type=int, default=256, help="tokens per text when fine-tuning and serving (quick: 128)")
    parser.add_argument("--max-train-samples", type=int, default=None, help="cap on fine-tuning rows (quick: 400)")
    parser.add_argument("--max-test", type=int, default=None, help="cap on test rows (quick: 300)")
    parser.add_argument("--latency-n", type=int, default=200, help="transcripts timed one at a time (quick: 30)")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and onnxruntime when timing")
    parser.add_argument("--work-dir", type=Path, default=None, help="fine-tuned models (default: models/.cache/bench-transformer)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench_transformer.json"), help="JSON of all figures")
    parser.add_argument("--seed", type=int, default=0, help="seed of splits and training")
    args = parser.parse_args(argv)
    if args.quick:
        defaults = {
            "size": "tiny",
            "pretrain_steps": 30,
            "pretrain_batch_size": 16,
            "pretrain_max_length": 64,
            "pretrain_max_texts": 3000,
            "finetune_epochs": 1.0,
            "finetune_batch_size": 16,
            "finetune_lr": 1e-3,
            "max_length": 128,
            "max_train_samples": 400,
            "max_test": 300,
            "latency_n": 30,
        }
        for name, value in defaults.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, round(time.perf_counter() - started, 1)


def latency(model: Any, texts: list[str], batch_texts: list[str]) -> dict[str, float]:
    """p50/p90 of one transcript at a time (ms) and transcripts/s in batches of 32 (median of 3 runs)."""
    for text in texts[:5]:
        model.predict_proba([text])
    single = []
    for text in texts:
        started = time.perf_counter()
        model.predict_proba([text], batch_size=1)
        single.append((time.perf_counter() - started) * 1000)
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        model.predict_proba(batch_texts, batch_size=32)
        rates.append(len(batch_texts) / (time.perf_counter() - started))
    return {
        "p50_ms_batch1": round(float(np.percentile(single, 50)), 2),
        "p90_ms_batch1": round(float(np.percentile(single, 90)), 2),
        "texts_per_s_batch32": round(statistics.median(rates), 1),
    }


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[("" if v is None else f"{v:.4f}" if isinstance(v, float) and v <= 1 else str(v)) for v in row] for row in rows]]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(headers))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def fit_linear(texts: list[str], labels: dict[str, list[str | None]], seed: int) -> Any:
    """The project's linear heads (word + char TF-IDF, calibrated LinearSVC) with the training defaults."""
    from training.args import ModelArguments
    from training.train import build_classifier
    from training.transformer import prepare_texts

    clean, kept = prepare_texts(texts, labels)
    return build_classifier(ModelArguments(), seed).fit(clean, kept)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    import torch

    from training.datasets import TIPDM_DIR, merge_labels, read_labelled, split, tipdm_train
    from training.transformer import (
        FinetuneArguments,
        PretrainArguments,
        export_onnx,
        finetune,
        prepare_texts,
        pretrain,
        score,
    )
    from triage.classifiers.ensemble import choose_weights, mix
    from triage.resources import MODELS_DIR
    from triage.transformer import TransformerHeads

    torch.set_num_threads(args.threads)
    size = SIZES[args.size]
    tag = f"{args.size}-len{args.pretrain_max_length}" + (f"-texts{args.pretrain_max_texts}" if args.pretrain_max_texts else "")
    pretrained_dir = args.pretrained_dir or MODELS_DIR / ".cache" / f"pretrained-charbert-{tag}"
    work = args.work_dir or MODELS_DIR / ".cache" / ("bench-transformer-quick" if args.quick else "bench-transformer")
    figures: dict[str, Any] = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}

    # 1. pretraining (cached, resumable)
    pre_args = PretrainArguments(
        output_dir=str(pretrained_dir),
        include_shared=True,
        max_length=args.pretrain_max_length,
        per_device_batch_size=args.pretrain_batch_size,
        max_steps=args.pretrain_steps,
        save_steps=min(500, args.pretrain_steps),
        logging_steps=min(50, args.pretrain_steps),
        max_texts=args.pretrain_max_texts,
        seed=args.seed,
        progress=not args.quick,
        **size,
    )
    if args.use_pretrained is not None:  # an encoder pretrained elsewhere (e.g. `triage pretrain`), taken as it is
        pretrained_dir = args.use_pretrained
        figures["pretrain_seconds"] = 0.0
    else:
        _, figures["pretrain_seconds"] = _timed(pretrain, pre_args)
    figures["pretrain"] = json.loads((pretrained_dir / "pretrain_result.json").read_text(encoding="utf-8"))
    figures["pretrain"].pop("corpus", None)

    # 2. fine-tuning, pretrained and from scratch, on the same split
    data = tipdm_train()
    train, val = split(data, 0.1, args.seed)
    test = read_labelled(TIPDM_DIR / "test.jsonl")
    if (TIPDM_DIR / "category_labels_test.jsonl").is_file():
        merge_labels(test, TIPDM_DIR / "category_labels_test.jsonl")
    if args.max_test and len(test.records) > args.max_test:
        test.records = test.records[: args.max_test]
    test_texts, test_labels = prepare_texts(test.texts(), {h: test.labels(h) for h in HEADS})
    val_texts, val_labels = prepare_texts(val.texts(), {h: val.labels(h) for h in HEADS})
    scores: dict[str, Any] = {}
    folders: dict[str, Path] = {}
    for variant in ("scratch", "pretrained"):
        out = work / variant
        shutil.rmtree(out, ignore_errors=True)  # fine-tunes are cheap: always fresh, so the comparison is fair
        ft_args = FinetuneArguments(
            base_model=str(pretrained_dir),
            output_dir=str(out),
            heads=HEADS,
            max_length=args.max_length,
            per_device_batch_size=args.finetune_batch_size,
            learning_rate=args.finetune_lr,
            epochs=args.finetune_epochs,
            seed=args.seed,
            max_train_samples=args.max_train_samples,
            from_scratch=variant == "scratch",
            save_steps=10_000,
        )
        folder, seconds = _timed(
            finetune, ft_args, train.texts(), {h: train.labels(h) for h in HEADS}, val.texts(), {h: val.labels(h) for h in HEADS}, progress=not args.quick
        )
        folders[variant] = folder
        model = TransformerHeads.load(folder, backend="torch", threads=args.threads)
        result = json.loads((folder / "finetune_result.json").read_text(encoding="utf-8"))
        scores[variant] = {
            "finetune_seconds": seconds,
            "val": result["eval"],
            "test": score(model.predict_proba(test_texts), model.classes_, test_labels),
        }

    # 3. ONNX int8 of the pretrained variant (the one a bundle serves): parity and its own test scores
    parity, seconds = _timed(export_onnx, folders["pretrained"], texts_for_check=val_texts[:200])
    figures["onnx_export_seconds"] = seconds
    figures["onnx_parity"] = parity
    int8 = TransformerHeads.load(folders["pretrained"], backend="onnx", threads=args.threads)
    scores["pretrained-int8"] = {
        "val": score(int8.predict_proba(val_texts), int8.classes_, val_labels),
        "test": score(int8.predict_proba(test_texts), int8.classes_, test_labels),
    }

    # 4. the linear heads on the same rows, and the ensemble of both with weights chosen on the validation split
    linear, seconds = _timed(fit_linear, train.texts(), {h: train.labels(h) for h in HEADS}, args.seed)
    lin_val, lin_test = linear.predict_proba(val_texts), linear.predict_proba(test_texts)
    scores["linear"] = {
        "fit_seconds": seconds,
        "val": score(lin_val, linear.classes_, val_labels),
        "test": score(lin_test, linear.classes_, test_labels),
    }
    tr_val, tr_test = int8.predict_proba(val_texts), int8.predict_proba(test_texts)
    weights, table = choose_weights(lin_val, linear.classes_, tr_val, int8.classes_, val_labels)
    figures["ensemble_weights"] = {"weights": weights, "chosen_on_validation": table}
    scores["ensemble"] = {
        "weights": weights,
        "val": score(mix(lin_val, linear.classes_, tr_val, int8.classes_, weights), linear.classes_, val_labels),
        "test": score(mix(lin_test, linear.classes_, tr_test, int8.classes_, weights), linear.classes_, test_labels),
    }
    figures["scores"] = scores

    # 5. speed on 2 threads
    timing_texts = test_texts[: args.latency_n]
    batch_texts = (test_texts * 2)[: max(64, min(len(test_texts), 512))]
    torch_model = TransformerHeads.load(folders["pretrained"], backend="torch", threads=args.threads)
    figures["speed"] = {
        "torch_fp32": latency(torch_model, timing_texts, batch_texts),
        "onnx_int8": latency(int8, timing_texts, batch_texts),
        "mean_chars": round(statistics.mean(len(t) for t in timing_texts), 1),
        "max_length": args.max_length,
    }
    figures["model_bytes"] = {
        "torch_fp32": (folders["pretrained"] / "model.safetensors").stat().st_size,
        "onnx_int8": (folders["pretrained"] / "model.int8.onnx").stat().st_size,
    }

    rows = []
    for name, s in scores.items():
        row: list[Any] = [name]
        for split_name in ("val", "test"):
            for head in HEADS:
                got = s[split_name].get(head, {})
                row += [got.get("macro_f1"), got.get("accuracy")]
        rows.append(row)
    headers = ["model"] + [f"{sp} {h} {m}" for sp in ("val", "test") for h in HEADS for m in ("F1", "acc")]
    print()
    print(f"pretraining: {figures['pretrain']['global_step']} steps, final MLM loss {figures['pretrain']['final_loss']}, {figures['pretrain_seconds']} s this run")
    print(_table(headers, rows))
    print()
    speed = figures["speed"]
    print(_table(
        ["backend", "p50 ms (batch 1)", "p90 ms (batch 1)", "texts/s (batch 32)", "MB"],
        [
            [b, f"{speed[b]['p50_ms_batch1']:.2f}", f"{speed[b]['p90_ms_batch1']:.2f}", f"{speed[b]['texts_per_s_batch32']:.1f}", f"{figures['model_bytes'][b] / 1e6:.1f}"]
            for b in ("torch_fp32", "onnx_int8")
        ],
    ))
    print(f"({len(timing_texts)} test transcripts of {speed['mean_chars']} characters on average, max_length {args.max_length}, {args.threads} threads)")
    print("ONNX parity:", json.dumps(parity, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"figures written to {args.out}")
    return figures


if __name__ == "__main__":
    main()
