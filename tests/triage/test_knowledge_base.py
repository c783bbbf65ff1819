from datetime import date
from pathlib import Path

import pytest
import yaml

from training.bench_knowledge import read_phrasings, recall
from triage.errors import DataFileError
from triage.knowledge_base import (
    EVAL_FILE,
    KNOWLEDGE_FILE,
    Answer,
    InvalidEntryError,
    KnowledgeBase,
    load_knowledge_base,
)
from triage.labels import TOPICS
from triage.units import default_catalogue


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


GOOD = {
    "id": "kb-0001",
    "question": "住房公积金怎么提取？",
    "variants": ["公积金怎么取出来", "租房能取公积金吗"],
    "answer": "职工租房、购房、离职或退休，可通过公积金中心网上服务大厅或服务网点申请提取，咨询12329。",
    "unit": "市住房公积金管理中心",
    "topic": "劳动和社会保障",
    "reviewed": "2026-11-30",
    "version": 1,
}


def _write(tmp_path: Path, entries: list[dict]) -> Path:
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "entries": entries}, allow_unicode=True), encoding="utf-8")
    return path


def test_the_project_knowledge_base_is_broad_and_checked(kb: KnowledgeBase):
    assert len(kb) >= 160
    catalogue = default_catalogue()
    assert all(e.unit in catalogue and e.topic in TOPICS and 3 <= len(e.variants) <= 6 for e in kb)
    assert len({e.unit for e in kb}) >= 20


@pytest.mark.parametrize(
    ("text", "expected_words"),
    [
        ("喂你好，我想问一下，我辞职了准备回老家，在长沙交的住房公积金怎么才能取出来", "公积金"),
        ("嗯，那个我家宝宝上个礼拜出生的，户口要去哪里上，要带什么", "户口"),
        ("我驾照明年就到期了，是不是可以在手机上直接换", "驾驶证"),
    ],
)
def test_a_consultation_finds_its_answer_in_the_top_three(kb: KnowledgeBase, text: str, expected_words: str):
    hits = kb.search(text)
    assert 1 <= len(hits) <= 3
    assert all(isinstance(h, Answer) and 0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert any(expected_words in h.question for h in hits), [h.question for h in hits]


def test_a_complaint_about_noise_gets_no_confident_answer(kb: KnowledgeBase):
    text = "喂，我要投诉，我们楼下那个烧烤摊每天晚上吵到凌晨两三点，音响开得震天响，根本睡不着觉"
    assert kb.search(text) == []
    assert all(h.score < kb.min_score for h in kb.search(text, min_score=0.0))


def test_search_respects_k_and_threshold(kb: KnowledgeBase):
    text = "社保卡丢了怎么补办"
    assert len(kb.search(text, k=1)) == 1
    assert kb.search(text, k=0) == []
    assert kb.search(text, min_score=1.01) == []
    assert kb.search(text)[0].id == kb.search(text, k=5)[0].id


def test_recall_at_3_on_the_held_out_phrasings_meets_the_goal(kb: KnowledgeBase):
    rows = read_phrasings(EVAL_FILE)
    assert len(rows) >= 300
    assert len({r["answer_id"] for r in rows}) >= 0.8 * len(kb)
    variants = {v for e in kb for v in e.variants}
    assert not any(r["text"] in variants for r in rows), "evaluation phrasings must not be indexed variants"
    result = recall(kb, rows)
    assert result.at3 >= 0.90, f"recall@3 {result.at3:.3f}, missed {result.missed[:10]}"


def test_bad_files_are_refused_naming_file_and_entry(tmp_path: Path):
    duplicate = _write(tmp_path, [GOOD, {**GOOD, "question": "另一个问题是什么？"}])
    with pytest.raises(DataFileError, match=r"answers\.yaml.*'kb-0001'.*duplicate id"):
        load_knowledge_base(duplicate)

    unknown_unit = _write(tmp_path, [{**GOOD, "id": "kb-0007", "unit": "市月球局"}])
    with pytest.raises(DataFileError, match=r"'kb-0007'.*unknown unit '市月球局'"):
        load_knowledge_base(unknown_unit)

    alias = _write(tmp_path, [{**GOOD, "unit": "人社局"}])
    with pytest.raises(DataFileError, match="the catalogue calls it '市人社局'"):
        load_knowledge_base(alias)

    unknown_topic = _write(tmp_path, [GOOD, {**GOOD, "id": "kb-0002", "topic": "天文"}])
    with pytest.raises(DataFileError, match=r"kb-0002 \(topic\).*unknown topic '天文'") as info:
        load_knowledge_base(unknown_topic)
    assert info.value.entry == "kb-0002 (topic)"

    missing = _write(tmp_path, [{k: v for k, v in GOOD.items() if k != "answer"}])
    with pytest.raises(DataFileError, match=r"kb-0001 \(answer\)"):
        load_knowledge_base(missing)

    broken = tmp_path / "broken.yaml"
    broken.write_text("entries: [\n  - id: kb-0001\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="not valid YAML"):
        load_knowledge_base(broken)


def test_upsert_adds_and_edits_with_versions_and_is_searchable_at_once(tmp_path: Path):
    kb = KnowledgeBase([load_knowledge_base(_write(tmp_path, [GOOD])).get("kb-0001")])
    text = "我想问一下，家里的大金毛要不要去打那个狂犬疫苗，在哪里打"
    assert all(h.id != "kb-0002" for h in kb.search(text, min_score=0.0))

    added = kb.upsert(
        {
            "question": "犬只狂犬疫苗在哪里接种？",
            "variants": ["狗狗打狂犬疫苗", "狂犬疫苗去哪里打"],
            "answer": "犬只狂犬病免疫可到动物诊疗机构或指定免疫点接种，凭免疫证明办理养犬登记。",
            "unit": "市农业农村局",
            "topic": "城乡建设",
        }
    )
    assert (added.id, added.version, added.reviewed) == ("kb-0002", 1, date.today())
    assert kb.search(text)[0].id == "kb-0002"

    edited = kb.upsert(
        {
            "id": "kb-0002",
            "answer": "到动物诊疗机构为犬只接种狂犬疫苗，每年加强一次，凭证明办理养犬登记。",
            "version": 99,
        }
    )
    assert edited.version == 2
    assert edited.question == added.question  # fields not given are kept
    assert kb.get("kb-0002") == edited
    assert [e.version for e in kb.history("kb-0002")] == [1]
    assert kb.history("kb-0001") == []

    with pytest.raises(InvalidEntryError, match="unknown unit"):
        kb.upsert({"id": "kb-0002", "unit": "没有这个单位"})
    with pytest.raises(InvalidEntryError, match="topic"):
        kb.upsert({"id": "kb-0002", "topic": "天文"})
    assert kb.get("kb-0002").version == 2  # a refused edit changes nothing


def test_save_and_load_round_trip(tmp_path: Path, kb: KnowledgeBase):
    copy = KnowledgeBase(list(kb))
    copy.upsert({"id": "kb-0001", "variants": ["没有单位怎么交养老保险", "个人交社保"]})
    path = copy.save(tmp_path / "knowledge" / "answers.yaml")
    assert not [p for p in path.parent.iterdir() if p.name != "answers.yaml"]  # no temporary file left
    loaded = load_knowledge_base(path)
    assert list(loaded) == list(copy)
    assert loaded.get("kb-0001").version == 2
    assert [h.id for h in loaded.search("没有单位怎么交养老保险")] == [
        h.id for h in copy.search("没有单位怎么交养老保险")
    ]


def test_the_shipped_file_round_trips_unchanged(tmp_path: Path, kb: KnowledgeBase):
    saved = kb.save(tmp_path / "answers.yaml")
    assert yaml.safe_load(saved.read_text(encoding="utf-8")) == yaml.safe_load(
        KNOWLEDGE_FILE.read_text(encoding="utf-8")
    )
