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
