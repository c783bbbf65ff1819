import json

import pytest

from training.datasets import (
    LOW_CONFIDENCE_WEIGHT,
    STATES_BLIND,
    STATES_BLIND_2,
    STATES_WRITTEN,
    caller_state_rows,
    corpus_split,
    is_dev,
    is_test,
    merge_labels,
    own_corpus,
    probe_files,
    read_labelled,
    read_states,
    split,
)
from triage.errors import DataFileError
from triage.units import default_catalogue, load_catalogue


def test_bad_lines_are_reported_by_number_and_good_lines_kept(write_jsonl):
    path = write_jsonl(
        [
            {"id": "ok-1", "text": "小区停水三天了", "category": "求助", "topic": "公共事业"},
            "[1, 2, 3]",
            "{not json",
            {"id": "no-text", "category": "咨询"},
            {"id": "empty", "text": "   "},
            {"id": "latin", "text": "no chinese here"},
            b"\xff\xfe broken bytes",
            {"id": "bad-label", "text": "路灯坏了", "category": "抱怨"},
            {"id": "ok-2", "text": "公交车甩站", "topic": "交通运输", "unit": "公交公司不存在"},
        ]
    )
    data = read_labelled(path, catalogue=default_catalogue())
    assert [r.id for r in data.records] == ["ok-1", "ok-2"]
    problems = "\n".join(data.problems)
    assert f"{path}:2: expected a JSON object, got list" in problems
    assert f"{path}:3: not valid JSON" in problems
    assert f"{path}:4: no `text` field" in problems
    assert f"{path}:5: `text`: transcript is empty" in problems
    assert f"{path}:6: `text`: transcript contains no Chinese" in problems
    assert f"{path}:7: not valid UTF-8" in problems
    assert f"{path}:8: unknown category '抱怨'" in problems
    assert f"{path}:9: unit '公交公司不存在' is not in the catalogue" in problems
    assert data.records[1].labels == {"topic": "交通运输"}


def test_csv_with_a_text_column(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("id,text,category,unit\n1,路灯坏了好几天,求助,人社局\n2,工资拖欠,,\n", encoding="utf-8")
    data = read_labelled(path, catalogue=default_catalogue())
    assert [r.labels for r in data.records] == [{"category": "求助", "unit": "市人社局"}, {}]


def test_csv_without_text_column_is_refused(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("id,body\n1,路灯坏了\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="`text` column"):
        read_labelled(path)


def test_domain_is_read_as_topic_and_extra_labels_merge_by_id(write_jsonl, tmp_path):
    data = read_labelled(write_jsonl([{"id": "m1", "text": "学校乱收费", "domain": "教育文体"}]))
    labels = write_jsonl([{"id": "m1", "category": "投诉"}, {"id": "other", "category": "咨询"}], name="labels.jsonl")
    assert merge_labels(data, labels) == 1
    assert data.records[0].labels == {"topic": "教育文体", "category": "投诉"}


def test_split_is_deterministic_and_disjoint():
    data = own_corpus()
    train, dev = split(data, 0.2)
    assert len(train) + len(dev) == len(data)
    assert not {r.id for r in train.records} & {r.id for r in dev.records}
    assert 0.1 < len(dev) / len(data) < 0.3
    assert [is_dev(r.id, 0.2) for r in data.records] == [is_dev(r.id, 0.2) for r in data.records]


def test_own_corpus_covers_every_label():
    data = own_corpus(default_catalogue())
    assert not data.problems
    assert len(data) >= 600
    assert len(data.counts("category")) == 7
    assert len(data.counts("scope")) == 10
    assert len(data.counts("district")) == 10


def test_acceptable_units_from_jsonl_lists_and_csv_text(write_jsonl, tmp_path):
    """`units_ok` lists every unit a dispatcher would accept; `unit` is its first, given or not."""
    path = write_jsonl(
        [
            {"id": "j1", "text": "伍家岭小区门口占道经营", "units_ok": ["开福区", "城管局"]},
            {"id": "j2", "text": "小区物业乱收费", "unit": "市房产局", "units_ok": ["属地", "市房产局"]},
        ]
    )
    data = read_labelled(path, catalogue=default_catalogue())
    assert [(r.label("unit"), r.units_ok) for r in data.records] == [
        ("开福区", ("开福区", "市城管局")),  # an alias resolves to the catalogue name
        ("市房产局", ("市房产局", "属地")),  # the named best unit goes first
    ]
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text("id,text,units_ok\nc1,公交车甩站,长沙公交集团;市交通运输局\n", encoding="utf-8")
    [row] = read_labelled(csv_path, catalogue=default_catalogue()).records
    assert row.acceptable_units() == ("长沙公交集团", "市交通运输局") and row.label("unit") == "长沙公交集团"


def test_an_unknown_unit_stops_training_data_with_file_line_and_name(write_jsonl):
    path = write_jsonl([{"text": "公交车甩站", "unit": "长沙公交集团"}, {"text": "路灯不亮", "units_ok": ["市城管局", "路灯管理所"]}])
    with pytest.raises(DataFileError, match=r"line 2: unit '路灯管理所' is not in the catalogue"):
        read_labelled(path, catalogue=default_catalogue(), unknown_units="error")
    kept = read_labelled(path, catalogue=default_catalogue())  # evaluation: reported, the rest of the row kept
    assert kept.records[1].units_ok == ("市城管局",) and "路灯管理所" in kept.problems[0]


def test_a_renamed_unit_is_found_under_its_old_name(tmp_path, write_jsonl):
    """Labels name units as the catalogue did when they were made; a renamed unit keeps its old name as an alias."""
    renamed = [
        {"name": "长沙市政务服务和大数据中心", "aliases": ["市政务服务中心"], "kind": "department", "topics": ["商贸旅游"], "duties": ["政务大厅排队"]},
        {"name": "市人社局", "kind": "department", "topics": ["劳动和社会保障"], "duties": ["拖欠工资"]},
    ]
    catalogue = load_catalogue(_catalogue_file(tmp_path, renamed))
    path = write_jsonl([{"text": "政务大厅排队太久", "units_ok": ["市政务服务中心", "市人社局"]}])
    [row] = read_labelled(path, catalogue=catalogue, unknown_units="error").records
    assert row.units_ok == ("长沙市政务服务和大数据中心", "市人社局")


def test_labels_written_with_ningxiangs_former_name_still_load(write_jsonl):
    """宁乡县 became 宁乡市 in 2017: older label files say 宁乡县 as district and unit, and read as 宁乡市."""
    path = write_jsonl([{"text": "宁乡县玉潭街道的路灯不亮", "district": "宁乡县", "unit": "宁乡县", "units_ok": ["宁乡县", "市城管局"]}])
    [row] = read_labelled(path, catalogue=default_catalogue(), unknown_units="error").records
    assert (row.label("district"), row.label("unit"), row.units_ok) == ("宁乡市", "宁乡市", ("宁乡市", "市城管局"))


def _catalogue_file(tmp_path, units):
    import yaml

    path = tmp_path / "units.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "units": units}, allow_unicode=True), encoding="utf-8")
    return path


def test_the_frozen_test_split_does_not_move_with_the_seed():
    pool, test = corpus_split(default_catalogue())
    assert len(test) >= 600 and not {r.id for r in pool.records} & {r.id for r in test.records}
    assert all(is_test(r.id) for r in test.records) and not any(is_test(r.id) for r in pool.records)
    assert sum(r.label("scope") != "accepted" for r in test.records) >= 0.15 * len(test)
    assert {r.origin for r in pool.records} == {"calls"}


def test_every_corpus_call_passes_the_guides_check_and_every_unit_has_twenty_calls():
    from collections import Counter

    from training.corpus import check_file
    from training.datasets import corpus_files

    catalogue = default_catalogue()
    assert [p for path in corpus_files() for p in check_file(path, catalogue)[1]] == []
    data = own_corpus(catalogue)
    assert len(data) >= 3000
    best = Counter(r.label("unit") for r in data.records)
    assert min(best[u.name] for u in catalogue) >= 20
    assert sum(r.label("scope") != "accepted" for r in data.records) >= 0.15 * len(data)


def test_a_low_confidence_line_weighs_every_label_on_it_and_merging_carries_the_weights(write_jsonl):
    """`confidence: low` (more than one answer is defensible): every label of the line counts LOW_CONFIDENCE_WEIGHT."""
    data = read_labelled(
        write_jsonl(
            [
                {"id": "a", "text": "老板拖欠工资三个月", "category": "求助", "topic": "劳动和社会保障", "units_ok": ["市人社局"], "confidence": "low"},
                {"id": "b", "text": "小区门口占道经营", "category": "投诉", "confidence": "high"},
                {"id": "c", "text": "公积金怎么提取", "category": "咨询"},
            ]
        ),
        catalogue=default_catalogue(),
    )
    assert [r.weights for r in data.records] == [
        {"category": LOW_CONFIDENCE_WEIGHT, "topic": LOW_CONFIDENCE_WEIGHT, "unit": LOW_CONFIDENCE_WEIGHT},
        {},
        {},
    ]
    labels = write_jsonl(
        [{"id": "a", "category": "投诉", "confidence": "high"}, {"id": "b", "category": "举报", "confidence": "low"}], name="labels.jsonl"
    )
    assert merge_labels(data, labels, strict=True) == 2
    a, b, c = data.records
    assert a.labels["category"] == "投诉" and a.weights == {"topic": LOW_CONFIDENCE_WEIGHT, "unit": LOW_CONFIDENCE_WEIGHT}  # a confident label replaces a doubtful one
    assert b.labels["category"] == "举报" and b.weights == {"category": LOW_CONFIDENCE_WEIGHT}
    assert c.weights == {}


def test_a_bad_label_file_stops_training_with_the_file_the_line_and_the_value(write_jsonl):
    data = read_labelled(write_jsonl([{"id": "m1", "text": "学校乱收费"}, {"id": "m2", "text": "路灯不亮"}]))
    unknown = write_jsonl([{"id": "m1", "category": "投诉"}, {"id": "m2", "category": "投拆"}], name="unknown.jsonl")
    with pytest.raises(DataFileError, match=r"unknown\.jsonl, line 2: unknown category '投拆'"):
        merge_labels(data, unknown, strict=True)
    stray = write_jsonl([{"id": "m1", "category": "投诉"}, {"id": "m1", "category": "投诉"}, {"id": "m9", "category": "咨询"}], name="stray.jsonl")
    with pytest.raises(DataFileError, match=r"stray\.jsonl, line 3: id 'm9' matches no record"):
        merge_labels(data, stray, strict=True)
    with pytest.raises(DataFileError, match=r"line 1: unknown confidence 'medium'"):
        merge_labels(data, write_jsonl([{"id": "m1", "category": "投诉", "confidence": "medium"}], name="c.jsonl"), strict=True)
    with pytest.raises(DataFileError, match=r"line 1: no `id` field"):
        merge_labels(data, write_jsonl([{"category": "投诉"}], name="noid.jsonl"), strict=True)
    # evaluation: each reported with its line, the rest merged
    assert merge_labels(data, unknown) == 1 and merge_labels(data, stray) == 1
    assert f"{unknown}:2: unknown category '投拆'" in data.problems[0]
    assert data.problems[1] == f"{stray}:3: id 'm9' matches no record; its labels are not used"
    assert data.records[0].labels == {"category": "投诉"} and data.records[1].labels == {}


def test_duplicate_ids_in_a_label_file_are_reported_and_the_confident_or_else_the_first_label_wins(write_jsonl):
    data = read_labelled(write_jsonl([{"id": i, "text": "小区物业乱收费"} for i in ("m1", "m2", "m3")]))
    labels = write_jsonl(
        [
            {"id": "m1", "category": "求助", "confidence": "low"},
            {"id": "m2", "category": "投诉", "confidence": "high"},
            {"id": "m1", "category": "投诉", "confidence": "high"},  # confident: wins over line 1
            {"id": "m2", "category": "求助", "confidence": "high"},  # as confident as line 2: the first wins
            {"id": "m3", "category": "咨询"},
            {"id": "m3", "category": "咨询"},  # the same label twice: nothing to report
        ],
        name="labels.jsonl",
    )
    assert merge_labels(data, labels, strict=True) == 3  # reported and resolved, never a stop
    assert [(r.labels["category"], r.weights) for r in data.records] == [("投诉", {}), ("投诉", {}), ("咨询", {})]
    assert data.problems == [
        f"{labels}:1 and line 3: id 'm1' has different labels (category 求助 (low); category 投诉); line 3's are used"
        " (a confident label wins, otherwise the first)",
        f"{labels}:2 and line 4: id 'm2' has different labels (category 投诉; category 求助); line 2's are used"
        " (a confident label wins, otherwise the first)",
    ]


def test_a_letters_title_is_read_as_the_start_of_its_text(write_jsonl, tmp_path):
    data = read_labelled(
        write_jsonl(
            [
                {"id": "t", "title": "投诉K8县商户乱摆摊", "text": "最近商户又把商品摆到路中间来卖"},
                {"id": "q", "title": "能否延长公交线路？", "text": "希望延长5路车"},
                {"id": "same", "title": "K8县丁字街乱摆摊", "text": "K8县丁字街乱摆摊，严重影响交通"},
                {"id": "none", "title": None, "text": "路灯不亮"},
                {"id": "blank", "title": "  ", "text": "路灯不亮"},
                {"id": "empty", "title": "路灯不亮", "text": ""},  # a title alone is not a message
            ]
        )
    )
    assert [r.text for r in data.records] == [
        "投诉K8县商户乱摆摊。最近商户又把商品摆到路中间来卖",
        "能否延长公交线路？希望延长5路车",
        "K8县丁字街乱摆摊，严重影响交通",
        "路灯不亮",
        "路灯不亮",
    ]
    assert "`text`: transcript is empty" in data.problems[0]
    csv_path = tmp_path / "letters.csv"
    csv_path.write_text("id,title,text\nc1,咨询公积金提取,怎么提取\n", encoding="utf-8")
    assert read_labelled(csv_path).records[0].text == "咨询公积金提取。怎么提取"


def test_every_probe_file_has_a_status_and_a_new_one_must_be_given_one(tmp_path):
    shipped = {p.name for p in probe_files("development")} | {p.name for p in probe_files("blind")}
    assert shipped == {p.name for p in (probe_files("blind")[0].parent).glob("*.jsonl")}
    (tmp_path / "a.jsonl").write_text('{"text": "路灯坏了", "category": "投诉"}\n', encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"text": "路灯坏了", "category": "投诉"}\n', encoding="utf-8")
    (tmp_path / "probes.yaml").write_text("files:\n  a.jsonl: blind\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"give a status to b\.jsonl"):
        probe_files("development", tmp_path)
    (tmp_path / "probes.yaml").write_text("files:\n  a.jsonl: blind\n  b.jsonl: training\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"b\.jsonl: status 'training'"):
        probe_files("blind", tmp_path)
    (tmp_path / "probes.yaml").write_text("files:\n  a.jsonl: blind\n  b.jsonl: development\n  c.jsonl: blind\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"c\.jsonl is listed but missing"):
        probe_files("blind", tmp_path)
    (tmp_path / "probes.yaml").write_text("files:\n  a.jsonl: blind\n  b.jsonl: development\n", encoding="utf-8")
    assert [p.name for p in probe_files("blind", tmp_path)] == ["a.jsonl"]
    assert [p.name for p in probe_files("development", tmp_path)] == ["b.jsonl"]


def test_caller_states_train_on_development_calls_never_on_blind_or_frozen_ones(tmp_path):
    rows = caller_state_rows()
    by_origin = {origin: [r for r in rows if r["origin"] == origin] for origin in ("calls", "probes")}
    assert len(by_origin["calls"]) > 1000 and len(by_origin["probes"]) >= 1250
    assert not any(is_test(r["id"]) for r in by_origin["calls"])
    blind = {json.loads(line)["text"] for path in probe_files("blind") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert not blind & {r["text"] for r in by_origin["probes"]}
    assert {r["caller_state"] for r in rows} == {"平静", "焦急", "愤怒", "求救"}
    # a state the guide does not know stops training with the file and the line
    (tmp_path / "d.jsonl").write_text('{"id": "d-1", "text": "路灯坏了", "caller_state": "平静"}\n{"id": "d-2", "text": "路灯又坏了", "caller_state": "生气"}\n', encoding="utf-8")
    (tmp_path / "probes.yaml").write_text("files:\n  d.jsonl: development\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"d\.jsonl, line 2: caller_state '生气'"):
        caller_state_rows(probes_dir=tmp_path)
    assert not [r for r in caller_state_rows(probes=False) if r["origin"] == "probes"]


def test_calls_written_for_their_state_train_and_the_blind_ones_never_do():
    rows = {r["id"]: r for r in caller_state_rows()}
    files = sorted(STATES_WRITTEN.parent.glob("caller_state_written*.jsonl"))
    assert STATES_WRITTEN in files and len(files) >= 5  # every file written for its states trains
    for path in files:
        written = read_states(path)
        assert all(rows[r["id"]]["origin"] == "probes" and rows[r["id"]]["caller_state"] == r["caller_state"] for r in written)
    for path in (STATES_BLIND, STATES_BLIND_2):
        blind = read_states(path)
        assert not {r["text"] for r in blind} & {r["text"] for r in rows.values()}
        assert sum(r["caller_state"] == "求救" for r in blind) >= 30  # enough cries for help to say a recall with its interval
    assert {r["scope"] for r in rows.values()} >= {"accepted", "emergency", ""}  # what `--cv` counts accepted calls by


def test_the_frozen_splits_states_only_labels_are_frozen_calls_and_never_train():
    from training.elements_eval import STATES_REFERENCE, read_reference

    frozen = read_reference(STATES_REFERENCE)
    assert len(frozen) >= 400 and all(is_test(key) for key in frozen)
    assert {row["caller_state"] for row in frozen.values()} <= {"平静", "焦急", "愤怒", "求救"}
    assert not set(frozen) & {r["id"] for r in caller_state_rows()}


def test_a_bad_state_only_line_is_named(tmp_path):
    path = tmp_path / "states.jsonl"
    path.write_text('{"id": "s-1", "text": "电梯里关了人", "caller_state": "求救"}\n{"id": "s-2", "text": "", "caller_state": "平静"}\n', encoding="utf-8")
    with pytest.raises(DataFileError, match=r"states\.jsonl, line 2: every line needs an id and a text"):
        read_states(path)
    path.write_text('{"id": "s-1", "text": "电梯里关了人", "caller_state": "惊慌"}\n', encoding="utf-8")
    with pytest.raises(DataFileError, match=r"line 1: caller_state '惊慌'"):
        read_states(path)
