"""Model bundles are code: a truncated or tampered bundle is refused and the previous model keeps serving;
with a deployment key, only bundles whose manifest that key signed are loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ModelHolder
from api.settings import Settings
from api.signing import deployment_key, sign_bundle, verify_signature
from triage.bundle import ARRAYS_FILE, CONFIG_FILE, MANIFEST, MODEL_FILE, load_bundle, sha256_file
from triage.errors import BundleError

KEY = b"k" * 32
OTHER = b"o" * 32


@pytest.fixture()
def copy(tmp_path: Path, default_bundle: Path):
    def _copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(default_bundle, target)
        return target

    return _copy


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rewrite_manifest(bundle: Path) -> None:
    """What an attacker with write access does: fix the checksums after changing a file."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    for name in manifest["files"]:
        manifest["files"][name] = sha256_file(bundle / name)
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def test_swap_refuses_truncated_and_tampered_bundles_and_keeps_serving(
    copy, default_bundle: Path, model_holder: ModelHolder, tmp_path: Path
) -> None:
    holder = ModelHolder(default_bundle)
    before = holder.current
    truncated = copy("truncated")
    _truncate(truncated / ARRAYS_FILE)
    with pytest.raises(BundleError, match="checksum mismatch"):
        holder.swap(truncated)
    tampered = copy("tampered")
    config = json.loads((tampered / CONFIG_FILE).read_text())
    config["refusal_threshold"] = 0.0
    (tampered / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(BundleError, match=r"config\.json: checksum mismatch"):
        holder.swap(tampered)
    smuggled = copy("smuggled")
    shutil.copyfile(smuggled / ARRAYS_FILE, smuggled / "extra.pkl")
    with pytest.raises(BundleError, match="unlisted code-bearing file"):
        holder.swap(smuggled)
    assert holder.current is before
    # and the service built on it still answers with the previous model
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}", home=tmp_path, model_dir=default_bundle)
    with TestClient(create_app(settings, model=holder)) as client:
        assert client.get("/healthz").json()["model"] == before.pipeline.version


def test_a_model_file_can_only_build_served_types_and_arrays_must_fit_the_layout(copy) -> None:
    """Even with the checksums fixed up (no signing key), `model.json` builds no object outside the served types,
    and an array file shorter than its layout is refused by name."""
    hostile = copy("hostile")
    document = json.loads((hostile / MODEL_FILE).read_text(encoding="utf-8"))
    document["model"]["dict"]["caller_state"] = {"object": "Popen", "fields": {"args": ["touch", "/tmp/pwned"]}}
    (hostile / MODEL_FILE).write_text(json.dumps(document), encoding="utf-8")
    _rewrite_manifest(hostile)
    with pytest.raises(BundleError, match=r"model\.json: describes a 'Popen', which is not a served type"):
        load_bundle(hostile)
    short = copy("short")
    _truncate(short / ARRAYS_FILE)
    _rewrite_manifest(short)
    with pytest.raises(BundleError, match=r"arrays\.bin: does not match its layout in model\.json"):
        load_bundle(short)


def test_signed_bundles_only_when_a_key_is_configured(copy) -> None:
    bundle = copy("signed")
    with pytest.raises(BundleError, match="not signed"):
        ModelHolder(bundle, signing_key=KEY)
    entry = sign_bundle(bundle, KEY)
    assert entry["algorithm"] == "hmac-sha256" and len(entry["value"]) == 64
    holder = ModelHolder(bundle, signing_key=KEY)  # the checksums still pass: the manifest is not among them
    assert holder.current.manifest["signature"] == entry
    with pytest.raises(BundleError, match="another key"):
        verify_signature(bundle, OTHER)

    # a changed file whose checksum was fixed up in the manifest: the signature no longer matches
    forged = copy("forged")
    sign_bundle(forged, KEY)
    _truncate(forged / ARRAYS_FILE)
    _rewrite_manifest(forged)
    with pytest.raises(BundleError, match="manifest changed after signing"):
        holder.swap(forged)
    assert holder.current.path == bundle

    # a bundle signed by someone else's key
    stranger = copy("stranger")
    sign_bundle(stranger, OTHER)
    with pytest.raises(BundleError, match="another key"):
        holder.swap(stranger)
    assert holder.current.path == bundle


def test_service_with_a_key_refuses_an_unsigned_model(copy, tmp_path: Path) -> None:
    bundle = copy("unsigned")
    key_file = tmp_path / "signing.key"
    key_file.write_text(KEY.decode() + "\n")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", home=tmp_path, model_dir=bundle, signing_key_file=key_file)
    assert deployment_key(settings) == KEY
    with pytest.raises(BundleError, match="not signed"), TestClient(create_app(settings)):
        pass
    sign_bundle(bundle, KEY)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
    with pytest.raises(ValueError, match="16 bytes"):
        deployment_key(Settings(signing_key="short", model_dir=bundle))


def test_triage_models_sign_signs_with_the_deployment_key(copy, monkeypatch) -> None:
    from typer.testing import CliRunner

    from training.cli import app

    bundle = copy("to-sign")
    monkeypatch.delenv("TRIAGE_SIGNING_KEY", raising=False)
    monkeypatch.delenv("TRIAGE_SIGNING_KEY_FILE", raising=False)
    refused = CliRunner().invoke(app, ["models", "sign", str(bundle)])
    assert refused.exit_code == 2 and "no signing key" in refused.output
    monkeypatch.setenv("TRIAGE_SIGNING_KEY", "a-deployment-key-of-some-length")
    signed = CliRunner().invoke(app, ["models", "sign", str(bundle)])
    assert signed.exit_code == 0, signed.output
    verify_signature(bundle, "a-deployment-key-of-some-length")
    with pytest.raises(BundleError):
        verify_signature(bundle, "another-key-entirely-different")
