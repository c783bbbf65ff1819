"""The model registry: which bundles exist under models/, which one is current, and the way back.

`models/registry.json` is small and human-readable: every registered version with its folder, data
fingerprints and headline metrics (copied from the bundle's manifest), the current and previous version,
and the promotion history that `rollback` walks back. Edits hold a file lock and replace the file
atomically, so a retrain and an admin's promote cannot interleave into a broken registry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triage.bundle import verify_bundle
from triage.errors import TriageError
from triage.resources import PROJECT_ROOT

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock, the atomic replace still holds
    fcntl = None  # type: ignore[assignment]

REGISTRY_FILE = "registry.json"
FORMAT_VERSION = 1
HEADLINE = {
    "category_accuracy": ("category", "accuracy"),
    "category_macro_f1": ("category", "macro_f1"),
    "topic_accuracy": ("topic", "accuracy"),
    "topic_macro_f1": ("topic", "macro_f1"),
    "unit_top1": ("unit", "top1_accuracy"),
    "unit_top3": ("unit", "top3_accuracy"),
    "unit_top5": ("unit", "top5_accuracy"),
    "scope_false_refusal_rate": ("scope", "false_refusal_rate"),
    "scope_out_of_scope_recall": ("scope", "out_of_scope_recall"),
    "district_accuracy": ("district", "accuracy_where_place_said"),
    "deadline_accuracy": ("deadline", "accuracy"),
}
"""The per-head figures kept in the registry and compared before a promotion."""


RETRAIN_BUSY_EXIT = 75
"""Exit status of `triage retrain` when another retrain holds the models folder (EX_TEMPFAIL: try again later);
the service's retrain job reads it to answer 409."""


class RetrainBusy(RuntimeError):
    """Another retrain is running on these models (in this process or another)."""


class RegistryError(TriageError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to, broken bundle)."""


def models_root() -> Path:
    """models/ of the project, or TRIAGE_MODELS_DIR; read at call time so a service and its tests can point elsewhere."""
    return Path(os.environ.get("TRIAGE_MODELS_DIR") or PROJECT_ROOT / "models")


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The HEADLINE figures of an evaluate() result (None where the data had no such labels)."""
    out: dict[str, float | None] = {}
    for name, (head, key) in HEADLINE.items():
        value = metrics.get(head, {}).get(key) if isinstance(metrics.get(head), dict) else None
        out[name] = value
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Registry:
    """A view of registry.json under `root`; use `Registry.edit(root)` to change it."""

    def __init__(self, root: Path, data: dict[str, Any]) -> None:
        self.root = root
        self.data = data

    @classmethod
    def load(cls, root: str | Path | None = None) -> Registry:
        root = Path(root) if root is not None else models_root()
        path = root / REGISTRY_FILE
        if not path.is_file():
            return cls(root, {"format_version": FORMAT_VERSION, "current": None, "previous": None, "history": [], "versions": {}})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{path}: unreadable registry ({exc})") from exc
        return cls(root, data)

    @classmethod
    @contextlib.contextmanager
    def edit(cls, root: str | Path | None = None) -> Iterator[Registry]:
        """Lock, load, let the caller change it, save atomically; nothing is saved if the caller raises."""
        root = Path(root) if root is not None else models_root()
        root.mkdir(parents=True, exist_ok=True)
        with (root / ".registry.lock").open("w") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            registry = cls.load(root)
            yield registry
            registry.save()

    def save(self) -> None:
        path = self.root / REGISTRY_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, path)

    # --- reading ---

    @property
    def current(self) -> str | None:
        return self.data.get("current")

    @property
    def previous(self) -> str | None:
        return self.data.get("previous")

    @property
    def versions(self) -> dict[str, dict[str, Any]]:
        return self.data["versions"]

    def path_of(self, version: str) -> Path:
        if version not in self.versions:
            known = ", ".join(self.versions) or "none"
            raise RegistryError(f"no version {version!r} in {self.root / REGISTRY_FILE} (registered: {known})")
        path = Path(self.versions[version]["path"])
        return path if path.is_absolute() else self.root / path

    def current_path(self) -> Path | None:
        return self.path_of(self.current) if self.current else None

    # --- changing (inside `edit`) ---

    def register(self, bundle_dir: str | Path, **extra: Any) -> str:
        """Add a bundle (verified first) under its manifest's version; returns the version."""
        bundle_dir = Path(bundle_dir).resolve()
        manifest = verify_bundle(bundle_dir)
        version = str(manifest["version"])
        try:
            path = bundle_dir.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            path = str(bundle_dir)
        known = self.versions.get(version)
        if known is not None and self.path_of(version).resolve() != bundle_dir:
            raise RegistryError(f"version {version!r} is already registered at {known['path']}")
        metrics = manifest.get("metrics", {})
        training = manifest.get("training", {})
        self.versions[version] = {
            **(known or {}),  # promotion dates and retrain notes survive a re-registration
            "path": path,
            "created_at": manifest.get("created_at"),
            "registered_at": (known or {}).get("registered_at") or _now(),
            "git_revision": manifest.get("git_revision"),
            "train_rows": training.get("train_rows"),
            "data": training.get("data", {}),
            "metrics": headline(metrics.get("test") or metrics.get("dev") or metrics),  # the frozen split; older bundles: dev
            **extra,
        }
        return version

    def promote(self, version: str) -> None:
        """Make `version` current (its bundle verified first); the one it replaces becomes `previous`."""
        verify_bundle(self.path_of(version))
        if version == self.current:
            return
        history: list[str] = self.data.setdefault("history", [])
        history.append(version)
        self.data["previous"], self.data["current"] = self.current, version
        self.versions[version].setdefault("promoted_at", []).append(_now())

    def rollback(self) -> str:
        """Go back to the version promoted before the current one; returns it."""
        history: list[str] = self.data.setdefault("history", [])
        if len(history) < 2:
            raise RegistryError("nothing to roll back to: fewer than two promotions in the registry's history")
        dropped = history.pop()
        target = history[-1]
        verify_bundle(self.path_of(target))
        self.data["current"] = target
        self.data["previous"] = history[-2] if len(history) >= 2 else None
        self.versions[dropped].setdefault("rolled_back_at", []).append(_now())
        return target


def ensure_registered(bundle_dir: str | Path, root: str | Path | None = None) -> str:
    """Register a bundle and, when the registry has no current model yet, make it current."""
    with Registry.edit(root) as registry:
        version = registry.register(bundle_dir)
        if registry.current is None:
            registry.promote(version)
    return version
