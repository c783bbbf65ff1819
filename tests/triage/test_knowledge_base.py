from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from training.bench_knowledge import DEV_FILE, predicted_contexts, read_phrasings, recall
from triage.errors import DataFileError
from triage.knowledge_base import (
    CLOSE_MATCH,
    CONSULTATION_SHARE,
    EVAL_FILE,
    KNOWLEDGE_FILE,
    QUESTION_SHARE,
    WRITTEN_CLOSE_MATCH,
    Answer,
    Context,
    InvalidEntryError,
    KnowledgeBase,
    KnowledgeEntry,
    load_knowledge_base,
    local_answer,
    with_answers,
)
from triage.labels import TOPICS
from triage.schemas import Alternative, Suggestion
from triage.units import LOCAL, default_catalogue

ORIGINAL = 175
"""Entries kb-0001..kb-0175: the held-out phrasings were written for these; later entries await theirs."""


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
    "basis": "《住房公积金管理条例》",
    "reviewed": "2026-11-30",
    "valid_until": "2027-11-30",
    "version": 1,
}


def _write(tmp_path: Path, entries: list[dict]) -> Path:
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "entries": entries}, allow_unicode=True), encoding="utf-8")
    return path


def _original(entry_id: str) -> bool:
    return int(entry_id.split("-")[1]) <= ORIGINAL


def test_the_project_knowledge_base_is_broad_and_checked(kb: KnowledgeBase):
    assert len(kb) >= 400
    catalogue = default_catalogue()
    assert all((e.unit in catalogue or e.unit == LOCAL) and e.topic in TOPICS and 5 <= len(e.variants) <= 12 for e in kb)  # callers ask in many ways
    # every unit that answers consultations (all but the districts and zones, which take matters by place)
    assert {u.name for u in catalogue if not u.is_local} <= {e.unit for e in kb}
    # each answer names what it rests on and when it must be checked again
    assert all(e.basis and e.valid_until and e.reviewed < e.valid_until for e in kb)
    assert all("《" in e.basis or e.basis.startswith(("本市", "长沙市")) for e in kb)  # a document, or the local policy
    assert len({_normal(e.question) for e in kb}) == len(kb)


def _normal(question: str) -> str:
    return "".join(ch for ch in question if ch.isalnum())


@pytest.mark.parametrize(
    "needed",
    [
        ("户口", "迁"),
        ("居住证",),
        ("低保",),
        ("特困",),
        ("临时救助",),
        ("残疾人", "补贴"),
        ("社保", "转移"),
        ("新生儿", "医保"),
        ("不动产",),
        ("个体户",),
        ("摆摊",),
        ("违停",),
        ("申诉",),
        ("报警回执",),
        ("案件", "进度"),
        ("公积金",),
        ("入学",),
        ("护照",),
        ("老年人",),
        ("殡葬",),
        ("结婚",),
        ("退役",),
    ],
)
def test_the_questions_citizens_ask_most_are_answered(kb: KnowledgeBase, needed: tuple[str, ...]):
    texts = [" ".join([e.question, *e.variants]) for e in kb]
    assert any(all(word in text for word in needed) for text in texts), needed


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
    """At most a loose match (the answer on neighbours' noise, kb-1195, barely reaches the floor): never one close
    enough to be offered to a call the category head reads as a complaint."""
    text = "喂，我要投诉，我们楼下那个烧烤摊每天晚上吵到凌晨两三点，音响开得震天响，根本睡不着觉"
    assert all(h.score < CLOSE_MATCH for h in kb.search(text, min_score=0.0))
    assert all(h.score < kb.min_score + 0.02 for h in kb.search(text, min_score=0.0))


def test_search_respects_k_and_threshold(kb: KnowledgeBase):
    text = "社保卡丢了怎么补办"
    assert len(kb.search(text, k=1)) == 1
    assert kb.search(text, k=0) == []
    assert kb.search(text, min_score=1.01) == []
    assert kb.search(text)[0].id == kb.search(text, k=5)[0].id


def test_the_held_out_phrasings_are_held_out(kb: KnowledgeBase):
    rows = read_phrasings(EVAL_FILE)
    assert len(rows) >= 300
    originals = [e for e in kb if _original(e.id)]
    assert len({r["answer_id"] for r in rows} & {e.id for e in originals}) >= 0.8 * len(originals)
    variants = {v for e in kb for v in e.variants}
    assert not any(r["text"] in variants for r in rows), "evaluation phrasings must not be indexed variants"
    assert not any(r["text"] in variants for r in read_phrasings(DEV_FILE))


def test_recall_on_the_held_out_phrasings(kb: KnowledgeBase, pipeline):
    """Regression floors, a little under what `python -m training.bench_knowledge` measures (the issue's goal
    is 0.95 with the heads). The phrasings written for the first 175 entries fare worst (0.906 with the heads
    on all entries, 0.949 among those 175 alone): later entries compete for them, some answering the call as
    well."""
    rows = read_phrasings(EVAL_FILE)
    contexts = predicted_contexts(pipeline, rows)
    words_only = recall(kb, rows)
    with_heads = recall(kb, rows, contexts)
    assert with_heads.at3 >= 0.89, f"recall@3 {with_heads.at3:.3f}, missed {with_heads.missed[:10]}"
    assert words_only.at3 >= 0.87, f"recall@3 {words_only.at3:.3f}, missed {words_only.missed[:10]}"
    first = [r for r in rows if _original(r["answer_id"])]
    assert recall(kb, first, contexts).at3 >= 0.88
    originals = KnowledgeBase([e for e in kb if _original(e.id)])
    assert recall(originals, first, contexts).at3 >= 0.93


def test_recall_on_the_development_phrasings(kb: KnowledgeBase):
    rows = read_phrasings(DEV_FILE)
    assert len(rows) >= 200 and {r["answer_id"] for r in rows if not _original(r["answer_id"])}
    assert recall(kb, rows).at3 >= 0.94


def test_the_predicted_unit_comes_first_when_scores_are_close(kb: KnowledgeBase):
    text = "我的证件丢了要补办，去哪里办"
    plain = kb.search(text, k=5, min_score=0.0)
    assert len({h.unit for h in plain}) > 1
    for unit in {h.unit for h in plain}:
        context = Context(units={unit: 0.95}, topics={})
        hits = kb.search(text, k=5, min_score=0.0, context=context)
        assert hits[0].unit == unit, (unit, [(h.unit, h.score) for h in hits])
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # a prediction lifts an answer by a part of its score: it never brings one the words do not ask for
    context = Context(units={"市气象局": 1.0}, topics={})
    assert all(h.unit != "市气象局" for h in kb.search("社保卡丢了怎么补办", k=3, min_score=0.0, context=context))


def test_a_named_unit_counts_like_a_predicted_one(kb: KnowledgeBase):
    assert kb.named_units("我去了派出所，又去了车管所，还问了公积金中心") == {
        "市公安局",
        "市交警支队",
        "市住房公积金管理中心",
    }
    assert kb.named_units("长沙市公安局交通警察支队") == {"市交警支队"}
    assert kb.named_units("我住在芙蓉区") == set()  # districts take matters by place, they are not named here


def test_with_answers_reranks_with_the_suggestion(kb: KnowledgeBase, pipeline):
    text = "我想问一下住房公积金怎么提取，租房子能不能取"
    suggestion = pipeline.suggest(text)
    answered = with_answers(suggestion, kb)
    if suggestion.category.label == "咨询":
        expected = kb.search(suggestion.text, 3, context=Context.of(suggestion))
        assert answered.answers == expected and answered.answers[0].unit == "市住房公积金管理中心"
    else:
        assert answered.answers == []
    complaint = pipeline.suggest("我要投诉，楼下烧烤店天天晚上吵到两三点，油烟也很大")
    assert with_answers(complaint, kb).answers == []


def test_a_question_in_a_complaints_words_gets_only_close_answers(kb: KnowledgeBase, pipeline):
    """The category head reads 投诉 in 这个算不算违法，派出所管不管: where it still gives 咨询 some probability, a close
    answer is offered and a loose one is not; where it gives 咨询 almost none, nothing is."""

    def as_complaint(text: str, consultation: float) -> Suggestion:
        suggestion = pipeline.suggest(text)
        category = suggestion.category.model_copy(update={
            "label": "投诉", "score": 1 - consultation, "alternatives": [Alternative(label="咨询", score=consultation)]})
        return suggestion.model_copy(update={"category": category})

    close = "我弟弟网贷逾期了，催收的天天打电话骚扰我们全家，还打到我单位，P了照片发到亲戚群里，这个算不算违法，派出所管不管"
    second, between, unlikely = (CONSULTATION_SHARE + 1) / 2, (QUESTION_SHARE + CONSULTATION_SHARE) / 2, QUESTION_SHARE / 2
    candidates = ["隔壁装修的把垃圾堆在楼道里一个礼拜了，这个能不能管", "楼上天天晚上拖椅子，吵得睡不着，这个能不能管一下",
                  "我们这条路的路灯晚上老是一闪一闪的，晚上黑得很"]

    def best(text: str) -> float:
        return kb.search(text, 1, min_score=0.0, context=Context.of(as_complaint(text, between)))[0].score

    # a complaint the base only loosely answers (which one depends on what the base holds)
    loose = next((t for t in candidates if kb.min_score <= best(t) < CLOSE_MATCH), None)
    assert loose is not None, "no candidate complaint is answered only loosely: add one"
    for text in (close, loose):
        hits = kb.search(text, 3, min_score=0.0, context=Context.of(as_complaint(text, between)))
        assert [a.id for a in with_answers(as_complaint(text, second), kb).answers] == [h.id for h in hits if h.score >= kb.min_score]
        assert [a.id for a in with_answers(as_complaint(text, between), kb).answers] == [h.id for h in hits if h.score >= CLOSE_MATCH]
        assert with_answers(as_complaint(text, unlikely), kb).answers == []
    letter = as_complaint(close, between).model_copy(update={"register_": "written"})  # a letter's answers score lower
    hits = kb.search(close, 3, min_score=0.0, context=Context.of(letter), spoken=False)
    assert [a.id for a in with_answers(letter, kb).answers] == [h.id for h in hits if h.score >= WRITTEN_CLOSE_MATCH]
    close_hits = with_answers(as_complaint(close, between), kb).answers
    assert close_hits and close_hits[0].unit == "市公安局"  # the police answer on debt collectors' harassment
    assert with_answers(as_complaint(loose, second), kb).answers and not with_answers(as_complaint(loose, between), kb).answers


def test_a_misheard_word_in_a_call_is_read_as_the_word_it_sounds_like(kb: KnowledgeBase):
    """A speech recogniser's 原助 (援助), 社宝卡 (社保卡), 医宝 (医保): words the index never saw, read as the index
    word with the same sounds and tones; a letter's words are left as written."""
    for heard, meant in [
        ("法律原助怎么申请，要么子材料", "法律援助怎么申请，要么子材料"),
        ("社宝卡丢了怎么补办", "社保卡丢了怎么补办"),
        ("住院医宝报销比例是多少", "住院医保报销比例是多少"),
    ]:
        intended = kb.search(meant, 3, min_score=0.0)
        spoken = kb.search(heard, 3, min_score=0.0)
        written = kb.search(heard, 3, min_score=0.0, spoken=False)
        assert {a.id for a in spoken[:2]} == {a.id for a in intended[:2]}  # the same two answers (segmented apart: 法律|援助)
        assert spoken[0].score > written[0].score + 0.05
    assert kb.search("车证怎么办", 3, min_score=0.0) == kb.search("车证怎么办", 3, min_score=0.0, spoken=False)  # 扯证 has other tones


LOCAL_ENTRIES = [
    {**GOOD, "id": "kb-0001", "question": "农村村民想在宅基地上建房，要办什么审批手续？", "variants": ["老家宅基地建房要批吗", "村里起屋要办么子手续"],
     "answer": "农村村民建房向村民委员会提出申请，经村民小组讨论、村委会审查后报乡镇人民政府（街道办事处）审批，批准后方可开工。",
     "unit": LOCAL, "topic": "城乡建设", "basis": "《中华人民共和国土地管理法》"},
    {**GOOD, "id": "kb-0002", "question": "城里自建房要办建设工程规划许可证吗？", "variants": ["自己建房子要办规划许可吗", "建房规划证在哪里办"],
     "answer": "在城镇规划区内建房需向自然资源和规划部门申请建设工程规划许可证，带身份证明、土地权属证明和设计图纸到政务服务窗口办理。",
     "unit": "市自然资源和规划局", "topic": "城乡建设", "basis": "《中华人民共和国城乡规划法》"},
]


def test_a_local_answer_is_the_callers_district_and_counts_when_a_district_is_likely(pipeline):
    """A 属地 answer (one the caller's 街道 or 乡镇 gives) is offered as the district the call is in, and a likely
    district lifts it as a likely department lifts its own answers."""
    kb = KnowledgeBase([KnowledgeEntry(**e) for e in LOCAL_ENTRIES])  # 属地 is no catalogue unit, yet allowed
    text = "我想自己建房子，要办什么手续"  # the words favour neither answer much
    local_first = kb.search(text, k=2, min_score=0.0, context=Context(units={"望城区": 0.9, "市自然资源和规划局": 0.1}, topics={}))
    city_first = kb.search(text, k=2, min_score=0.0, context=Context(units={"望城区": 0.1, "市自然资源和规划局": 0.9}, topics={}))
    assert [h.unit for h in local_first] == [LOCAL, "市自然资源和规划局"]
    assert [h.unit for h in city_first] == ["市自然资源和规划局", LOCAL]

    suggestion = pipeline.suggest("我是望城区书堂山街道的，" + text)
    consultation = suggestion.model_copy(update={"category": suggestion.category.model_copy(update={"label": "咨询"})})
    units = {a.unit for a in with_answers(consultation.model_copy(update={"district": "望城区"}), kb).answers}
    assert "望城区" in units and LOCAL not in units
    nowhere = {a.unit for a in with_answers(consultation.model_copy(update={"district": None}), kb).answers}
    assert LOCAL in nowhere  # where the call names no place, the answer says only that it is local
    city = local_first[1]
    assert local_answer(city, "望城区") == city  # a department's answer keeps its unit


def test_entries_past_their_review_date_are_listed(kb: KnowledgeBase):
    assert kb.overdue(date(2026, 12, 6)) == []
    latest = max(e.valid_until for e in kb)
    assert len(kb.overdue(latest + timedelta(days=1))) == len(kb)
    first = min(e.valid_until for e in kb)
    overdue = kb.overdue(first + timedelta(days=1))
    assert overdue and all(e.valid_until == first for e in overdue)
    assert [e.valid_until for e in kb.overdue(date(2030, 1, 1))] == sorted(e.valid_until for e in kb)


def test_an_answer_read_out_says_whether_it_is_past_its_review(kb: KnowledgeBase):
    question = "公积金怎么提取"
    current = kb.search(question, today=date(2026, 12, 6))
    later = kb.search(question, today=date(2099, 1, 1))
    assert current and not any(a.overdue for a in current) and all(a.valid_until for a in current)
    assert [a.id for a in later] == [a.id for a in current] and all(a.overdue for a in later)


def test_review_dates_default_to_a_year_and_move_with_each_review():
    entry = KnowledgeEntry.model_validate({k: v for k, v in GOOD.items() if k not in ("valid_until", "basis")})
    assert entry.basis is None and entry.valid_until == date(2027, 11, 30)
    assert not entry.is_overdue(date(2027, 11, 30)) and entry.is_overdue(date(2027, 12, 1))
    with pytest.raises(ValueError, match="valid_until"):
        KnowledgeEntry.model_validate({**GOOD, "valid_until": "2026-01-01"})

    kb = KnowledgeBase([KnowledgeEntry.model_validate({**GOOD, "valid_until": "2027-05-30"})])
    edited = kb.upsert({"id": "kb-0001", "answer": "职工租房、购房、离职或退休，可在网上服务大厅申请提取，咨询12329。"})
    assert edited.reviewed == date.today() and edited.valid_until == date.today() + timedelta(days=181)
    assert edited.basis == GOOD["basis"]  # fields not given are kept
    given = kb.upsert({"id": "kb-0001", "reviewed": "2026-12-01", "valid_until": "2027-03-01"})
    assert (given.reviewed, given.valid_until) == (date(2026, 12, 1), date(2027, 3, 1))


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

    no_basis = _write(tmp_path, [{k: v for k, v in GOOD.items() if k != "basis"}])
    with pytest.raises(DataFileError, match=r"kb-0001 \(basis\).*Field required"):
        load_knowledge_base(no_basis)

    no_review_date = _write(tmp_path, [{k: v for k, v in GOOD.items() if k != "valid_until"}])
    with pytest.raises(DataFileError, match=r"kb-0001 \(valid_until\)"):
        load_knowledge_base(no_review_date)

    same_question = _write(tmp_path, [GOOD, {**GOOD, "id": "kb-0002", "question": "住房公积金怎么提取"}])
    with pytest.raises(DataFileError, match=r"'kb-0002'.*duplicate question.*kb-0001"):
        load_knowledge_base(same_question)

    broken = tmp_path / "broken.yaml"
    broken.write_text("entries: [\n  - id: kb-0001\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="not valid YAML"):
        load_knowledge_base(broken)


def test_prepare_checks_and_versions_as_upsert_does_yet_stores_nothing(tmp_path: Path):
    """What the service writes to its database under the write lock: the version upsert would store, refused for
    the same reasons, while the knowledge base and its index stay as they were."""
    kb = KnowledgeBase([load_knowledge_base(_write(tmp_path, [GOOD])).get("kb-0001")])
    first = kb.get("kb-0001")
    edit = {"id": "kb-0001", "answer": "住房公积金提取可在线上办理，也可到公积金中心服务网点办理，带好身份证。"}
    prepared = kb.prepare(edit)
    assert (prepared.version, prepared.reviewed, prepared.answer) == (2, date.today(), edit["answer"])
    assert kb.get("kb-0001") == first and kb.history("kb-0001") == []
    assert kb.upsert(edit) == prepared
    with pytest.raises(InvalidEntryError, match="火星局"):
        kb.prepare({"question": "火星上怎么办居住证？", "answer": "这是一个不存在的单位给出的答案文本。", "unit": "火星局", "topic": TOPICS[0]})
    assert len(kb) == 1


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

    with pytest.raises(InvalidEntryError, match="unknown unit") as info:
        kb.upsert({"id": "kb-0002", "unit": "没有这个单位"})
    assert info.value.field == "unit" and "unit:" in str(info.value)
    with pytest.raises(InvalidEntryError, match="topic") as info:
        kb.upsert({"id": "kb-0002", "topic": "天文"})
    assert info.value.field == "topic"
    assert kb.get("kb-0002").version == 2  # a refused edit changes nothing


NEW = {
    "question": "公积金贷款怎么申请？",
    "answer": "带身份证和购房合同到公积金服务网点申请，咨询12329。",
    "unit": "市住房公积金管理中心",
    "topic": "劳动和社会保障",
}


@pytest.mark.parametrize(
    ("change", "field", "as_edit"),
    [
        ({"unit": "火星局"}, "unit", True),
        ({"answer": ""}, "answer", True),
        ({"answer": "   "}, "answer", True),
        ({"question": "住房公积金怎么提取"}, "question", False),  # kb-0001's question but for the punctuation
        ({"question": ""}, "question", True),
        ({"basis": ""}, "basis", True),
        ({"valid_until": "2020-01-01"}, "valid_until", True),
    ],
)
def test_a_bad_entry_or_edit_is_refused_naming_its_field(change: dict, field: str, as_edit: bool):
    kb = KnowledgeBase([KnowledgeEntry.model_validate(GOOD)])
    for changes in [{**NEW, **change}] + ([{"id": "kb-0001", **change}] if as_edit else []):
        with pytest.raises(InvalidEntryError) as info:
            kb.upsert(changes)
        assert info.value.field == field and f", {field}:" in str(info.value), str(info.value)
    assert list(kb) == [KnowledgeEntry.model_validate(GOOD)] and kb.history("kb-0001") == []


def test_an_entry_may_keep_its_own_question():
    kb = KnowledgeBase([KnowledgeEntry.model_validate(GOOD)])
    assert kb.upsert({"id": "kb-0001", "question": "住房公积金怎么提取"}).version == 2


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


def test_a_letter_is_answered_below_the_floor_a_call_needs(kb: KnowledgeBase, pipeline):
    """A long letter spreads its words, so its right answer scores lower than a call's: written text gets answers
    down to `WRITTEN_MIN_SCORE`, a call's transcript only from the knowledge base's own floor."""
    from triage.knowledge_base import WRITTEN_MIN_SCORE
    from triage.schemas import LabelPrediction

    letter = ("尊敬的领导您好，我在本市一家公司上班已经五年了，单位每个月都按时给我缴存住房公积金。今年我在外面租房子住，"
              "房租压力比较大，想了解一下像我这种没有买房的情况，能不能把公积金取出来付房租，需要准备哪些材料，到哪里去办理，谢谢。")
    consultation = {"category": LabelPrediction(label="咨询", score=0.9)}
    written = pipeline.suggest(letter, register="written").model_copy(update=consultation)
    spoken = pipeline.suggest(letter).model_copy(update=consultation)
    scores = [hit.score for hit in kb.search(written.text, 3, min_score=0.0, context=Context.of(written))]
    strict = KnowledgeBase(list(kb), min_score=(scores[0] + scores[-1]) / 2)  # a floor between the first and the last hit
    assert min(scores) >= WRITTEN_MIN_SCORE
    assert [a.score for a in with_answers(written, strict).answers] == scores  # all three: the written floor
    assert 0 < len(with_answers(spoken, strict).answers) < len(scores)  # the knowledge base's own, stricter floor
    assert with_answers(written, strict).answers[0].unit == "市住房公积金管理中心"
