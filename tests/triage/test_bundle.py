import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from triage.bundle import load_bundle, verify_bundle
from triage.errors import BundleError


def test_a_bundle_is_an_auditable_folder(default_bundle):
    manifest = json.loads((default_bundle / "manifest.json").read_text(encoding="utf-8"))
    assert {"model.json", "arrays.bin", "config.json", "README.md", "training_args.json", "knowledge/units.yaml"} <= set(manifest["files"])
    assert manifest["training"]["data"]["own_corpus"]["train"]["sha256"]
    assert manifest["metrics"]["test"]["category"]["accuracy"] > 0
    assert manifest["packages"]["scikit-learn"]
    assert set(manifest["labels"]) >= {"category", "topic", "scope", "unit"}
    card = (default_bundle / "README.md").read_text(encoding="utf-8")
    assert "frozen test split" in card and "When a field is auto" in card


@pytest.fixture()
def copy(default_bundle, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(default_bundle, target)
    return target


def test_a_tampered_file_is_refused_by_name(copy):
    with (copy / "arrays.bin").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match=r"arrays.bin: checksum mismatch"):
        load_bundle(copy)


def test_a_tampered_file_that_breaks_loading_is_still_refused_for_its_checksum(copy, default_bundle):
    """The pipeline is built while the checksums run on the other core: what a tampered file breaks on the way
    must not hide that it was tampered with."""
    document = json.loads((copy / "model.json").read_text(encoding="utf-8"))
    document["model"]["dict"]["caller_state"] = {"object": "Popen", "fields": {"args": ["true"]}}
    (copy / "model.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(BundleError, match=r"model\.json: checksum mismatch"):
        load_bundle(copy)
    shutil.copyfile(default_bundle / "model.json", copy / "model.json")
    (copy / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError, match=r"config\.json: checksum mismatch"):
        load_bundle(copy)


def test_a_truncated_knowledge_file_is_refused(copy):
    path = copy / "knowledge" / "rules.yaml"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BundleError, match=r"rules.yaml: checksum mismatch"):
        verify_bundle(copy)


def test_an_unlisted_pickle_is_refused(copy):
    (copy / "extra.joblib").write_bytes(b"not listed")
    with pytest.raises(BundleError, match=r"unlisted code-bearing file extra\.joblib"):
        load_bundle(copy)


def test_a_folder_without_manifest_is_not_a_model(tmp_path):
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match="no such model folder"):
        load_bundle(tmp_path / "missing")


def test_a_loaded_bundle_predicts_like_the_original(pipeline, copy):
    """The bundle serves the compiled model; training built the estimators: the same suggestions, to the bit."""
    again = load_bundle(copy)
    assert type(again.classifier).__name__ == "CompiledClassifier"
    texts = [
        "岳麓区麓山南路有人占道经营",
        "救命啊楼下着火了快点来人",
        "我想问一下住房公积金怎么提取 就是 那个 离职了能不能取",
        "你们到底管不管！第三次打了，小区门口烧烤店每天晚上十一点后还在吵，我要找媒体曝光",
        "Hello  我 想  投诉 302路公交车 司机 态度 很差" * 3,
    ]
    for register in ("spoken", "written"):
        served = [s.model_dump() for s in again.suggest_many(texts, register=register)]
        trained = [s.model_dump() for s in pipeline.suggest_many(texts, register=register)]
        for row in (*served, *trained):
            row["deadline"].pop("due_at")
        assert served == trained


def test_serving_imports_no_scikit_learn(copy):
    """Loading a bundle and suggesting must not import scikit-learn: its import alone costs over half a second."""
    script = (
        "import sys; from triage.bundle import load_bundle; "
        f"p = load_bundle({str(copy)!r}); p.suggest('我想问一下住房公积金怎么提取'); "
        "print(sorted(m for m in sys.modules if m == 'sklearn' or m.startswith('sklearn.')))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_an_older_bundle_format_names_its_version_and_the_command_that_rebuilds_it(copy):
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 1
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match=r"bundle format 1 is not 3.*triage train --config .*training_args\.json"):
        load_bundle(copy)


def test_the_weights_are_mapped_read_only_not_copied_into_each_process(copy):
    pipeline = load_bundle(copy)
    idf = pipeline.classifier.featurizer_.chars.idf
    assert not idf.flags.writeable  # a view of arrays.bin: every worker that maps it shares the same pages
    assert pipeline.suggest("我想问一下住房公积金怎么提取").category.label


def test_a_bundle_keeps_its_word_token_ids_and_a_large_batch_finds_the_same_features(default_bundle, monkeypatch):
    """The word vocabulary's token ids and packed n-grams are stored with the model (`CompiledTfidf.tokens`), so a
    large batch needs no table built at load; its features are those a bundle without them finds as strings."""
    import numpy as np

    from triage.classifiers import compiled

    words = load_bundle(default_bundle).classifier.featurizer.words
    assert words.tokens is not None and len(words.ngram_keys) == words.ngram_range[1] - words.ngram_range[0] + 1
    assert all(np.all(np.diff(keys) > 0) for keys in words.ngram_keys)  # sorted, each n-gram once
    texts = ["喂你好，我们小区门口的路灯坏了好几天了，晚上黑漆漆的", "我想问一下公积金怎么提取", "", "ＡＢＣ 123"]
    monkeypatch.setattr(compiled, "HASH_FROM", 1)
    legacy = compiled.CompiledTfidf("word", words.ngram_range, words.n_features, words.idf, terms=words.terms)
    assert (words.transform(texts) != legacy.transform(texts)).nnz == 0 and words._table is not None and legacy._table is None
