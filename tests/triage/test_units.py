from pathlib import Path

import pytest
import yaml

from triage.errors import DataFileError
from triage.labels import DISTRICTS
from triage.resources import UNITS_FILE
from triage.units import canonical_district, default_catalogue, load_catalogue

REQUIRED = ["市公安局", "市城管局", "市交通运输局", "市住建委", "市工商局", "市人社局", "市环保局", "市消防支队", "物价局", "高新区"]


def test_catalogue_has_the_hotline_member_units():
    catalogue = default_catalogue()
    assert len(catalogue) >= 60
    for name in [*DISTRICTS, *REQUIRED]:
        assert name in catalogue
    kinds = {unit.kind for unit in catalogue}
    assert kinds == {"district", "zone", "department", "enterprise"}
    assert all(len(unit.duties) >= 5 for unit in catalogue)


def test_aliases_resolve_to_the_unit():
    catalogue = default_catalogue()
    assert catalogue.get("人社局").name == "市人社局"
    assert catalogue.resolve("没有这个单位") is None
    with pytest.raises(KeyError, match="没有这个单位"):
        catalogue.get("没有这个单位")


def _write(tmp_path: Path, units: list[dict]) -> Path:
    path = tmp_path / "units.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "units": units}, allow_unicode=True), encoding="utf-8")
    return path


GOOD = {"name": "市水务局", "aliases": ["水务局"], "kind": "department", "topics": ["城乡建设"], "duties": ["城市内涝"]}


def test_duplicate_unit_is_refused(tmp_path):
    with pytest.raises(DataFileError, match=r"units.yaml, entry '市水务局': duplicate unit"):
        load_catalogue(_write(tmp_path, [GOOD, GOOD]))


def test_unknown_topic_is_refused_with_the_entry(tmp_path):
    bad = {**GOOD, "topics": ["水利"]}
    with pytest.raises(DataFileError, match=r"市水务局 \(topics\).*unknown topic '水利'"):
        load_catalogue(_write(tmp_path, [bad]))


def test_malformed_entry_is_refused(tmp_path):
    bad = {k: v for k, v in GOOD.items() if k != "duties"}
    with pytest.raises(DataFileError, match=r"市水务局 \(duties\).*Field required"):
        load_catalogue(_write(tmp_path, [bad]))
    with pytest.raises(DataFileError, match="kind"):
        load_catalogue(_write(tmp_path, [{**GOOD, "kind": "bureau"}]))


def test_broken_yaml_names_the_line(tmp_path):
    path = tmp_path / "units.yaml"
    path.write_text("version: 1\nunits:\n  - name: [unclosed\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"units.yaml, line \d+: not valid YAML"):
        load_catalogue(path)


def test_the_shipped_file_is_the_default():
    assert default_catalogue().source == str(UNITS_FILE)


def test_ningxiang_is_named_as_since_2017_and_its_former_name_still_resolves():
    catalogue = default_catalogue()
    assert "宁乡市" in DISTRICTS and "宁乡县" not in DISTRICTS
    assert catalogue.get("宁乡县").name == catalogue.get("宁乡市").name == "宁乡市"
    assert catalogue.resolve("宁乡县人民政府") == "宁乡市"


def test_a_district_name_is_read_through_the_catalogue_aliases():
    assert canonical_district("宁乡县") == canonical_district(" 宁乡市 ") == "宁乡市"
    assert canonical_district("芙蓉区") == "芙蓉区"
    assert canonical_district("市公安局") is None  # a unit, not a district
    assert canonical_district("朝阳区") is None
