"""Training arguments as dataclasses (as in Hugging Face's run_classification.py): one JSON reproduces a run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Preset = Literal["default", "full"]
ModelType = Literal["linear", "transformer", "ensemble"]


@dataclass
class DataArguments:
    preset: Preset | None = field(default="default", metadata={"help": "default: data/ only; full: plus ../shared/data"})
    data_files: list[str] = field(default_factory=list, metadata={"help": "analyst's labelled JSONL/CSV files"})
    label_files: list[str] = field(default_factory=list, metadata={"help": "extra labels by id (JSONL)"})
    dev_fraction: float = field(default=0.2, metadata={"help": "share of own data held out for tuning and scores"})
    max_train_samples: int | None = field(default=None, metadata={"help": "cap on training rows, for quick runs"})

    def __post_init__(self) -> None:
        if self.preset is None and not self.data_files:
            raise ValueError("give a preset or at least one data file")
        if not 0.0 < self.dev_fraction < 0.9:
            raise ValueError(f"dev_fraction must be in (0, 0.9), got {self.dev_fraction}")
        if self.max_train_samples is not None and self.max_train_samples < 10:
            raise ValueError("max_train_samples must be at least 10")


@dataclass
class ModelArguments:
    C: float = field(default=0.7, metadata={"help": "inverse regularisation of the linear heads"})
    word_ngram_max: int = field(default=1, metadata={"help": "longest word n-gram"})
    char_ngram_max: int = field(default=2, metadata={"help": "longest character n-gram"})
    min_df: int = field(default=1, metadata={"help": "minimum document frequency of a feature"})
    calibration: Literal["sigmoid", "isotonic"] = field(default="sigmoid", metadata={"help": "probability calibration"})
    recalibration: Literal["auto", "none", "temperature", "isotonic"] = field(
        default="auto", metadata={"help": "recalibration of category/topic/scope on the dev split (auto: best by CV log-loss)"}
    )
    model_type: ModelType = field(
        default="linear",
        metadata={"help": "linear heads only; transformer: its probabilities for the heads it has; ensemble: mixed by weights chosen on dev"},
    )
    base_model: str | None = field(default=None, metadata={"help": "encoder to fine-tune: a local folder (`triage pretrain`) or hub name"})
    transformer_epochs: float = field(default=3.0, metadata={"help": "fine-tuning passes over the training data"})
    transformer_max_length: int = field(default=256, metadata={"help": "tokens per text for the transformer"})
    transformer_batch_size: int = field(default=32, metadata={"help": "texts per step per device"})
    transformer_learning_rate: float = field(default=1e-4, metadata={"help": "peak fine-tuning learning rate"})

    def __post_init__(self) -> None:
        if self.model_type != "linear" and not self.base_model:
            raise ValueError(f"--model {self.model_type} needs --base-model (a folder from `triage pretrain`, or a local checkpoint)")
        if self.C <= 0:
            raise ValueError("C must be positive")
        if self.word_ngram_max < 1 or self.char_ngram_max < 1:
            raise ValueError("n-gram lengths must be at least 1")


@dataclass
class TrainingArguments:
    output_dir: str = field(default="models/default", metadata={"help": "bundle folder to write"})
    seed: int = field(default=0, metadata={"help": "seed for splits and models"})
    target_precision: float = field(default=0.9, metadata={"help": "precision that sets the needs_review thresholds"})
    version: str | None = field(default=None, metadata={"help": "model version (default: name-date)"})

    def __post_init__(self) -> None:
        if not 0.5 <= self.target_precision < 1.0:
            raise ValueError("target_precision must be in [0.5, 1)")


@dataclass
class RunArguments:
    data: DataArguments
    model: ModelArguments
    training: TrainingArguments

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunArguments:
        return cls(DataArguments(**raw["data"]), ModelArguments(**raw["model"]), TrainingArguments(**raw["training"]))

    @classmethod
    def load(cls, path: str | Path) -> RunArguments:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
