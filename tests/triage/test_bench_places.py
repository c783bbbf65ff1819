"""The place benchmark's own parts: homophone variants from a fixed seed, and the figures it reports."""

from pypinyin import Style, lazy_pinyin

from training.bench_places import Item, homophone_variants, report, score
from triage.places import default_gazetteer

CALLS = [
    Item("t1", "我们伍家岭那个菜市场门口天天有人摆摊", "开福区"),
    Item("t2", "王者荣耀充值被骗了", None),
    Item("t3", "梅溪湖那边一个工地晚上施工", "岳麓区"),
    Item("t4", "我住在天心区,反映一下伍家岭那边的路灯", "开福区"),
]


def test_a_variant_replaces_one_character_of_the_deciding_place_by_one_of_the_same_pinyin():
    gazetteer = default_gazetteer()
    variants = homophone_variants([c for c in CALLS if c.district], gazetteer, seed=20)
    assert [v.id for v in variants] == ["t1", "t3", "t4"]
    for variant in variants:
        name, heard = variant.place.split("→")
        assert len(name) == len(heard) and sum(a != b for a, b in zip(name, heard, strict=True)) == 1
        assert lazy_pinyin(name, style=Style.NORMAL) == lazy_pinyin(heard, style=Style.NORMAL)
        assert name not in variant.text and heard in variant.text
    assert variants == homophone_variants([c for c in CALLS if c.district], gazetteer, seed=20)


def test_the_score_counts_right_empty_and_wrong_and_how_each_was_decided():
    gazetteer = default_gazetteer()
    calls = [c for c in CALLS if c.district] + [Item("t5", "我想问一下公积金怎么提取", "雨花区")]
    result, misses = score(gazetteer.locate, calls)
    assert (result.n, result.right, result.empty, result.wrong) == (4, 3, 1, 0)
    assert (result.exact_n, result.sound_n) == (3, 0)
    assert [item.id for item, _ in misses] == ["t5"]
    heard, _ = score(gazetteer.locate, [Item("v1", "我们五家岭那个菜市场门口天天有人摆摊", "开福区")])
    assert (heard.right, heard.sound_n, heard.sound_right) == (1, 1, 1)
    assert heard.p50_ms < 5
    text = report({s: {"calls": result, "homophones": heard, "no_district": (1, 0, 0)} for s in ("pool", "test")})
    assert "training pool:" in text and "frozen test split:" in text and "by sound: 1 decided, 1 right" in text
