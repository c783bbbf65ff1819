"""Patterns built from cached programs are the patterns `re` compiles: same object by equality, same matches, same
errors; a damaged cache file only costs the compile."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from triage import regex_cache
from triage.rules import load_rules
from triage.scope import ScopeDecider

PATTERNS = [
    r"(?P<where>[东西南北]?[一二三四五六七八九十\d]+号楼)(?:的)?(?P<floor>\d+)楼",
    r"(?<![不没别])(着火|起火|冒烟)了?",
    r"(正在|现在)(打|砍|抢)[^，。！？]{0,6}",
    r"^(嗯+|呃|那个)$",
]
TEXT = "北3号楼的12楼有人着火了，不着火的那个，现在打人呢！没冒烟"


@pytest.fixture(autouse=True)
def fresh_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache folder and this process's view of it forgotten, before and after."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("TRIAGE_CACHE_DIR", str(folder))
    regex_cache._reset()
    yield folder
    regex_cache._reset()


def matches(pattern: re.Pattern[str]) -> list[tuple[int, int, tuple[str | None, ...], dict[str, str | None]]]:
    return [(m.start(), m.end(), m.groups(), m.groupdict()) for m in pattern.finditer(TEXT)]


def test_a_pattern_read_back_from_the_cache_is_the_one_re_compiles(fresh_process: Path) -> None:
    first = [regex_cache.compiled(p) for p in PATTERNS]
    assert regex_cache.stats()["new"] is True
    regex_cache.flush()
    assert len(list(fresh_process.glob("regex-*.bin"))) == 1

    regex_cache._reset()  # the next process
    again = [regex_cache.compiled(p) for p in PATTERNS]
    assert regex_cache.stats() == {"cached": len(PATTERNS), "used": len(PATTERNS), "new": False}
    for pattern, one, other in zip(PATTERNS, first, again, strict=True):
        assert other == one == re.compile(pattern)  # equal text, flags and program
        assert matches(other) == matches(re.compile(pattern))
        assert other.groupindex == re.compile(pattern).groupindex
    assert matches(again[0])[0][3] == {"where": "北3号楼", "floor": "12"}


def test_flags_are_part_of_what_is_cached() -> None:
    regex_cache.compiled("abc")
    regex_cache.flush()
    regex_cache._reset()
    folded = regex_cache.compiled("abc", re.IGNORECASE)
    assert folded.search("xABCx") and not regex_cache.compiled("abc").search("xABCx")


def test_a_bad_pattern_raises_as_re_does() -> None:
    with pytest.raises(re.error, match="missing \\)"):
        regex_cache.compiled("(着火")
    regex_cache.flush()
    assert regex_cache.stats()["used"] == 0


def test_a_damaged_cache_file_is_compiled_afresh_with_a_warning(fresh_process: Path, caplog: pytest.LogCaptureFixture) -> None:
    regex_cache.compiled(PATTERNS[1])
    regex_cache.flush()
    (path,) = fresh_process.glob("regex-*.bin")
    path.write_bytes(path.read_bytes()[:-20])
    regex_cache._reset()
    with caplog.at_level(logging.WARNING, logger="triage.cache"):
        pattern = regex_cache.compiled(PATTERNS[1])
    assert "fails its checksum" in caplog.text
    assert pattern == re.compile(PATTERNS[1]) and regex_cache.stats()["new"] is True


def test_the_rules_decide_the_same_from_cached_patterns_in_a_new_process(fresh_process: Path) -> None:
    """The scope rules compiled afresh, then built from the programs another process wrote."""
    calls = ["楼下着火了快来人啊", "我想问一下社保怎么转移", "邻居家装修天天吵，我们俩吵起来了", "这个案子法院已经立案了"]
    fresh = ScopeDecider(load_rules())
    decided = [fresh.decide(text).as_dict() for text in calls]
    regex_cache.flush()
    script = (
        "import json, sys\n"
        "from triage import regex_cache\n"
        "from triage.rules import load_rules\n"
        "from triage.scope import ScopeDecider\n"
        "scope = ScopeDecider(load_rules())\n"
        "print(json.dumps([[scope.decide(t).as_dict() for t in json.loads(sys.argv[1])], regex_cache.stats()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, json.dumps(calls)], capture_output=True, text=True, check=True)
    again, stats = json.loads(out.stdout)
    assert stats["cached"] > 100  # the rules' patterns came from the cache this process wrote
    assert again == json.loads(json.dumps(decided))
