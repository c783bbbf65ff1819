"""Domain errors, in one place, so the CLI and the API can map each to a clear message or HTTP status."""

from __future__ import annotations

from pathlib import Path


class TriageError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidTranscriptError(TriageError, ValueError):
    """A transcript the pipeline cannot work on (empty, no Chinese, too long, not text)."""


class FillersOnlyError(InvalidTranscriptError):
    """A transcript of fillers only ("喂？喂？"): no text to learn from, but a call the pipeline still answers
    (诉求不明确, for a person to review)."""


class DataFileError(TriageError, ValueError):
    """A data file (training data, catalogue, gazetteer, rules) that is malformed: names file and place."""

    def __init__(self, path: str | Path, reason: str, *, line: int | None = None, entry: str | None = None):
        self.path = str(path)
        self.line = line
        self.entry = entry
        self.reason = reason
        where = self.path
        if line is not None:
            where += f", line {line}"
        if entry is not None:
            where += f", entry {entry!r}"
        super().__init__(f"{where}: {reason}")


class LabelError(TriageError, ValueError):
    """Training labels that cannot train a head (unknown label, fewer than two classes)."""


class BundleError(TriageError):
    """A model bundle that is missing, incomplete, or fails its checksums."""
