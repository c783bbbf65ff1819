import json
import shutil

import pytest

from triage.bundle import load_bundle, verify_bundle
from triage.errors import BundleError


def test_a_bundle_is_an_auditable_folder(default_bundle):
    manifest = json.loads((default_bundle / "manifest.json").read_text(encoding="utf-8"))
    assert {"classifier.pkl", "arrays.bin", "config.json", "README.md", "training_args.json", "knowledge/units.yaml"} <= set(manifest["files"])
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
    again = load_bundle(copy)
    text = "岳麓区麓山南路有人占道经营"
    assert again.suggest(text).model_dump() == pipeline.suggest(text).model_dump()


def test_an_older_bundle_format_names_its_version_and_the_command_that_rebuilds_it(copy):
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 1
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match=r"bundle format 1 is not 2.*triage train --config .*training_args\.json"):
        load_bundle(copy)


def test_the_weights_are_mapped_read_only_not_copied_into_each_process(copy):
    pipeline = load_bundle(copy)
    idf = pipeline.classifier.featurizer_.chars_.idf_
    assert not idf.flags.writeable  # a view of arrays.bin: every worker that maps it shares the same pages
    assert pipeline.suggest("我想问一下住房公积金怎么提取").category.label
