"""Signed model bundles: an HMAC-SHA256 of the manifest, by the deployment's key, before any file is used.

Why: a bundle decides where citizens' orders go (its weights, thresholds, rules and, for a transformer member,
PyTorch weights). The manifest's checksums catch a bundle truncated or changed after training, but anyone who can write a folder can also write a matching manifest. With a signing key
configured (`TRIAGE_SIGNING_KEY`, or `TRIAGE_SIGNING_KEY_FILE`), the service loads only bundles whose
manifest carries a valid signature by that key; since the manifest holds the SHA-256 of every file, the
signature covers the whole bundle. Without a key the checksums alone are checked, as before.

The signature lives in the manifest itself (`"signature": {"algorithm", "key_id", "value"}`) over a canonical
JSON of every other manifest field, so signing a bundle changes no file that the checksums cover.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from api.settings import Settings
from triage.bundle import MANIFEST, read_manifest
from triage.errors import BundleError

ALGORITHM = "hmac-sha256"
FIELD = "signature"


def _key_bytes(key: bytes | str) -> bytes:
    data = key.encode() if isinstance(key, str) else key
    if len(data) < 16:
        raise ValueError("a signing key needs at least 16 bytes (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)")
    return data


def key_id(key: bytes | str) -> str:
    """A short public fingerprint of the key, so a refusal can say which key signed a bundle."""
    return hashlib.sha256(b"triage-key-id:" + _key_bytes(key)).hexdigest()[:12]


def canonical(manifest: dict[str, Any]) -> bytes:
    """The bytes that are signed: every manifest field but the signature, in one stable JSON form."""
    body = {k: v for k, v in manifest.items() if k != FIELD}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def signature(manifest: dict[str, Any], key: bytes | str) -> str:
    return hmac.new(_key_bytes(key), canonical(manifest), hashlib.sha256).hexdigest()


def sign_bundle(bundle_dir: str | Path, key: bytes | str) -> dict[str, Any]:
    """Sign a bundle's manifest in place (atomically) and return the signature entry.

    Signs what the manifest says; run `triage.bundle.verify_bundle` first if the files might have changed.
    """
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    entry = {"algorithm": ALGORITHM, "key_id": key_id(key), "value": signature(manifest, key)}
    manifest[FIELD] = entry
    path = bundle_dir / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return entry


def verify_signature(bundle_dir: str | Path, key: bytes | str) -> dict[str, Any]:
    """Raise BundleError unless the manifest carries a valid signature by `key`; return the manifest."""
    manifest = read_manifest(bundle_dir)
    entry = manifest.get(FIELD)
    if not isinstance(entry, dict) or "value" not in entry:
        raise BundleError(f"{bundle_dir}: the bundle is not signed, and this deployment loads only signed bundles")
    if entry.get("algorithm") != ALGORITHM:
        raise BundleError(f"{bundle_dir}: signature algorithm {entry.get('algorithm')!r} is not {ALGORITHM}")
    if not hmac.compare_digest(str(entry["value"]), signature(manifest, key)):
        which = entry.get("key_id")
        mine = key_id(key)
        why = f"signed by another key ({which}, ours is {mine})" if which != mine else "the manifest changed after signing"
        raise BundleError(f"{bundle_dir}: invalid signature: {why}; refusing to load")
    return manifest


def deployment_key(settings: Settings) -> bytes | None:
    """The configured signing key (the setting, else the key file), or None when bundles need no signature."""
    if settings.signing_key is not None and settings.signing_key.get_secret_value():
        return _key_bytes(settings.signing_key.get_secret_value())
    if settings.signing_key_file is not None:
        try:
            return _key_bytes(settings.signing_key_file.read_bytes().strip())
        except OSError as exc:
            raise BundleError(f"{settings.signing_key_file}: cannot read the signing key ({exc})") from exc
    return None
