"""Derived-data caches: read back only when their sources are unchanged and their checksum holds, and then the
same to the bit as building them (the segmenter's dictionary, the knowledge base's documents and profiles)."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import jieba
import numpy as np
import pytest

from triage.cache import cache_dir, cached, fingerprint, read_cached, write_cached
from triage.knowledge_base import K1, B, KnowledgeBase, KnowledgeEntry, load_knowledge_base
from triage.segment import PLACE_FREQ, Segmenter

WORDS = ("麓谷街道", "公积金中心", "岳麓区")
TEXTS = ("我想问一下住房公积金怎么提取", "岳麓区麓谷街道有人乱搭乱建", "小区门口的路灯坏了好几天", "喂？喂？")


@pytest.fixture(autouse=True)
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TRIAGE_CACHE_DIR", str(folder))
    return folder


@pytest.fixture()
def terms(tmp_path: Path) -> Path:
    path = tmp_path / "terms.txt"
    path.write_text("住房公积金 80000\n乱搭乱建 50000 v\n好几天 0\n", encoding="utf-8")
    return path


def _jieba_as_before(terms: Path) -> jieba.Tokenizer:
    """The dictionary as the segmenter built it before the cache: jieba's, then the terms, then the words."""
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for line in terms.read_text(encoding="utf-8").splitlines():
        word, freq, *tag = line.split()
        tokenizer.add_word(word, freq=int(freq), tag=tag[0] if tag else None)
    for word in sorted(WORDS):
        tokenizer.add_word(word, freq=PLACE_FREQ)
    return tokenizer


def test_a_cached_dictionary_is_the_built_one_to_the_last_count(terms: Path, cache_folder: Path) -> None:
    built = Segmenter([terms], WORDS)
    assert len(list(cache_folder.glob("segmenter-*.bin"))) == 1
    read = Segmenter([terms], WORDS)
    before = _jieba_as_before(terms)
    for segmenter in (built, read):
        segmenter.read_all()
        assert segmenter._tokenizer.FREQ == before.FREQ
        assert segmenter._tokenizer.total == before.total
        assert segmenter._tokenizer.user_word_tag_tab == before.user_word_tag_tab == {"乱搭乱建": "v"}
        assert segmenter.user_words == {"住房公积金", "乱搭乱建", "好几天", *WORDS}
    assert "好几天" in jieba.finalseg.Force_Split_Words  # frequency 0: split, as jieba's add_word leaves it
    assert [read.cut(t) for t in TEXTS] == [built.cut(t) for t in TEXTS]


def test_a_changed_source_makes_a_new_dictionary(terms: Path, cache_folder: Path) -> None:
    first = Segmenter([terms], WORDS)
    terms.write_text("住房公积金提取 90000\n", encoding="utf-8")
    second = Segmenter([terms], WORDS)
    assert first.fingerprint != second.fingerprint
    assert len(list(cache_folder.glob("segmenter-*.bin"))) == 2
    first.read_all()
    second.read_all()
    assert "住房公积金提取" in second._tokenizer.FREQ and "住房公积金提取" not in first._tokenizer.FREQ
    assert Segmenter([terms], (*WORDS, "新地名")).fingerprint != second.fingerprint


def test_a_damaged_cache_file_is_refused_and_rebuilt(terms: Path, cache_folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    built = Segmenter([terms], WORDS)
    (path,) = cache_folder.glob("segmenter-*.bin")
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one byte changed in the middle of the dictionary
    path.write_bytes(bytes(blob))
    with caplog.at_level(logging.WARNING, logger="triage.cache"):
        again = Segmenter([terms], WORDS)
    assert "fails its checksum" in caplog.text
    again.read_all()
    built.read_all()
    assert again._tokenizer.FREQ == built._tokenizer.FREQ
    path.write_bytes(path.read_bytes()[:1000])  # rewritten whole by the rebuild above; now truncated
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="triage.cache"):
        assert Segmenter([terms], WORDS)._tokenizer.total == built._tokenizer.total
    assert "fails its checksum" in caplog.text


def test_a_missing_user_dictionary_is_still_named(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="user dictionary not found"):
        Segmenter([tmp_path / "nope.txt"])


def test_a_folder_that_cannot_be_written_costs_only_the_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TRIAGE_CACHE_DIR", str(blocker / "cache"))
    assert cache_dir() == blocker / "cache"
    assert cached("thing", fingerprint("x"), lambda: {"a": 1}, lambda v: isinstance(v, dict)) == {"a": 1}


def test_a_value_of_the_wrong_shape_is_rebuilt(cache_folder: Path) -> None:
    key = fingerprint("same key")
    cached("thing", key, lambda: [1, 2, 3], lambda v: True)
    assert cached("thing", key, lambda: {"rebuilt": True}, lambda v: isinstance(v, dict)) == {"rebuilt": True}
    assert cached("thing", key, lambda: {"not": "called"}, lambda v: isinstance(v, dict)) == {"rebuilt": True}


def test_a_kind_written_with_keep_holds_only_the_files_used_last(cache_folder: Path) -> None:
    """A service makes a new knowledge-base index at every analyst's edit: the cache keeps the few used last, not
    every one ever made, and other kinds are left alone."""
    import time

    def valid(v: object) -> bool:
        return isinstance(v, dict)

    cached("other", fingerprint("kept"), lambda: {"other": 1}, valid)
    for name in ("a", "b", "c"):
        write_cached("state", fingerprint(name), {"name": name}, keep=3)
        time.sleep(0.02)
    assert read_cached("state", fingerprint("a"), valid) == {"name": "a"}  # a read counts as a use
    time.sleep(0.02)
    write_cached("state", fingerprint("d"), {"name": "d"}, keep=3)
    assert read_cached("state", fingerprint("b"), valid) is None  # the one used longest ago went
    assert [read_cached("state", fingerprint(n), valid) for n in "acd"] == [{"name": n} for n in "acd"]
    assert len(list(cache_folder.glob("state-*.bin"))) == 3
    assert read_cached("other", fingerprint("kept"), valid) == {"other": 1}


def test_a_cached_none_is_read_back_not_built_again() -> None:
    """An empty YAML file parses to None: its cache file is read as any other, not rebuilt and rewritten each time."""
    key = fingerprint("nothing")
    calls: list[int] = []

    def build() -> None:
        calls.append(1)

    assert cached("thing", key, build, lambda v: v is None) is None
    assert cached("thing", key, build, lambda v: v is None) is None
    assert calls == [1]


def test_a_knowledge_base_read_from_the_cache_answers_the_same_to_the_bit(cache_folder: Path) -> None:
    built = load_knowledge_base()
    assert len(list(cache_folder.glob("knowledge-*.bin"))) == 1
    assert len(list(cache_folder.glob("answer-documents-*.bin"))) == 1
    read = load_knowledge_base()
    questions = [*TEXTS[:3], "驾照掉了怎么补办", "孩子上学的户口要求"]
    assert [read.search(q, 3) for q in questions] == [built.search(q, 3) for q in questions]
    assert read._documents_read is None  # searching needs only the index: the documents are read for an edit
    for entry_id in built._entries:
        assert read._tokens[entry_id] == built._tokens[entry_id]
        assert read._content[entry_id] == built._content[entry_id]
    a, b = built._index.profiles, read._index.profiles
    assert a.columns == b.columns and np.array_equal(a.idf, b.idf)
    assert all(np.array_equal(getattr(a.matrix, k), getattr(b.matrix, k)) for k in ("data", "indices", "indptr"))
    # the BM25 index is cached too, as bm25s's own save and load would keep it: the same as indexing afresh
    cached_index = read._index.retriever
    read._index = read._build()
    fresh = read._index.retriever
    assert fresh is not cached_index and fresh.vocab_dict == cached_index.vocab_dict
    assert all(np.array_equal(fresh.scores[k], cached_index.scores[k]) for k in ("data", "indices", "indptr"))
    assert [read.search(q, 3) for q in questions] == [built.search(q, 3) for q in questions]
    # an edited entry is a different source: a base with it is not read from the first one's cache
    entries = list(built)
    edited = [entries[0].model_copy(update={"answer": entries[0].answer + "（已更新）"}), *entries[1:]]
    KnowledgeBase(edited)
    assert len(list(cache_folder.glob("knowledge-*.bin"))) == 2


def test_a_knowledge_base_read_from_the_cache_takes_a_new_answer_as_a_built_one_does(cache_folder: Path) -> None:
    """Its documents, read only when the first edit needs them, are those of the entries it was made with: an
    added answer (an id they were not made for) is indexed beside them as in a base built afresh."""
    new = {"question": "犬只狂犬疫苗在哪里接种？", "answer": "犬只狂犬病免疫可到动物诊疗机构或指定免疫点接种。",
           "unit": "市农业农村局", "topic": "城乡建设"}
    built = load_knowledge_base()
    read = load_knowledge_base()
    assert read._documents_read is None
    added = [kb.upsert(new).id for kb in (built, read)]  # the new id is not among those the documents were made for
    assert read._tokens == built._tokens and read._content == built._content
    text = "我想问一下家里的狗要去哪里打狂犬疫苗"
    assert [h.id for h in read.search(text, 3)] == [h.id for h in built.search(text, 3)]
    assert added[1] in [h.id for h in read.search(new["question"], 3)]


def test_analysts_versions_over_the_file_segment_only_what_they_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the service does on every reload: the file's answers with the stored versions applied. The result is
    the knowledge base built afresh from the same entries, to the bit, yet only the changed entries are segmented."""
    base = load_knowledge_base()
    entries = list(base)
    edited = entries[5].model_copy(update={"answer": "城市书房开放到晚上21点30分，节假日照常开放。", "version": 2})
    added = KnowledgeEntry(id="kb-9001", question="城市书房夜间开放到几点？", answer="本市城市书房一般开放到晚上22点。",
                           unit="市文旅广电局", topic="教育文体", reviewed=date(2026, 12, 1))
    segmented: list[str] = []
    document = KnowledgeBase._document

    def counted(self: KnowledgeBase, entry):
        segmented.append(entry.id)
        return document(self, entry)

    monkeypatch.setattr(KnowledgeBase, "_document", counted)
    merged = base.overlaid([edited, added])
    assert sorted(segmented) == sorted([edited.id, added.id])
    monkeypatch.setattr(KnowledgeBase, "_document", document)
    afresh = KnowledgeBase([*entries[:5], edited, *entries[6:], added])
    assert [e.id for e in merged] == [e.id for e in afresh] and merged.get(edited.id).answer == edited.answer
    assert merged._tokens == afresh._tokens and merged._content == afresh._content
    questions = [*TEXTS[:3], "城市书房晚上几点关门", entries[5].question]
    assert [merged.search(q, 3) for q in questions] == [afresh.search(q, 3) for q in questions]
    assert merged.search("城市书房晚上几点关门", 1)[0].id == "kb-9001"
    assert base.get(edited.id) == entries[5] and "kb-9001" not in base  # the file's own base is left as it was


def test_the_served_bm25_scores_are_bm25s_own_to_the_bit() -> None:
    """The knowledge base scores its BM25 index itself (so that reading it from the cache needs no bm25s): the
    scores of every held-out phrasing are bm25s's to the last bit, known words, unknown ones and repeats alike."""
    import bm25s

    from training.bench_knowledge import read_phrasings
    from triage.knowledge_base import EVAL_FILE

    kb = load_knowledge_base()
    documents = [kb._tokens[i] for i in kb._index.ids]
    reference = bm25s.BM25(k1=K1, b=B)
    reference.index([tokens or [""] for tokens in documents], show_progress=False)
    served = kb._index.retriever
    assert served.vocab_dict == reference.vocab_dict
    queries = [kb.tokens(r["text"]) for r in read_phrasings(EVAL_FILE)[::7]]
    queries += [["公积金", "公积金", "提取"], ["从来没有见过的词", "社保卡"]]
    for terms in queries:
        known = [t for t in terms if t in reference.vocab_dict]
        if known:
            mine, theirs = served.get_scores(terms), reference.get_scores(known)
            assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes(), terms


def test_a_knowledge_base_read_from_the_cache_needs_no_bm25s(cache_folder: Path) -> None:
    """A one-call `triage predict` answers from the cached index without importing bm25s (about 40 ms of its start)."""
    import os
    import subprocess
    import sys

    load_knowledge_base()  # builds and caches the index
    code = (
        "import sys; from triage.knowledge_base import load_knowledge_base; "
        "hits = load_knowledge_base().search('我想问一下住房公积金怎么提取', 3); "
        "print(len(hits), 'bm25s' in sys.modules)"
    )
    env = {**os.environ, "TRIAGE_CACHE_DIR": str(cache_folder)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    assert out == ["3", "False"]


def test_parsed_yaml_is_read_back_the_same_and_an_edited_file_is_parsed_again(tmp_path: Path, cache_folder: Path) -> None:
    """Knowledge files are parsed once per content: the cached value is what the parser gives (dates included),
    and an edit is seen by the next read."""
    import datetime as dt

    import yaml

    from triage.datafile import read_yaml
    from triage.errors import DataFileError

    path = tmp_path / "answers.yaml"
    path.write_text("entries:\n  - id: kb-1\n    reviewed: 2026-01-02\n    at: 2026-01-02 03:04:05\n    tags: [a, b]\n", encoding="utf-8")
    first = read_yaml(path)
    assert list(cache_folder.glob("yaml-*.bin"))  # written for the next process
    again = read_yaml(path)
    assert again == first == yaml.safe_load(path.read_text(encoding="utf-8"))
    assert again["entries"][0]["reviewed"] == dt.date(2026, 1, 2) and isinstance(again["entries"][0]["at"], dt.datetime)
    path.write_text("entries:\n  - id: kb-2\n", encoding="utf-8")
    assert read_yaml(path) == {"entries": [{"id": "kb-2"}]}
    path.write_text("entries: [\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="not valid YAML"):
        read_yaml(path)


def test_jiebas_hmm_tables_read_back_are_the_ones_built(cache_folder: Path) -> None:
    from triage import segment

    built = segment._cached_hmm_tables()  # an empty cache folder: built and written
    assert list(cache_folder.glob("hmm-tables-*.bin"))
    assert segment._cached_hmm_tables() == built == segment._hmm_tables()  # read back, every float the same
