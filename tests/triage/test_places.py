import pytest
import yaml

from triage.errors import DataFileError
from triage.places import default_gazetteer, load_gazetteer


@pytest.mark.parametrize(
    ("text", "district"),
    [
        ("岳麓区桐梓坡路那边下水道堵了", "岳麓区"),
        ("长沙火车站出站口黑车拉客", "芙蓉区"),
        ("开福区伍家岭那个菜市场很脏", "开福区"),
        ("星沙那边公交太少了", "长沙县"),
        ("浏阳市大瑶镇有个厂子排污", "浏阳市"),
        ("宁乡的灰汤那边路坏了", "宁乡县"),
        ("麓谷街道晚上渣土车很吵", "高新区"),
    ],
)
def test_a_place_in_the_call_resolves_to_its_district(text, district):
    assert default_gazetteer().locate(text).district == district


def test_the_problem_place_wins_over_where_the_caller_lives():
    location = default_gazetteer().locate("我住在岳麓区,但是我要反映开福区伍家岭那边的垃圾没人清")
    assert location.district == "开福区"
    assert "伍家岭" in location.places


def test_no_place_gives_no_district():
    assert default_gazetteer().locate("我想问一下养老保险怎么补缴").district is None


def test_gazetteer_names_every_district_and_many_places():
    gazetteer = default_gazetteer()
    assert len(gazetteer) >= 500
    assert gazetteer.district_of("橘子洲") == "岳麓区"


def _write(tmp_path, data):
    path = tmp_path / "places.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_place_under_two_districts_is_refused(tmp_path):
    data = {"version": 1, "districts": [{"name": "芙蓉区", "roads": ["人民路"]}, {"name": "雨花区", "roads": ["人民路"]}]}
    with pytest.raises(DataFileError, match=r"entry '人民路': listed under both 芙蓉区 and 雨花区"):
        load_gazetteer(_write(tmp_path, data))


def test_an_unknown_district_is_refused(tmp_path):
    data = {"version": 1, "districts": [{"name": "朝阳区", "roads": ["建国路"]}]}
    with pytest.raises(DataFileError, match="entry '朝阳区': unknown district"):
        load_gazetteer(_write(tmp_path, data))


def test_a_malformed_entry_is_refused(tmp_path):
    data = {"version": 1, "districts": [{"name": "芙蓉区", "roadz": ["人民路"]}]}
    with pytest.raises(DataFileError, match=r"芙蓉区 \(roadz\)"):
        load_gazetteer(_write(tmp_path, data))


def _longest_match_scan(gazetteer, text):
    """The plain scanner `find` replaced: at each position try every name length, longest first."""
    names = set(gazetteer.names())
    lengths = sorted({len(n) for n in names}, reverse=True)
    found, i = [], 0
    while i < len(text):
        for length in lengths:
            if text[i : i + length] in names:
                found.append((text[i : i + length], i))
                i += length - 1
                break
        i += 1
    return found


@pytest.mark.parametrize(
    "text",
    [
        "我住在岳麓区,但是我要反映开福区伍家岭那边的垃圾没人清",
        "长沙火车站出站口到五一广场再到芙蓉中路三段都堵",
        "岳麓区岳麓区岳麓区麓谷街道麓谷",
        "没有地名的一句话",
        "伍家岭",
    ],
)
def test_find_takes_the_longest_name_at_each_position_without_overlaps(text):
    gazetteer = default_gazetteer()
    assert [(m.place.name, m.start) for m in gazetteer.find(text)] == _longest_match_scan(gazetteer, text)
