import numpy as np

from triage.places import Location, default_gazetteer
from triage.routing import UnitRanker
from triage.units import Catalogue, Unit, default_catalogue

CALLS = [
    "开福区伍家岭那边有个小区门口天天占道经营，摆摊的把路都堵死了",
    "我想问一下住房公积金提取和公积金贷款怎么办理",
    "举报一个非法集资的，还有治安问题，派出所不管",
    "这个月停水三次了，水压也不够",
    "没有任何职责词的一句话",
]


def test_duty_hits_are_every_listed_phrase_found_longest_first_in_list_order():
    ranker = UnitRanker(default_catalogue())
    for text in CALLS:
        expected = [
            [d for d in sorted(dict.fromkeys(unit.duties), key=len, reverse=True) if d in text] for unit in ranker.units
        ]
        assert ranker._duty_hits(text) == expected


def test_one_character_duties_are_found_too():
    units = [
        Unit(name="甲单位", kind="department", topics=("城乡建设",), duties=("路", "占道经营")),
        Unit(name="乙单位", kind="department", topics=("环境保护",), duties=("噪音扰民",)),
    ]
    ranker = UnitRanker(Catalogue(units))
    assert ranker._duty_hits("门口占道经营，路堵了") == [["占道经营", "路"], []]


def test_evidence_from_label_mappings_equals_evidence_from_arrays():
    ranker = UnitRanker(default_catalogue())
    rng = np.random.default_rng(0)
    similarity = rng.random(len(ranker.units))
    topic = dict(zip(ranker.topics, rng.dirichlet(np.ones(len(ranker.topics))).tolist(), strict=True))
    unit = {name: 0.01 for name in ranker.names[:20]} | {"不在目录里的单位": 0.5}
    location = default_gazetteer().locate(CALLS[0])
    a = ranker.evidence(CALLS[0], location=location, similarity=similarity, topic_proba=topic, unit_proba=unit)
    model = np.array([unit.get(name, 0.0) for name in ranker.names])
    b = ranker.evidence_arrays(
        CALLS[0], location=location, similarity=similarity, topic_p=np.array(list(topic.values())), model=model
    )
    assert ranker.rank_evidence(a) == ranker.rank_evidence(b)
    bare = ranker.evidence(CALLS[1], location=Location(None), similarity=similarity)
    assert all(not any(w.startswith("主题") for w in u.why) for u in ranker.rank_evidence(bare))


def _evidence(ranker: UnitRanker, text: str, local: float):
    location = default_gazetteer().locate(text)
    return ranker.evidence_arrays(text, location=location, similarity=np.zeros(len(ranker.units)), local=local)


def test_the_local_mass_goes_to_the_district_of_the_place_or_the_zone_named() -> None:
    ranker = UnitRanker(default_catalogue())
    [top, *_] = ranker.rank_evidence(_evidence(ranker, "开福区伍家岭那边小区门口占道经营", local=0.8))
    assert (top.name, top.local, top.placed) == ("开福区", True, True)
    assert any(w.startswith("属地：问题发生在开福区") for w in top.why)
    [top, *_] = ranker.rank_evidence(_evidence(ranker, "星沙经开区漓湘路那边园区的路灯一直不亮", local=0.8))
    assert (top.name, top.placed) == ("经开区", True)  # the zone the caller names takes it, not its district


def test_a_local_matter_without_a_place_is_one_candidate_that_says_the_district_is_unknown() -> None:
    ranker = UnitRanker(default_catalogue())
    ranked = ranker.rank_evidence(_evidence(ranker, "我们小区物业乱收费还不公示", local=0.8), top_k=5)
    local = [u for u in ranked if u.local]
    assert local[0] is ranked[0] and local[0].placed is False
    assert "属地事项：未能确定问题发生的区县，请核实地点后派单" in local[0].why
    assert sum(u.score for u in local[1:]) < 0.1  # the other districts do not crowd the list


def test_a_place_in_ningxiang_goes_to_its_unit_under_either_name_of_the_catalogue() -> None:
    """宁乡县 became 宁乡市 in 2017; a bundle's catalogue from before the rename still gets the matter."""
    for name, alias in (("宁乡市", "宁乡县"), ("宁乡县", "宁乡市")):
        units = [
            Unit(name=name, aliases=(alias,), kind="district", topics=("城乡建设",), duties=("占道经营",)),
            Unit(name="市城管局", kind="department", topics=("城乡建设",), duties=("渣土车",)),
        ]
        ranker = UnitRanker(Catalogue(units))
        [top, *_] = ranker.rank_evidence(_evidence(ranker, "宁乡玉潭街道那边小区门口占道经营", local=0.8))
        assert (top.name, top.local, top.placed) == (name, True, True)
