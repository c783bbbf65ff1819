"""Transformer path, training side: character-level BERT pretraining (MLM), multi-head fine-tuning, ONNX export.

Why character level: call transcripts are short, full of place names and ASR slips, and the shared corpus is
about 14 M characters; a character vocabulary (a few thousand tokens) needs no word segmenter and has no
out-of-vocabulary words, and a small BERT trained on it fits 2 CPU cores at serving time (see
`triage.transformer`, which loads what `finetune` writes).

Single process (CPU or one GPU):

    python -m training.transformer pretrain --output-dir models/.cache/charbert --include-shared --max-steps 20000
    python -m training.transformer finetune --base-model models/.cache/charbert --output-dir models/charbert-ft \
        --tipdm --export-onnx

Several GPUs: both subcommands use Hugging Face's `Trainer`, so the same command runs under a launcher:

    torchrun --nproc_per_node 8 -m training.transformer pretrain --output-dir ... --include-shared
    accelerate launch --num_processes 8 -m training.transformer finetune --base-model ... --tipdm

What changes with N processes: `--per-device-batch-size` is per process, so the global batch is N times
larger; with `--max-steps` fixed the run sees N times more text. Scale `--learning-rate` with the global batch
(linearly up to a few times the single-GPU value, square-root beyond) or lower `--max-steps` by N to keep the
same number of epochs. Only the main process writes the vocabulary, the final folder and the model card; every
process reads and tokenises the corpus itself (deterministic, so all agree). Checkpoints go to
`OUTPUT_DIR/checkpoints`; running the same command again resumes from the latest one (with a larger
`--max-steps` it trains on). A GPU is used when present (bf16 where supported); otherwise the CPU.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import inspect
import json
import logging
import math
import os
import random
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from triage.errors import InvalidTranscriptError
from triage.normalise import normalise
from triage.resources import SHARED_DATA_DIR
from triage.transformer import (
    HEAD_WEIGHTS_FILE,
    HEADS_FILE,
    HEADS_FORMAT,
    INPUT_NAMES,
    ONNX_FILE,
    ONNX_INT8_FILE,
    TransformerHeads,
    load_encoder,
    read_heads_meta,
)

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ASCII_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
UNLABELLED_DIR = SHARED_DATA_DIR / "unlabelled_zh"
TIPDM_TRAIN = SHARED_DATA_DIR / "tipdm2020c" / "train.jsonl"
TIPDM_TITLES_TRAIN = SHARED_DATA_DIR / "tipdm2020c_titles" / "train.jsonl"
CHECKPOINTS = "checkpoints"
RUN_FILE = "run.json"
"""What a checkpoint folder was trained on: a resume from another run is refused."""
DEFAULT_HEADS = ("category", "topic", "scope")


# --------------------------------------------------------------------------------------------------- vocabulary


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def build_char_vocab(texts: Iterable[str], min_freq: int = 2, max_size: int = 8000) -> list[str]:
    """Special tokens, then characters by frequency, plus `##x` continuations so any ascii word can be spelt.

    BERT's pre-tokeniser splits every CJK character into its own word, so CJK characters need no `##` form;
    Latin letters, digits and other symbols do (a word like `a12` is `a ##1 ##2`). Text is lower-cased as the
    tokenizer does (`do_lower_case=True`).
    """
    if min_freq < 1:
        raise ValueError("min_freq must be at least 1")
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text.lower())
    vocab: list[str] = list(SPECIAL_TOKENS)
    seen = set(vocab)

    def add(token: str) -> None:
        if token not in seen and len(vocab) < max_size:
            vocab.append(token)
            seen.add(token)

    if max_size < len(SPECIAL_TOKENS) + 2 * len(ASCII_ALNUM):
        raise ValueError(f"max_size must be at least {len(SPECIAL_TOKENS) + 2 * len(ASCII_ALNUM)}")
    for char in ASCII_ALNUM:  # reserved first so the size cap never drops them
        add(char)
        add("##" + char)
    for char, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if count < min_freq or char.isspace() or not char.isprintable():
            continue
        add(char)
        if not _is_cjk(char) and char.isalnum():
            add("##" + char)
    return vocab


def write_vocab(vocab: Sequence[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(token + "\n" for token in vocab), encoding="utf-8")
    return path


def char_tokenizer(vocab_file: str | Path, model_max_length: int = 512) -> Any:
    """A `BertTokenizerFast` over a character vocab.txt (transformers 4.x takes `vocab_file`, 5.x `vocab`)."""
    from transformers import BertTokenizerFast

    params = inspect.signature(BertTokenizerFast.__init__).parameters
    key = "vocab" if "vocab" in params else "vocab_file"
    return BertTokenizerFast(
        **{key: str(vocab_file)},
        do_lower_case=True,
        tokenize_chinese_chars=True,
        strip_accents=False,
        model_max_length=model_max_length,
    )


# ------------------------------------------------------------------------------------------------------- corpus


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def iter_corpus_file(path: str | Path) -> Iterator[str]:
    """Texts of a corpus file: one per line (.txt, .gz), or the `text` field of each JSON line (.jsonl)."""
    path = Path(path)
    is_jsonl = path.name.endswith((".jsonl", ".jsonl.gz"))
    with _open_text(path) as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            if is_jsonl:
                try:
                    text = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(text, str) and text.strip():
                    yield text
            else:
                yield line


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """sha256 of the bytes as stored and the number of texts: enough to tell later what a model was trained on."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"file": str(path), "sha256": digest.hexdigest(), "lines": sum(1 for _ in iter_corpus_file(path))}


def shared_corpus_files(shared_dir: Path = SHARED_DATA_DIR) -> list[Path]:
    """unlabelled_zh/* and the *train* splits of tipdm2020c and tipdm2020c_titles; never a test split."""
    files = sorted(p for p in (shared_dir / "unlabelled_zh").glob("*") if p.name.endswith((".txt", ".txt.gz")))
    for path in (shared_dir / "tipdm2020c" / "train.jsonl", shared_dir / "tipdm2020c_titles" / "train.jsonl"):
        if path.is_file():
            files.append(path)
    if any("test" in p.name for p in files):  # belt and braces: test texts must never reach pretraining
        raise RuntimeError("a test split slipped into the pretraining corpus")
    return files


def is_in_domain(path: Path) -> bool:
    """Government-platform texts: the gov_* files (unlabelled_zh SOURCE.md) and the shared train splits."""
    return path.name.startswith("gov_") or path.parent.name.startswith("tipdm2020c")


def normalise_all(texts: Iterable[str]) -> list[str]:
    """`triage.normalise.normalise` on each text, dropping those it refuses (no Chinese, only fillers)."""
    out = []
    for text in texts:
        try:
            out.append(normalise(text))
        except InvalidTranscriptError:
            continue
    return out


# ------------------------------------------------------------------------------------------------ shared helpers


def _device_kwargs() -> dict[str, Any]:
    """CPU when there is no GPU; bf16 on GPUs that have it."""
    if torch.cuda.is_available():
        return {"bf16": bool(torch.cuda.is_bf16_supported())}
    return {"use_cpu": True}


def _training_arguments(**kwargs: Any) -> Any:
    """`TrainingArguments` across transformers 4.x and 5.x (warmup_ratio and group_by_length moved in 5.0).

    What pretraining and fine-tuning share is set here: checkpoints every `save_steps`, the data order seeded
    like the rest, our own columns kept, no reports, and no search for unused parameters under DDP.
    """
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    ratio = kwargs.pop("warmup_ratio", 0.0)
    if "warmup_ratio" in names:
        kwargs["warmup_ratio"] = ratio
    else:
        kwargs["warmup_steps"] = float(ratio)
    if kwargs.pop("group_by_length", False):
        if "group_by_length" in names:
            kwargs["group_by_length"] = True
        else:
            kwargs["train_sampling_strategy"] = "group_by_length"
    base = {
        "report_to": [], "dataloader_num_workers": 0, "save_total_limit": 2, "save_strategy": "steps",
        "data_seed": kwargs.get("seed"), "remove_unused_columns": False, "ddp_find_unused_parameters": False,
        **_device_kwargs(),
    }
    base.update(kwargs)
    return TrainingArguments(**{k: v for k, v in base.items() if k in names})


def _resume_point(checkpoints: Path, run_key: dict[str, Any], differs: str, hint: str = "") -> str | None:
    """The latest checkpoint to resume from; one written by a run with another `run_key` is refused."""
    from transformers.trainer_utils import get_last_checkpoint

    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    run_file = checkpoints / RUN_FILE
    if resume and run_file.is_file() and json.loads(run_file.read_text(encoding="utf-8")) != run_key:
        raise ValueError(f"{checkpoints} holds checkpoints of another run ({differs}); remove it or pick another --output-dir{hint}")
    return resume


def _last_loss(log_history: list[dict[str, Any]]) -> float | None:
    for entry in reversed(log_history):
        if "loss" in entry:
            return float(entry["loss"])
    return None


def _write_json(path: Path, obj: Any) -> None:
    """Atomic (write, then rename): other processes of a distributed run may read it meanwhile."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # "Loading weights" bars; the Trainer's own bar is separate (disable_tqdm)


# --------------------------------------------------------------------------------------------------- pretraining


@dataclass
class PretrainArguments:
    output_dir: str = field(default="models/.cache/charbert", metadata={"help": "folder for the pretrained model"})
    corpus_files: list[str] = field(default_factory=list, metadata={"help": "text files (.txt, .gz: one text a line; .jsonl: `text`)"})
    include_shared: bool = field(default=False, metadata={"help": "add ../shared/data/unlabelled_zh and the shared train splits"})
    in_domain_upsample: int = field(default=3, metadata={"help": "repeat gov_* and the shared train splits this many times"})
    hidden_size: int = field(default=256, metadata={"help": "width of the encoder"})
    num_hidden_layers: int = field(default=4, metadata={"help": "transformer layers"})
    num_attention_heads: int = field(default=4, metadata={"help": "attention heads per layer"})
    intermediate_size: int = field(default=1024, metadata={"help": "feed-forward width"})
    max_length: int = field(default=128, metadata={"help": "tokens per training window; longer texts are cut in windows"})
    max_position_embeddings: int = field(default=512, metadata={"help": "longest input the model can take later"})
    per_device_batch_size: int = field(default=64, metadata={"help": "windows per step per process"})
    learning_rate: float = field(default=5e-4, metadata={"help": "peak learning rate (scale with the global batch)"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "share of steps of linear warm-up"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    max_steps: int = field(default=10_000, metadata={"help": "optimiser steps in all (a resumed run trains on to this)"})
    mlm_probability: float = field(default=0.15, metadata={"help": "share of tokens masked"})
    save_steps: int = field(default=500, metadata={"help": "steps between checkpoints"})
    logging_steps: int = field(default=50, metadata={"help": "steps between loss logs"})
    seed: int = field(default=0, metadata={"help": "seed for sampling, masking and initialisation"})
    max_texts: int | None = field(default=None, metadata={"help": "cap on corpus texts (before up-sampling), for quick runs"})
    eval_texts: int = field(default=1000, metadata={"help": "texts held out (1% at most) for the card's held-out MLM loss"})
    vocab_min_freq: int = field(default=2, metadata={"help": "characters seen fewer times become [UNK]"})
    vocab_max_size: int = field(default=8000, metadata={"help": "largest vocabulary"})
    progress: bool = field(default=True, metadata={"help": "show the progress bar"})

    def __post_init__(self) -> None:
        if not self.corpus_files and not self.include_shared:
            raise ValueError("give --corpus-files or --include-shared")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        if not 8 <= self.max_length <= self.max_position_embeddings:
            raise ValueError("max_length must be in [8, max_position_embeddings]")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError("mlm_probability must be in (0, 1)")
        if self.in_domain_upsample < 1 or self.max_steps < 1 or self.save_steps < 1:
            raise ValueError("in_domain_upsample, max_steps and save_steps must be at least 1")
        if self.max_texts is not None and self.max_texts < 1:
            raise ValueError("max_texts must be at least 1")
        if self.eval_texts < 0:
            raise ValueError("eval_texts must be at least 0")


def corpus_paths(args: PretrainArguments) -> list[Path]:
    paths = [Path(p) for p in args.corpus_files]
    if args.include_shared:
        shared = shared_corpus_files()
        if not shared:
            raise FileNotFoundError(f"--include-shared: no corpus under {SHARED_DATA_DIR}")
        paths += shared
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"corpus file not found: {path}")
    return paths


def read_corpus(args: PretrainArguments) -> tuple[list[str], list[int], list[dict[str, Any]]]:
    """Normalised texts, how often each is repeated (in-domain up-sampling), and the files' fingerprints.

    The cap (`max_texts`) draws a seeded sample of raw lines before normalising, so quick runs stay quick.
    """
    raw: list[tuple[str, int]] = []
    prints = []
    for path in corpus_paths(args):
        repeat = args.in_domain_upsample if is_in_domain(path) else 1
        texts = list(iter_corpus_file(path))
        raw += [(t, repeat) for t in texts]
        prints.append({**file_fingerprint(path), "texts": len(texts), "repeat": repeat})
    if args.max_texts is not None and len(raw) > args.max_texts:
        raw = random.Random(args.seed).sample(raw, args.max_texts)
    texts, repeats = [], []
    for text, repeat in raw:
        try:
            texts.append(normalise(text))
            repeats.append(repeat)
        except InvalidTranscriptError:
            continue
    if not texts:
        raise ValueError("the pretraining corpus has no usable text")
    return texts, repeats, prints


class _Windows:
    """Token windows as int32 arrays (compact), handed to the collator as lists; repeats share one array."""

    def __init__(self, windows: list[np.ndarray], index: list[int]) -> None:
        self.windows = windows
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return {"input_ids": self.windows[self.index[i]].tolist()}


def make_windows(tokenizer: Any, texts: list[str], repeats: list[int], max_length: int) -> _Windows:
    """Each text cut into windows of max_length tokens ([CLS] ... [SEP]), so long messages are used whole."""
    body = max_length - 2
    windows: list[np.ndarray] = []
    index: list[int] = []
    for start in range(0, len(texts), 4096):
        chunk = texts[start : start + 4096]
        ids = tokenizer(chunk, add_special_tokens=False)["input_ids"]
        for tokens, repeat in zip(ids, repeats[start : start + 4096], strict=True):
            for offset in range(0, max(len(tokens), 1), body):
                piece = tokens[offset : offset + body]
                if len(piece) < 2:
                    continue
                windows.append(np.asarray([tokenizer.cls_token_id, *piece, tokenizer.sep_token_id], dtype=np.int32))
                index += [len(windows) - 1] * repeat
    return _Windows(windows, index)


def held_out_split(texts: list[str], repeats: list[int], n: int, seed: int) -> tuple[list[str], list[int], list[str]]:
    """A seeded sample of texts (at most 1%) kept out of training, for a held-out MLM loss."""
    n = min(n, len(texts) // 100)
    held = set(random.Random(seed).sample(range(len(texts)), n)) if n else set()
    train = [i for i in range(len(texts)) if i not in held]
    return [texts[i] for i in train], [repeats[i] for i in train], [texts[i] for i in sorted(held)]


@torch.no_grad()
def mlm_loss(model: Any, collator: Any, windows: _Windows, batch_size: int, seed: int) -> float | None:
    """Masked-token cross-entropy over held-out windows, masking seeded so that runs compare."""
    if not len(windows):
        return None
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        batch = collator([windows[i] for i in range(start, min(start + batch_size, len(windows)))])
        masked = int((batch["labels"] != -100).sum())
        if not masked:
            continue
        out = model(**{k: v.to(device) for k, v in batch.items()})
        total += float(out.loss) * masked
        count += masked
    torch.random.set_rng_state(state)
    model.train(was_training)
    return total / count if count else None


def _pretrain_run_key(args: PretrainArguments, texts: list[str], repeats: list[int]) -> dict[str, Any]:
    """What a checkpoint must share with this run to be resumed: the training texts and the model's shape."""
    digest = hashlib.sha256()
    for text, repeat in zip(texts, repeats, strict=True):
        digest.update(f"{repeat}\t{text}\n".encode())
    fields = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_length",
              "max_position_embeddings", "vocab_min_freq", "vocab_max_size", "seed")
    return {"texts": digest.hexdigest(), **{f: getattr(args, f) for f in fields}}


def pretrain(args: PretrainArguments) -> Path:
    """Masked-language-model pretraining of a character BERT; resumes from the latest checkpoint if there is one."""
    from transformers import BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling, Trainer, set_seed

    _quiet_transformers()
    out = Path(args.output_dir)
    checkpoints = out / CHECKPOINTS
    training_args = _training_arguments(
        output_dir=str(checkpoints),
        max_steps=args.max_steps,
        per_device_train_batch_size=args.per_device_batch_size,
        learning_rate=args.learning_rate,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        save_steps=args.save_steps,
        logging_steps=args.logging_steps,
        seed=args.seed,
        disable_tqdm=not args.progress,
    )
    set_seed(args.seed)
    texts, repeats, prints = read_corpus(args)
    texts, repeats, held_out = held_out_split(texts, repeats, args.eval_texts, args.seed)
    run_key = _pretrain_run_key(args, texts, repeats)
    resume = _resume_point(
        checkpoints, run_key, "other corpus, cap or model size", " (only --max-steps and the optimiser settings may change on resume)"
    )
    done = out / "pretrain_result.json"
    if resume and done.is_file() and (out / "config.json").is_file():
        if json.loads(done.read_text(encoding="utf-8")).get("global_step", 0) >= args.max_steps:
            logger.info("%s is already pretrained to %d steps or more; nothing to do", out, args.max_steps)
            return out
    vocab_file = out / "vocab.txt"
    with training_args.main_process_first(desc="vocabulary"):
        if training_args.process_index == 0 and not (resume and vocab_file.is_file()):
            write_vocab(build_char_vocab(texts, args.vocab_min_freq, args.vocab_max_size), vocab_file)
        if training_args.process_index == 0:
            checkpoints.mkdir(parents=True, exist_ok=True)
            _write_json(checkpoints / RUN_FILE, run_key)
    tokenizer = char_tokenizer(vocab_file, model_max_length=args.max_position_embeddings)
    dataset = make_windows(tokenizer, texts, repeats, args.max_length)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden_size,
        num_hidden_layers=args.num_hidden_layers,
        num_attention_heads=args.num_attention_heads,
        intermediate_size=args.intermediate_size,
        max_position_embeddings=args.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = BertForMaskedLM(config)
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm=True, mlm_probability=args.mlm_probability, pad_to_multiple_of=8 if torch.cuda.is_available() else None
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=dataset, data_collator=collator)
    if resume:
        logger.info("resuming pretraining from %s", resume)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    trainer.save_model(str(out))  # on every process: it writes on the main one only
    if trainer.is_world_process_zero():
        eval_windows = make_windows(tokenizer, held_out, [1] * len(held_out), args.max_length)
        held_out_loss = mlm_loss(model, collator, eval_windows, args.per_device_batch_size, args.seed)
        tokenizer.save_pretrained(str(out))
        summary = {
            "global_step": trainer.state.global_step,
            "resumed_from": resume,
            "held_out_mlm_loss": held_out_loss,
            "held_out_texts": len(held_out),
            "final_loss": _last_loss(trainer.state.log_history) or result.training_loss,
            "train_loss": result.training_loss,
            "seconds_this_run": round(seconds, 1),
            "windows": len(dataset.windows),
            "windows_with_repeats": len(dataset),
            "texts": len(texts),
            "vocab_size": len(tokenizer),
            "parameters": sum(p.numel() for p in model.parameters()),
            "corpus": prints,
            "processes": training_args.world_size,
        }
        _write_json(out / "pretrain_args.json", dataclasses.asdict(args))
        _write_json(out / "pretrain_result.json", summary)
        (out / "README.md").write_text(_pretrain_card(args, summary), encoding="utf-8")
    return out


def _pretrain_card(args: PretrainArguments, s: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| `{Path(c['file']).parent.name}/{Path(c['file']).name}` | {c['lines']:,} | ×{c['repeat']} | `{c['sha256']}` |" for c in s["corpus"]
    )
    loss = "n/a" if s["final_loss"] is None else f"{s['final_loss']:.4f}"
    held = "n/a" if s["held_out_mlm_loss"] is None else f"{s['held_out_mlm_loss']:.4f}"
    return f"""# Character BERT, domain-pretrained (masked language model)

Pretrained by `training.transformer.pretrain` for the 12345 hotline triage transformer path. Fine-tune it with
`python -m training.transformer finetune --base-model {args.output_dir} ...`.

- architecture: BERT, {args.num_hidden_layers} layers, hidden {args.hidden_size}, {args.num_attention_heads} heads,
  feed-forward {args.intermediate_size}, {s['parameters']:,} parameters; character vocabulary of {s['vocab_size']:,}
- steps: {s['global_step']:,} (batch {args.per_device_batch_size} per device × {s['processes']} process(es),
  windows of {args.max_length} tokens, learning rate {args.learning_rate}); resumed from: {s['resumed_from'] or 'none'}
- final MLM loss: {held} on {s['held_out_texts']:,} held-out texts (15% masked, seeded); training loss as logged by
  the Trainer: {loss} last, {s['train_loss']:.4f} mean of this run (under several processes the Trainer may log
  it multiplied by their number)
- texts: {s['texts']:,} after normalisation (cap: {args.max_texts or 'none'}), {s['windows']:,} windows,
  {s['windows_with_repeats']:,} with in-domain up-sampling ×{args.in_domain_upsample}

## Corpus (fingerprints of the files as stored)

| file | lines | repeat | sha256 |
|---|---:|---:|---|
{rows}

Only training splits of the shared labelled sets are read; their test splits never are.
The corpus is public research data for this project's model training; do not redistribute the model outside it.
"""


# ---------------------------------------------------------------------------------------------------- fine-tuning


@dataclass
class FinetuneArguments:
    base_model: str = field(default="models/.cache/charbert", metadata={"help": "local folder (or hub name) of the encoder"})
    output_dir: str = field(default="models/charbert-ft", metadata={"help": "folder for the fine-tuned model"})
    heads: list[str] = field(default_factory=lambda: list(DEFAULT_HEADS), metadata={"help": "label fields to learn"})
    max_length: int = field(default=256, metadata={"help": "tokens per text (longer texts are cut)"})
    per_device_batch_size: int = field(default=32, metadata={"help": "texts per step per process"})
    learning_rate: float = field(default=1e-4, metadata={"help": "peak learning rate"})
    epochs: float = field(default=5.0, metadata={"help": "passes over the training data"})
    warmup_ratio: float = field(default=0.06, metadata={"help": "share of steps of linear warm-up"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    dropout: float = field(default=0.1, metadata={"help": "dropout before each head"})
    seed: int = field(default=0, metadata={"help": "seed"})
    max_train_samples: int | None = field(default=None, metadata={"help": "cap on training rows, for quick runs"})
    from_scratch: bool = field(default=False, metadata={"help": "random weights with the base model's config (what pretraining gains)"})
    save_steps: int = field(default=500, metadata={"help": "steps between checkpoints"})
    logging_steps: int = field(default=50, metadata={"help": "steps between loss logs"})
    group_by_length: bool = field(default=True, metadata={"help": "batch texts of similar length (less padding)"})

    def __post_init__(self) -> None:
        if not self.heads:
            raise ValueError("give at least one head")
        if len(set(self.heads)) != len(self.heads):
            raise ValueError("heads must be distinct")
        if self.max_length < 8:
            raise ValueError("max_length must be at least 8")
        if self.epochs <= 0 or self.learning_rate <= 0:
            raise ValueError("epochs and learning_rate must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if self.max_train_samples is not None and self.max_train_samples < 2:
            raise ValueError("max_train_samples must be at least 2")


class MultiHeadEncoder(nn.Module):
    """An encoder (any AutoModel) and one linear head per label field over the [CLS] vector.

    `labels` is one (batch, heads) int tensor, -100 where a row has no label for that head; the loss is the sum over
    heads of the cross-entropy over the rows that have that head's label, so partly labelled data trains every head.
    """

    def __init__(self, encoder: nn.Module, labels: dict[str, list[str]], dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.labels = {h: list(v) for h, v in labels.items()}
        self.head_names = list(self.labels)
        self.dropout = nn.Dropout(dropout)
        hidden = int(encoder.config.hidden_size)
        self.heads = nn.ModuleDict({h: nn.Linear(hidden, len(v)) for h, v in self.labels.items()})
        self._accepts_token_types = "token_type_ids" in inspect.signature(encoder.forward).parameters
        for head in self.heads.values():
            nn.init.normal_(head.weight, std=0.02)
            nn.init.zeros_(head.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self._accepts_token_types:
            kwargs["token_type_ids"] = token_type_ids
        cls_vector = self.dropout(self.encoder(**kwargs).last_hidden_state[:, 0])
        logits = tuple(self.heads[h](cls_vector) for h in self.head_names)
        out: dict[str, Any] = {"logits": logits}
        if labels is not None:
            loss = logits[0].new_zeros(())
            for column, head_logits in enumerate(logits):
                target = labels[:, column]
                # sum / count keeps every head in the graph (DDP) even when a batch has none of its labels
                ce = nn.functional.cross_entropy(head_logits.float(), target, ignore_index=-100, reduction="sum")
                loss = loss + ce / (target != -100).sum().clamp(min=1)
            out["loss"] = loss
        return out

    def save(self, folder: str | Path, *, max_length: int, extra: dict[str, Any] | None = None) -> Path:
        """Encoder via `save_pretrained`, heads as safetensors, names and labels in heads.json."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(str(folder))
        tensors = {}
        for h in self.head_names:
            tensors[f"{h}.weight"] = self.heads[h].weight.detach().float().cpu().contiguous()
            tensors[f"{h}.bias"] = self.heads[h].bias.detach().float().cpu().contiguous()
        save_file(tensors, str(folder / HEAD_WEIGHTS_FILE))
        meta = {
            "format": HEADS_FORMAT,
            "heads": [{"name": h, "labels": self.labels[h]} for h in self.head_names],
            "max_length": int(max_length),
            "pooling": "cls",
            "dropout": self.dropout.p,
            "encoder_type": getattr(self.encoder.config, "model_type", None),
            **(extra or {}),
        }
        _write_json(folder / HEADS_FILE, meta)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> MultiHeadEncoder:
        from safetensors.torch import load_file

        folder = Path(folder)
        meta = read_heads_meta(folder)
        model = cls(load_encoder(folder), {h["name"]: h["labels"] for h in meta["heads"]}, float(meta.get("dropout", 0.1)))
        weights = load_file(str(folder / HEAD_WEIGHTS_FILE))
        model.heads.load_state_dict({k: v for k, v in weights.items()}, strict=True)
        return model.eval()


class _Labelled:
    """Tokenised rows with their label indices; lengths for length-grouped batching."""

    def __init__(self, ids: list[list[int]], labels: np.ndarray) -> None:
        self.ids = ids
        self.labels = labels
        self.length = [len(x) for x in ids]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


@dataclass
class _PadCollator:
    """Pads input_ids (attention mask, token types all zero) and stacks the (rows, heads) labels."""

    pad_token_id: int
    multiple_of: int | None = None

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        if self.multiple_of:
            width = int(math.ceil(width / self.multiple_of) * self.multiple_of)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r["input_ids"])] = torch.as_tensor(r["input_ids"], dtype=torch.long)
            mask[i, : len(r["input_ids"])] = 1
        batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
        if "labels" in rows[0]:
            batch["labels"] = torch.as_tensor(np.stack([r["labels"] for r in rows]), dtype=torch.long)
        return batch


class HubUnreachableError(OSError):
    """The base model is neither a local folder nor loadable from a model hub (none is reachable here)."""


def _load_base(name: str, *, from_scratch: bool) -> tuple[Any, Any]:
    """Tokenizer and encoder of the base model; a clear error when a hub name cannot be fetched."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    local = Path(name)
    if local.exists() and not (local / "config.json").is_file():
        raise FileNotFoundError(f"{local / 'config.json'} is missing: {local} is not a saved model (save_pretrained)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        if from_scratch:
            config = AutoConfig.from_pretrained(name)
            try:
                encoder = AutoModel.from_config(config, add_pooling_layer=False)
            except TypeError:
                encoder = AutoModel.from_config(config)
        else:
            encoder = load_encoder(name)
    except Exception as exc:  # a hub name that could not be fetched: OSError, hub HTTP errors, ...
        if local.exists():
            raise
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        raise HubUnreachableError(
            f"base model {name!r} is not a local folder and could not be loaded from a model hub "
            f"({'HF_HUB_OFFLINE is set' if offline else 'no hub is reachable from here'}: {type(exc).__name__}); pass a local folder "
            "written by save_pretrained, e.g. one from `python -m training.transformer pretrain`"
        ) from exc
    return tokenizer, encoder


def _weights_digest(folder: Path) -> str | None:
    """sha256 of a local base model's weight files, so a checkpoint of an older base is never resumed."""
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _label_matrix(heads: Sequence[str], labels: dict[str, list[str | None]], n: int, classes: dict[str, list[str]]) -> np.ndarray:
    matrix = np.full((n, len(heads)), -100, dtype=np.int64)
    for column, head in enumerate(heads):
        index = {label: i for i, label in enumerate(classes[head])}
        values = labels.get(head) or [None] * n
        if len(values) != n:
            raise ValueError(f"labels for {head!r}: {len(values)} values for {n} texts")
        for row, value in enumerate(values):
            if value is not None and value in index:
                matrix[row, column] = index[value]
    return matrix


def data_fingerprint(texts: Sequence[str], labels: dict[str, list[str | None]], heads: Sequence[str]) -> dict[str, Any]:
    """Row count, a content hash and label counts per head."""
    digest = hashlib.sha256()
    for i, text in enumerate(texts):
        digest.update(text.encode())
        digest.update(json.dumps([labels.get(h, [None] * len(texts))[i] for h in heads], ensure_ascii=False).encode())
    counts = {h: dict(Counter(v for v in labels.get(h, []) if v is not None)) for h in heads}
    return {"rows": len(texts), "sha256": digest.hexdigest(), "labels": counts}


def prepare_texts(texts: Sequence[str], labels: dict[str, list[str | None]] | None) -> tuple[list[str], dict[str, list[str | None]]]:
    """Normalise; rows that normalise refuses are dropped (with their labels)."""
    keep, out = [], []
    for i, text in enumerate(texts):
        try:
            out.append(normalise(text))
            keep.append(i)
        except InvalidTranscriptError:
            continue
    if len(keep) < len(texts):
        logger.warning("%d of %d texts dropped: normalise refused them", len(texts) - len(keep), len(texts))
    kept = {h: [v[i] for i in keep] for h, v in (labels or {}).items()}
    return out, kept


def score(proba: dict[str, np.ndarray], classes: dict[str, np.ndarray], labels: dict[str, list[str | None]]) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 per head over the rows that have that head's label."""
    from sklearn.metrics import accuracy_score, f1_score

    scores: dict[str, dict[str, float]] = {}
    for head, p in proba.items():
        gold = labels.get(head)
        if not gold:
            continue
        rows = [i for i, g in enumerate(gold) if g is not None]
        if not rows:
            continue
        predicted = classes[head][p[rows].argmax(axis=1)].astype(str)
        truth = np.asarray([gold[i] for i in rows], dtype=str)
        scores[head] = {
            "rows": len(rows),
            "accuracy": round(float(accuracy_score(truth, predicted)), 4),
            "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
        }
    return scores


@torch.inference_mode()
def predict_logits(model: MultiHeadEncoder, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Logits per head from the training model (eval mode), texts sorted by length."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    n = len(texts)
    out = {h: np.zeros((n, len(model.labels[h])), dtype=np.float32) for h in model.head_names}
    order = sorted(range(n), key=lambda i: len(texts[i]))
    for start in range(0, n, batch_size):
        rows = order[start : start + batch_size]
        enc = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        enc = {k: v.to(device) for k, v in enc.items() if k in INPUT_NAMES}
        logits = model(**enc)["logits"]
        for h, lg in zip(model.head_names, logits, strict=True):
            out[h][rows] = lg.float().cpu().numpy()
    model.train(was_training)
    return out


def finetune(
    args: FinetuneArguments,
    train_texts: list[str],
    train_labels: dict[str, list[str | None]],
    eval_texts: list[str] | None = None,
    eval_labels: dict[str, list[str | None]] | None = None,
    progress: bool = True,
) -> Path:
    """Fine-tune one head per label field on a (pretrained or random) encoder; writes a folder TransformerHeads loads."""
    from transformers import Trainer, set_seed

    from triage.transformer import softmax

    _quiet_transformers()
    if len(train_texts) < 2:
        raise ValueError("need at least two training texts")
    for head in args.heads:
        if head not in train_labels:
            raise ValueError(f"no labels given for head {head!r}; give them or leave the head out (--heads)")
    set_seed(args.seed)
    texts, labels = prepare_texts(train_texts, {h: list(train_labels[h]) for h in args.heads})
    if args.max_train_samples is not None and len(texts) > args.max_train_samples:
        keep = sorted(random.Random(args.seed).sample(range(len(texts)), args.max_train_samples))
        texts = [texts[i] for i in keep]
        labels = {h: [v[i] for i in keep] for h, v in labels.items()}
    classes: dict[str, list[str]] = {}
    for head in args.heads:
        seen = sorted({v for v in labels[head] if v is not None})
        if not seen:
            raise ValueError(f"head {head!r} has no label in the training rows; leave it out (--heads)")
        if len(seen) == 1:
            logger.warning("head %r has a single class (%s): it will always predict it", head, seen[0])
        classes[head] = seen

    tokenizer, encoder = _load_base(args.base_model, from_scratch=args.from_scratch)
    limit = getattr(encoder.config, "max_position_embeddings", None)
    max_length = min(args.max_length, int(limit)) if limit else args.max_length
    model = MultiHeadEncoder(encoder, classes, args.dropout)
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    dataset = _Labelled(ids, _label_matrix(args.heads, labels, len(texts), classes))
    fingerprint = data_fingerprint(texts, labels, args.heads)

    out = Path(args.output_dir)
    checkpoints = out / CHECKPOINTS
    run_key = {
        "base_model": args.base_model,
        "base_weights": _weights_digest(Path(args.base_model)),
        "from_scratch": args.from_scratch,
        "classes": classes,
        "data": fingerprint["sha256"],
    }
    resume = _resume_point(checkpoints, run_key, "other data, labels or base")
    training_args = _training_arguments(
        output_dir=str(checkpoints),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.per_device_batch_size,
        learning_rate=args.learning_rate,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        save_steps=args.save_steps,
        logging_steps=args.logging_steps,
        seed=args.seed,
        disable_tqdm=not progress,
        label_names=["labels"],
        group_by_length=args.group_by_length,
        save_safetensors=True,
    )
    if training_args.process_index == 0:
        checkpoints.mkdir(parents=True, exist_ok=True)
        _write_json(checkpoints / RUN_FILE, run_key)
    collator = _PadCollator(tokenizer.pad_token_id, 8 if torch.cuda.is_available() else None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not a `PreTrainedModel`.*")
        trainer = Trainer(model=model, args=training_args, train_dataset=dataset, data_collator=collator)
        started = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    if not trainer.is_world_process_zero():
        return out

    eval_scores: dict[str, dict[str, float]] = {}
    eval_print = None
    if eval_texts:
        e_texts, e_labels = prepare_texts(eval_texts, eval_labels or {})
        logits = predict_logits(model, tokenizer, e_texts, max_length)
        proba = {h: softmax(v) for h, v in logits.items()}
        eval_scores = score(proba, {h: np.asarray(v, dtype=object) for h, v in classes.items()}, e_labels)
        eval_print = data_fingerprint(e_texts, e_labels, args.heads)
    model.to("cpu")
    model.save(out, max_length=max_length, extra={"base_model": args.base_model, "from_scratch": args.from_scratch})
    tokenizer.save_pretrained(str(out))
    summary = {
        "global_step": trainer.state.global_step,
        "resumed_from": resume,
        "final_loss": _last_loss(trainer.state.log_history) or result.training_loss,
        "train_loss": result.training_loss,
        "seconds_this_run": round(seconds, 1),
        "train_data": fingerprint,
        "eval_data": eval_print,
        "eval": eval_scores,
        "processes": training_args.world_size,
    }
    _write_json(out / "finetune_args.json", dataclasses.asdict(args))
    _write_json(out / "finetune_result.json", summary)
    (out / "README.md").write_text(_finetune_card(args, classes, max_length, summary), encoding="utf-8")
    return out


def _finetune_card(args: FinetuneArguments, classes: dict[str, list[str]], max_length: int, s: dict[str, Any]) -> str:
    heads = "\n".join(f"| {h} | {len(v)} | {s['train_data']['labels'][h] and sum(s['train_data']['labels'][h].values())} | {', '.join(v)} |" for h, v in classes.items())
    if s["eval"]:
        scores = "\n".join(f"| {h} | {v['rows']} | {v['accuracy']:.4f} | {v['macro_f1']:.4f} |" for h, v in s["eval"].items())
        eval_part = f"| head | rows | accuracy | macro-F1 |\n|---|---:|---:|---:|\n{scores}\n\nEval data: {s['eval_data']['rows']} rows, sha256 `{s['eval_data']['sha256']}`."
    else:
        eval_part = "No evaluation set was given."
    loss = "n/a" if s["final_loss"] is None else f"{s['final_loss']:.4f}"
    return f"""# Multi-head transformer classifier (fine-tuned)

Written by `training.transformer.finetune`; served by `triage.transformer.TransformerHeads.load(folder)`.

- base model: `{args.base_model}`{' (config only: random weights, from scratch)' if args.from_scratch else ''}
- heads over the [CLS] vector, max_length {max_length}, {args.epochs} epochs, learning rate {args.learning_rate},
  batch {args.per_device_batch_size} per device × {s['processes']} process(es); {s['global_step']} steps
  (resumed from: {s['resumed_from'] or 'none'}); last logged loss {loss}

| head | classes | labelled rows | labels |
|---|---:|---:|---|
{heads}

Training data: {s['train_data']['rows']} rows, sha256 `{s['train_data']['sha256']}` (texts after normalisation and labels).

## Evaluation

{eval_part}
"""


# ----------------------------------------------------------------------------------------------------------- ONNX


class _OnnxWrapper(nn.Module):
    """Tuple of logits, one per head, in heads.json order: the ONNX graph's outputs."""

    def __init__(self, model: MultiHeadEncoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)["logits"]


def export_onnx(folder: str | Path, *, quantize: bool = True, texts_for_check: list[str] | None = None, opset: int = 17) -> dict[str, Any]:
    """model.onnx (fp32) and model.int8.onnx (dynamic QInt8); with texts, PyTorch vs ONNX parity per head.

    The parity figures (also written to onnx_parity.json) are what to look at before serving int8.
    """
    from transformers import AutoTokenizer

    from triage.transformer import softmax

    if opset < 17:
        raise ValueError("opset must be at least 17")
    folder = Path(folder)
    model = MultiHeadEncoder.load(folder).to("cpu").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    meta = read_heads_meta(folder)
    heads = model.head_names
    # a padded example so the mask path is traced as it is used
    sample = tokenizer(["市民来电反映小区噪音扰民", "咨询"], padding=True, truncation=True, max_length=meta["max_length"], return_tensors="pt")
    inputs = tuple(sample.get(n, torch.zeros_like(sample["input_ids"])) for n in INPUT_NAMES)
    onnx_path = folder / ONNX_FILE
    axes = {n: {0: "batch", 1: "sequence"} for n in INPUT_NAMES} | {h: {0: "batch"} for h in heads}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs: dict[str, Any] = {
            "input_names": list(INPUT_NAMES),
            "output_names": heads,
            "dynamic_axes": axes,
            "opset_version": opset,
            "do_constant_folding": True,
        }
        try:
            torch.onnx.export(_OnnxWrapper(model), inputs, str(onnx_path), dynamo=False, **kwargs)
        except TypeError:  # torch without the dynamo switch
            torch.onnx.export(_OnnxWrapper(model), inputs, str(onnx_path), **kwargs)
    files = {"fp32": str(onnx_path)}
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8_path = folder / ONNX_INT8_FILE
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_dynamic's "consider pre-processing" warning
        try:
            quantize_dynamic(str(onnx_path), str(int8_path), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        files["int8"] = str(int8_path)
    if not texts_for_check:
        return {}

    texts = list(texts_for_check)
    reference = {h: softmax(v) for h, v in predict_logits(model, tokenizer, texts, meta["max_length"]).items()}
    parity: dict[str, dict[str, float]] = {h: {} for h in heads}
    for kind, name in (("fp32", ONNX_FILE), ("int8", ONNX_INT8_FILE)):
        if kind == "int8" and not quantize:
            continue
        proba = TransformerHeads.load(folder, backend="onnx", onnx_file=name).predict_proba(texts)
        for h in heads:
            diff = np.abs(proba[h] - reference[h])
            parity[h][f"top1_agreement_{kind}"] = round(float((proba[h].argmax(1) == reference[h].argmax(1)).mean()), 6)
            parity[h][f"max_abs_prob_diff_{kind}"] = float(diff.max())
            if kind == "int8":
                parity[h]["mean_abs_prob_diff_int8"] = float(diff.mean())
    _write_json(folder / "onnx_parity.json", {"texts": len(texts), "opset": opset, "heads": parity})
    return parity


# ------------------------------------------------------------------------------------------------------- command


@dataclass
class FinetuneDataArguments:
    train_file: str | None = field(default=None, metadata={"help": "labelled JSONL/CSV (`text` + label fields)"})
    eval_file: str | None = field(default=None, metadata={"help": "labelled file for the card's scores"})
    tipdm: bool = field(default=False, metadata={"help": "train on the tipdm2020c train split (../shared/data)"})
    eval_fraction: float = field(default=0.1, metadata={"help": "held-out share of the training file when no eval file"})
    export_onnx: bool = field(default=True, metadata={"help": "write model.onnx and model.int8.onnx after training"})


def _finetune_command(argv: list[str]) -> Path:
    from transformers import HfArgumentParser

    from training.datasets import Dataset, read_labelled, split, tipdm_train

    args, data_args = HfArgumentParser((FinetuneArguments, FinetuneDataArguments)).parse_args_into_dataclasses(argv)
    if (data_args.train_file is None) == (not data_args.tipdm):
        raise SystemExit("give exactly one of --train-file or --tipdm")
    data = tipdm_train() if data_args.tipdm else read_labelled(data_args.train_file)
    for problem in data.problems[:20]:
        logger.warning(problem)
    if data_args.eval_file:
        train_data, eval_data = data, read_labelled(data_args.eval_file)
    else:
        train_data, eval_data = split(data, data_args.eval_fraction, args.seed) if data_args.eval_fraction > 0 else (data, Dataset())
    present = [h for h in args.heads if any(v is not None for v in train_data.labels(h))]
    if present != args.heads:
        logger.warning("heads without any label in the data are left out: %s", sorted(set(args.heads) - set(present)))
        args.heads = present
    out = finetune(
        args,
        train_data.texts(),
        {h: train_data.labels(h) for h in args.heads},
        eval_data.texts() or None,
        {h: eval_data.labels(h) for h in args.heads},
    )
    if data_args.export_onnx and int(os.environ.get("RANK", "0")) == 0:
        sample = normalise_all(eval_data.texts()[:200] or train_data.texts()[:200])
        parity = export_onnx(out, texts_for_check=sample)
        print(json.dumps(parity, ensure_ascii=False, indent=2))
    return out


def main(argv: list[str] | None = None) -> None:
    """`python -m training.transformer pretrain|finetune|export [--options]` (works under torchrun / accelerate)."""
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ("pretrain", "finetune", "export")
    if not argv or argv[0] not in commands:
        raise SystemExit(f"usage: python -m training.transformer {{{','.join(commands)}}} [--help]")
    command, rest = argv[0], argv[1:]
    if command == "pretrain":
        (args,) = HfArgumentParser((PretrainArguments,)).parse_args_into_dataclasses(rest)
        print(pretrain(args))
    elif command == "finetune":
        print(_finetune_command(rest))
    else:
        if not rest or rest[0].startswith("-"):
            raise SystemExit("usage: python -m training.transformer export FOLDER")
        print(json.dumps(export_onnx(rest[0]), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
