"""The ensemble: weights chosen on validation, a bundle that carries its transformer, and serving from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from training import cli
from triage.bundle import TRANSFORMER_DIR, load_bundle, verify_bundle
from triage.classifiers.ensemble import align, choose_weights, mix
from triage.errors import BundleError

runner = CliRunner()
CLASSES = {"topic": ["交通运输", "城乡建设", "环境保护"]}


def one_hot(y: np.ndarray, k: int, sharp: float = 0.9) -> np.ndarray:
    out = np.full((len(y), k), (1 - sharp) / (k - 1))
    out[np.arange(len(y)), y] = sharp
    return out


def test_columns_are_matched_by_label_not_position() -> None:
    proba = np.array([[0.7, 0.2, 0.1]])
    aligned = align(proba, ["环境保护", "交通运输", "城乡建设"], CLASSES["topic"])
    assert aligned.tolist() == [[0.2, 0.1, 0.7]]
    mixed = mix({"topic": np.array([[1.0, 0.0, 0.0]])}, CLASSES, {"topic": proba}, {"topic": ["环境保护", "交通运输", "城乡建设"]}, {"topic": 0.5})
    assert np.allclose(mixed["topic"], [[0.6, 0.05, 0.35]])


def test_validation_picks_the_member_that_is_right() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    gold = {"topic": [CLASSES["topic"][k] for k in y]}
    right = {"topic": one_hot(y, 3)}
    noise = {"topic": rng.dirichlet(np.ones(3), 200)}
    weights, table = choose_weights(noise, CLASSES, right, CLASSES, gold)
    assert weights["topic"] == 1.0
    assert table["topic"]["grid"]["1.0"]["accuracy"] == 1.0
    weights, _ = choose_weights(right, CLASSES, noise, CLASSES, gold)
    assert weights["topic"] == 0.0


def test_too_few_validation_rows_choose_nothing() -> None:
    y = np.array([0, 1, 2])
    weights, table = choose_weights({"topic": one_hot(y, 3)}, CLASSES, {"topic": one_hot(y, 3)}, CLASSES, {"topic": ["交通运输", "城乡建设", "环境保护"]})
    assert weights == {} and table == {}


# -- a whole training run with a tiny encoder (skipped only where torch is not installed) ------------------------


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`triage pretrain` on the project's own calls, two steps of a one-layer encoder: a base to fine-tune."""
    pytest.importorskip("torch")
    from training.datasets import corpus_files

    out = tmp_path_factory.mktemp("base") / "charbert"
    corpus = [arg for path in corpus_files() for arg in ("--corpus", str(path))]
    result = runner.invoke(cli.app, [
        "pretrain", "--out", str(out), *corpus, "--no-shared", "--no-own", "--max-steps", "2", "--hidden-size", "32",
        "--layers", "1", "--heads", "2", "--max-length", "32", "--batch-size", "16",
    ])
    assert result.exit_code == 0, result.output
    assert f"--base-model {out}" in " ".join(result.stderr.split())
    return out


QUICK_ROWS = 800
"""Rows of the default preset these trainings draw: what they check is the bundle's shape, not its accuracy."""


def _train(tmp: Path, base: Path, model_type: str) -> Path:
    from training.args import DataArguments, ModelArguments, RunArguments, TrainingArguments
    from training.train import train

    run = RunArguments(
        DataArguments(preset="default", max_train_samples=QUICK_ROWS),
        ModelArguments(model_type=model_type, base_model=str(base), transformer_epochs=1, transformer_max_length=32,  # type: ignore[arg-type]
                       transformer_batch_size=32, transformer_learning_rate=1e-3),
        TrainingArguments(output_dir=str(tmp / model_type), version=f"tiny-{model_type}"),
    )
    bundle, _ = train(run)
    return bundle


@pytest.fixture(scope="module")
def transformer_bundle(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "transformer"
    result = runner.invoke(cli.app, [
        "train", "--model", "transformer", "--base-model", str(tiny_base), "--out", str(out), "--epochs", "1",
        "--max-length", "32", "--learning-rate", "1e-3", "--max-train-samples", str(QUICK_ROWS),
    ])
    assert result.exit_code == 0, result.output
    return out


def test_a_transformer_bundle_serves_its_int8_member_and_records_it(transformer_bundle: Path) -> None:
    bundle = transformer_bundle
    config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    assert config["members"] == ["linear", "transformer"]
    assert config["blend"] == {"category": 1.0, "topic": 1.0, "scope": 1.0}
    files = verify_bundle(bundle)["files"]
    assert f"{TRANSFORMER_DIR}/model.int8.onnx" in files and f"{TRANSFORMER_DIR}/heads.json" in files
    assert not any(name.startswith(f"{TRANSFORMER_DIR}/checkpoint") for name in files)
    pipeline = load_bundle(bundle)
    assert pipeline.transformer is not None and pipeline.transformer.backend == "onnx"
    text = "我家楼下的饭店油烟太大了，每天晚上都排到我家窗户里，我要投诉"
    suggestion = pipeline.suggest(text)
    from triage.normalise import normalise

    own = pipeline.transformer.predict_proba([normalise(text)])
    best = str(pipeline.transformer.classes_["category"][own["category"][0].argmax()])
    assert suggestion.category.label == best  # weight 1: the category is the transformer's
    assert len(suggestion.units) >= 3  # units still come from the linear model and the routing knowledge
    card = (bundle / "README.md").read_text(encoding="utf-8")
    assert "Mixed with a transformer fine-tuned from" in card


def test_an_ensemble_bundle_keeps_the_transformer_only_where_validation_wants_it(tiny_base: Path, tmp_path: Path) -> None:
    bundle = _train(tmp_path, tiny_base, "ensemble")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    members = manifest["training"]["transformer"]
    assert set(members["chosen_on_fold0"]) == {"category", "topic", "scope"}
    for head, info in members["chosen_on_fold0"].items():
        best = min(info["grid"].values(), key=lambda s: s["log_loss"])["log_loss"]
        assert info["grid"][str(members["weights"][head])]["log_loss"] == best
    config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    assert ("transformer" in config["members"]) == members["kept"] == any(w > 0 for w in members["weights"].values())
    assert members["onnx_parity"]["category"]["top1_agreement_fp32"] == 1.0
    load_bundle(bundle).suggest("公交车司机开车太猛，我要投诉")


def test_a_pipeline_with_a_transformer_runs_batches_in_worker_processes(transformer_bundle: Path) -> None:
    pipeline = load_bundle(transformer_bundle)
    texts = ["小区门口的路灯坏了好几天了", "公司拖欠工资三个月", "请问社保卡在哪里办理"] * 30
    alone = [s.category.label for s in pipeline.suggest_many(texts)]
    pipeline.n_jobs = 2
    try:
        assert [s.category.label for s in pipeline.suggest_many(texts)] == alone
    finally:
        pipeline.close()


def test_a_tampered_transformer_is_refused(transformer_bundle: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(transformer_bundle, tmp_path / "copy"))
    weights = bundle / TRANSFORMER_DIR / "model.int8.onnx"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(BundleError, match=r"model\.int8\.onnx"):
        load_bundle(bundle)


def test_transformer_models_need_a_base_model(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["train", "--model", "ensemble", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "needs --base-model" in result.output
    result = runner.invoke(cli.app, ["train", "--model", "bert", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "unknown model 'bert'" in result.output


def test_the_service_serves_a_transformer_bundle_and_says_so(transformer_bundle: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import ModelHolder
    from api.security import add_user
    from api.settings import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", home=tmp_path, model_dir=transformer_bundle),
                     model=ModelHolder(transformer_bundle))
    with TestClient(app) as client:
        with app.state.sessions() as session:
            _, token = add_user(session, "op", "operator")
        headers = {"Authorization": f"Bearer {token}"}
        model = client.get("/v1/model", headers=headers).json()
        assert model["members"] == ["linear", "transformer"]
        assert model["blend"] == {"category": 1.0, "topic": 1.0, "scope": 1.0}
        response = client.post("/v1/suggestions", json={"text": "小区门口的路灯坏了一个星期了，晚上很黑"}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == model["version"]
