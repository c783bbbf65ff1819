"""Where the project's own data lives: one place, so a fresh clone finds it without configuration."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TRIAGE_DATA_DIR", PROJECT_ROOT / "data"))
MODELS_DIR = Path(os.environ.get("TRIAGE_MODELS_DIR", PROJECT_ROOT / "models"))
SHARED_DATA_DIR = Path(os.environ.get("TRIAGE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))

UNITS_FILE = DATA_DIR / "units.yaml"
PLACES_FILE = DATA_DIR / "places.yaml"
RULES_FILE = DATA_DIR / "rules.yaml"
HOLIDAYS_FILE = DATA_DIR / "holidays.yaml"
TERMS_FILE = DATA_DIR / "hotline_terms.txt"
CORPUS_DIR = DATA_DIR / "corpus"
PROBES_DIR = DATA_DIR / "probes"
DEFAULT_MODEL_DIR = MODELS_DIR / "default"
