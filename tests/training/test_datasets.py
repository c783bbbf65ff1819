import pytest

from training.datasets import is_dev, merge_labels, own_corpus, read_labelled, split
from triage.errors import DataFileError
from triage.units import default_catalogue


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
