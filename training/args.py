"""Training arguments as dataclasses (as in Hugging Face's run_classification.py): one JSON reproduces a run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

Preset = Literal["default", "full"]
LOCAL_WEIGHT = 2.0
"""Default weight of a local order beside a preset's rows. `python -m training.bench_local` (a new city simulated
with 100-300 local rows, two draws each) found 1 and 2 within a point of each other (2 slightly ahead in accuracy),
5 lower in macro-F1, and 20 worse both locally and at home."""
ModelType = Literal["linear", "transformer", "ensemble"]


TARGETS = {"unit": 0.96, "category": 0.90, "scope": 0.98}
"""Precision each field must reach out of fold among the calls where it is auto. The automation issue's goals are
0.95 / 0.90 / 0.98 on calls nobody here has seen; the unit's is aimed a point higher. Splitting the out-of-fold
calls in two shows the choice itself is not optimistic (chosen on one half at 0.95, the other half's auto rows
measure 0.960 on average over 60 splits, never below 0.95), but a goal judged on a few hundred unseen auto rows
has a standard error of about one point: a model that is 0.956 out of fold lands under 0.95 on such a sample
about a quarter of the time, one aimed at 0.96 (0.966 out of fold) about one time in twenty. The unit can
afford it (88% -> 82% of accepted calls auto out of fold, against the 75% goal); the category cannot (its
coverage goal, 80%, is as tight as its precision goal), and the scope's refusals are rule-made."""


@dataclass
class DataArguments:
    preset: Preset | None = field(default="default", metadata={"help": "default: data/ only; full: plus ../shared/data"})
    data_files: list[str] = field(default_factory=list, metadata={"help": "analyst's labelled JSONL/CSV files"})
    label_files: list[str] = field(default_factory=list, metadata={"help": "extra labels by id (JSONL)"})
    max_train_samples: int | None = field(default=None, metadata={"help": "cap on training rows, for quick runs"})
    knowledge_rows: bool = field(
        default=True, metadata={"help": "train the unit head on the catalogue's names, aliases and duty phrases too (never scored)"}
    )
    local_weight: float = field(
        default=LOCAL_WEIGHT,
        metadata={"help": "how much each row of the data files (a hotline's own orders) counts beside a preset's rows"},
    )
    adapt_priors: str | None = field(
        default=None,
        metadata={"help": "unlabelled local calls (JSONL/CSV with `text`): re-estimate category/topic/unit priors on them (EM)"},
    )

    def __post_init__(self) -> None:
        if self.preset is None and not self.data_files:
            raise ValueError("give a preset or at least one data file")
        if not 0.0 < self.local_weight <= 100.0:
            raise ValueError("local_weight must be in (0, 100]")
        if self.max_train_samples is not None and self.max_train_samples < 10:
            raise ValueError("max_train_samples must be at least 10")


@dataclass
class ModelArguments:
    """The heads' features and fitting. Word bigrams were chosen on out-of-fold predictions (full preset, 2,961
    corpus calls and 5,622 real messages; the frozen test split unread): they carry how a caller asks (能不能帮,
    我要举报, 想问一下), which the category turns on. Against word unigrams, calls' category auto-filled at 90%
    precision went from 71.3% to 78.0% and their unit auto at 95% from 78.3% to 79.9% (messages: 54.1% to
    54.3%, 87.4% to 88.1%). A minimum document frequency of 2 on top of them halves the bundle (198 to 125 MB)
    but auto-fills fewer calls' categories (75.7%), so every feature is kept."""

    C: float = field(default=0.7, metadata={"help": "inverse regularisation of the linear heads"})
    word_ngram_max: int = field(default=2, metadata={"help": "longest word n-gram"})
    char_ngram_max: int = field(default=2, metadata={"help": "longest character n-gram"})
    min_df: int = field(default=1, metadata={"help": "minimum document frequency of a feature (1 below 20 training texts)"})
    calibration: Literal["sigmoid", "isotonic"] = field(default="sigmoid", metadata={"help": "probability calibration"})
    recalibration: Literal["auto", "none", "temperature", "isotonic"] = field(
        default="auto", metadata={"help": "recalibration of category/topic/scope on out-of-fold predictions (auto: best by CV log-loss)"}
    )
    alternative_weight: float = field(
        default=0.0,
        metadata={"help": "weight of a unit a dispatcher would also accept, beside the best one (1), in the unit head; 0: the best only"},
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
        if not 0.0 <= self.alternative_weight <= 1.0:
            raise ValueError("alternative_weight must be in [0, 1]")


@dataclass
class TrainingArguments:
    output_dir: str = field(default="models/default", metadata={"help": "bundle folder to write"})
    seed: int = field(default=0, metadata={"help": "seed for folds and models"})
    folds: int = field(default=5, metadata={"help": "cross-validation folds whose out-of-fold predictions tune thresholds and weights"})
    n_jobs: int = field(default=-1, metadata={"help": "processes that fit the folds (-1: one per core)"})
    unit_precision: float = field(default=TARGETS["unit"], metadata={"help": "precision of the top unit where it is auto, out of fold (TARGETS above says why 0.96)"})
    category_precision: float = field(default=TARGETS["category"], metadata={"help": "precision of the category where it is auto"})
    scope_precision: float = field(default=TARGETS["scope"], metadata={"help": "precision of scope decisions (acceptances, rule refusals) where auto"})
    version: str | None = field(default=None, metadata={"help": "model version (default: name-date)"})

    def __post_init__(self) -> None:
        for name in ("unit_precision", "category_precision", "scope_precision"):
            if not 0.5 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0.5, 1)")
        if self.folds < 2:
            raise ValueError("folds must be at least 2")
        if self.n_jobs == 0:
            raise ValueError("n_jobs must be positive, or negative for all cores (-1)")


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
        """Arguments from a saved run; settings that later versions dropped (a dev split's fraction, one target
        precision for every head) are left out, so an older bundle's run can still be repeated."""
        parts = []
        for kind, key in ((DataArguments, "data"), (ModelArguments, "model"), (TrainingArguments, "training")):
            known = {f.name for f in fields(kind)}
            parts.append(kind(**{k: v for k, v in raw[key].items() if k in known}))
        return cls(*parts)

    @classmethod
    def load(cls, path: str | Path) -> RunArguments:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
