"""Serving side of the transformer path: a fine-tuned multi-head encoder folder in, class probabilities out.

The folder is what `training.transformer.finetune` writes (and `export_onnx` completes):

    config.json, model.safetensors     the encoder (Hugging Face `save_pretrained`)
    heads.json                         head names, their label lists, max_length, pooling
    heads.safetensors                  one linear layer per head: `<head>.weight`, `<head>.bias`
    tokenizer.json, vocab.txt, ...     the tokenizer (`save_pretrained`)
    model.onnx, model.int8.onnx        optional ONNX exports (fp32; int8 dynamic quantisation)

Serving should not need torch: the ONNX backend needs only onnxruntime, numpy and tokenizers, all imported at
load time so that importing this module costs nothing. The torch backend computes the same thing (encoder, the
[CLS] vector, one linear layer per head) without the training module's classes, so the two paths check each other.
Texts are expected already normalised (`triage.normalise.normalise`) by the caller, as in training.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

logger = logging.getLogger(__name__)

Backend = Literal["auto", "onnx", "torch"]
HEADS_FILE = "heads.json"
HEAD_WEIGHTS_FILE = "heads.safetensors"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
ENCODER_CONFIG_FILE = "config.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
HEADS_FORMAT = 1

Batch = dict[str, np.ndarray]


def read_heads_meta(folder: str | Path) -> dict[str, Any]:
    """heads.json, checked, so that a half-written folder fails with the name of what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"transformer model folder not found: {folder}")
    path = folder / HEADS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a fine-tuned transformer folder (heads.json names the heads and labels)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.msg})") from exc
    heads = meta.get("heads") if isinstance(meta, dict) else None
    if not isinstance(heads, list) or not heads:
        raise ValueError(f"{path} has no `heads` list")
    for head in heads:
        if not isinstance(head, dict) or not isinstance(head.get("name"), str) or not isinstance(head.get("labels"), list):
            raise ValueError(f"{path}: every head needs a `name` and a `labels` list, got {head!r}")
        if not head["labels"]:
            raise ValueError(f"{path}: head {head['name']!r} has no labels")
    if not isinstance(meta.get("max_length"), int) or meta["max_length"] < 4:
        raise ValueError(f"{path} needs an integer `max_length` (at least 4)")
    return meta


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, so rows sum to 1 to within rounding."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _require(folder: Path, name: str, why: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing ({why})")
    return path


class TransformerHeads:
    """A fine-tuned encoder with one classification head per label field, ready for CPU inference."""

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        backend: str,
        encode: Callable[[Sequence[str]], Batch],
        run: Callable[[Batch], dict[str, np.ndarray]],
    ) -> None:
        self.folder = folder
        self.meta = meta
        self.backend = backend
        self.heads: list[str] = [h["name"] for h in meta["heads"]]
        self.classes_: dict[str, np.ndarray] = {h["name"]: np.asarray(h["labels"], dtype=object) for h in meta["heads"]}
        self.max_length: int = int(meta["max_length"])
        self._encode = encode
        self._run = run

    @classmethod
    def load(
        cls,
        folder: str | Path,
        *,
        backend: Backend = "auto",
        threads: int | None = None,
        onnx_file: str | None = None,
    ) -> TransformerHeads:
        """Load a folder; "auto" prefers model.int8.onnx, then model.onnx, then torch.

        `onnx_file` picks a given ONNX file in the folder (the parity check compares fp32 with int8).
        """
        folder = Path(folder)
        meta = read_heads_meta(folder)
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"unknown backend {backend!r}; use auto, onnx or torch")
        if backend == "auto":
            if onnx_file is None:
                onnx_file = next((n for n in (ONNX_INT8_FILE, ONNX_FILE) if (folder / n).is_file()), None)
            backend = "onnx" if onnx_file is not None else "torch"
            if backend == "onnx":
                try:
                    import onnxruntime  # noqa: F401
                except ImportError:
                    logger.warning("onnxruntime is not installed; %s falls back to torch", folder)
                    backend = "torch"
        if backend == "onnx":
            name = onnx_file or next((n for n in (ONNX_INT8_FILE, ONNX_FILE) if (folder / n).is_file()), ONNX_FILE)
            path = _require(folder, name, "export it with `training.transformer.export_onnx`")
            encode = _tokenizers_encoder(folder, meta["max_length"])
            run = _onnx_runner(path, [h["name"] for h in meta["heads"]], threads)
        else:
            encode, run = _torch_backend(folder, meta, threads)
        loaded = cls(folder, meta, backend, encode, run)
        loaded._reload = {"backend": backend, "threads": threads, "onnx_file": onnx_file}
        return loaded

    def __getstate__(self) -> dict[str, Any]:
        """Sessions do not pickle: a worker process reloads the same files with the same backend."""
        return {"folder": str(self.folder), "reload": getattr(self, "_reload", {"backend": self.backend})}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(TransformerHeads.load(state["folder"], **state["reload"]).__dict__)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> dict[str, np.ndarray]:
        """Probabilities per head; columns follow `classes_[head]`. Texts are sorted by length to pad less."""
        if isinstance(texts, str):
            raise TypeError("predict_proba takes a sequence of texts, not one string")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        n = len(texts)
        out = {h: np.zeros((n, len(self.classes_[h])), dtype=np.float64) for h in self.heads}
        order = sorted(range(n), key=lambda i: len(texts[i]))
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            logits = self._run(self._encode([texts[i] for i in rows]))
            for head in self.heads:
                out[head][rows] = softmax(logits[head])
        return out

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> dict[str, list[str]]:
        """Top label per head."""
        proba = self.predict_proba(texts, batch_size=batch_size)
        return {h: [str(x) for x in self.classes_[h][p.argmax(axis=1)]] for h, p in proba.items()}

    def __repr__(self) -> str:
        return f"TransformerHeads({str(self.folder)!r}, backend={self.backend!r}, heads={self.heads})"


def _tokenizers_encoder(folder: Path, max_length: int) -> Callable[[Sequence[str]], Batch]:
    """The fast tokenizer's tokenizer.json through the `tokenizers` library alone (no torch, no transformers)."""
    from tokenizers import Tokenizer

    path = _require(folder, TOKENIZER_FILE, "the fast tokenizer, written by `save_pretrained`")
    tokenizer = Tokenizer.from_file(str(path))
    config_path = folder / "tokenizer_config.json"
    pad_token = "[PAD]"
    if config_path.is_file():
        pad_token = json.loads(config_path.read_text(encoding="utf-8")).get("pad_token") or pad_token
        if isinstance(pad_token, dict):  # older files store AddedToken objects
            pad_token = pad_token.get("content", "[PAD]")
    pad_id = tokenizer.token_to_id(pad_token)
    if pad_id is None:
        raise ValueError(f"{path}: pad token {pad_token!r} is not in the vocabulary")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)

    def encode(texts: Sequence[str]) -> Batch:
        encodings = tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = e.attention_mask
            types[row, : len(e.ids)] = e.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    return encode


def _onnx_runner(path: Path, heads: list[str], threads: int | None) -> Callable[[Batch], dict[str, np.ndarray]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    missing = [h for h in heads if h not in outputs]
    if missing:
        raise ValueError(f"{path} has no output for head(s) {', '.join(missing)}; its outputs: {', '.join(outputs)}")

    def run(batch: Batch) -> dict[str, np.ndarray]:
        feeds = {k: v for k, v in batch.items() if k in wanted}
        return dict(zip(heads, session.run(heads, feeds), strict=True))

    return run


def load_encoder(folder: str | Path, **kwargs: Any) -> Any:
    """AutoModel without BERT's pooler (only the [CLS] vector is used), falling back where a model has no such option."""
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(str(folder), add_pooling_layer=False, **kwargs)
    except TypeError:
        return AutoModel.from_pretrained(str(folder), **kwargs)


def _torch_backend(
    folder: Path, meta: dict[str, Any], threads: int | None
) -> tuple[Callable[[Sequence[str]], Batch], Callable[[Batch], dict[str, np.ndarray]]]:
    """Encoder + [CLS] + one linear layer per head, in plain torch, from the folder's files."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    _require(folder, ENCODER_CONFIG_FILE, "the encoder's config, written by `save_pretrained`")
    weights = load_file(str(_require(folder, HEAD_WEIGHTS_FILE, "the heads' weights")))
    heads = [h["name"] for h in meta["heads"]]
    for head in meta["heads"]:
        for part in ("weight", "bias"):
            if f"{head['name']}.{part}" not in weights:
                raise ValueError(f"{folder / HEAD_WEIGHTS_FILE} has no {head['name']}.{part}")
        if weights[f"{head['name']}.weight"].shape[0] != len(head["labels"]):
            raise ValueError(f"head {head['name']!r}: {len(head['labels'])} labels in heads.json, weights disagree")
    if threads:
        torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    encoder = load_encoder(folder).eval()
    accepted = set(getattr(tokenizer, "model_input_names", INPUT_NAMES))
    max_length = int(meta["max_length"])

    def encode(texts: Sequence[str]) -> Batch:
        enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np")
        return {k: np.asarray(v, dtype=np.int64) for k, v in enc.items() if k in accepted}

    def run(batch: Batch) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            inputs = {k: torch.from_numpy(v) for k, v in batch.items()}
            cls_vector = encoder(**inputs).last_hidden_state[:, 0]
            return {
                h: torch.nn.functional.linear(cls_vector, weights[f"{h}.weight"], weights[f"{h}.bias"]).float().numpy()
                for h in heads
            }

    return encode, run
