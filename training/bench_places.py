"""Place benchmark: is the district (属地) right for calls that name a place, as written and as heard?

    python -m training.bench_places [--places data/places.yaml] [--seed 20] [--show-misses] [--json out.json]

Built from the own corpus (`data/corpus/calls_*.jsonl`), on the training pool and the frozen test split
separately (`training.datasets.corpus_split`):

- calls: every call whose `district` label is set (a place decides it), normalised as the pipeline does;
- homophones: each of those calls again with one character of the place that decides it replaced by a common
  character of the same pinyin (pypinyin, tones ignored; `random.Random(seed)`, so the same variants every run),
  wherever the place appears in the call;
- no district: calls whose label has no district, to show how often a district is given where none is.

For each it reports district accuracy, the empty rate and the wrong-district rate (a wrong district is worse
than an empty one), split by how the district was decided (places matched as written, or only by sound), and
the time `Gazetteer.locate` takes per call (p50, p95). `--show-misses` lists the training pool's misses only:
the frozen test split is never read for tuning.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from training.datasets import Dataset, corpus_split
from triage.errors import InvalidTranscriptError
from triage.normalise import normalise
from triage.places import Gazetteer, Location, load_gazetteer
from triage.resources import PLACES_FILE

SEED = 20
COMMON_FREQUENCY = 1000
"""A replacement character is one jieba's dictionary counts at least this often as a word (about 2,000
characters): the ones speech recognition and hurried typing write."""


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    district: str | None
    place: str = ""
    """The place changed (伍家岭) and what it became (五家岭), for a homophone variant."""


@dataclass(frozen=True)
class Score:
    n: int
    right: int
    empty: int
    wrong: int
    exact_n: int
    exact_right: int
    exact_wrong: int
    sound_n: int
    sound_right: int
    sound_wrong: int
    p50_ms: float
    p95_ms: float

    @property
    def accuracy(self) -> float:
        return self.right / self.n if self.n else 0.0

    @property
    def empty_rate(self) -> float:
        return self.empty / self.n if self.n else 0.0

    @property
    def wrong_rate(self) -> float:
        return self.wrong / self.n if self.n else 0.0


def place_calls(data: Dataset) -> list[Item]:
    """The calls whose district label is set, normalised as the pipeline does (a text it refuses is left out)."""
    items = []
    for record in data.records:
        try:
            text = normalise(record.text)
        except InvalidTranscriptError:
            continue
        items.append(Item(record.id, text, record.label("district")))
    return items


@lru_cache(maxsize=1)
def _common_by_syllable() -> dict[str, tuple[str, ...]]:
    """Common characters by each toneless reading they have."""
    import jieba
    from pypinyin import Style, pinyin

    path = Path(jieba.__file__).parent / "dict.txt"
    common = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            word, frequency, *_ = line.split()
            if len(word) == 1 and int(frequency) >= COMMON_FREQUENCY and "\u4e00" <= word <= "\u9fff":
                common.append(word)
    by_syllable: dict[str, set[str]] = {}
    for char in common:
        reading = pinyin(char, style=Style.NORMAL)[0][0]  # its commonest reading: the one a recogniser writes it for
        by_syllable.setdefault(reading, set()).add(char)
    return {syllable: tuple(sorted(chars)) for syllable, chars in by_syllable.items()}


def homophone_variants(items: list[Item], gazetteer: Gazetteer, seed: int = SEED) -> list[Item]:
    """One variant per call that names its district's place as written: one character of that place replaced by a
    common character of the same pinyin, wherever the place appears. Calls without such a place are left out."""
    from pypinyin import Style, lazy_pinyin

    rng = random.Random(seed)
    names = set(gazetteer.names())
    by_syllable = _common_by_syllable()
    variants = []
    for item in items:
        places = sorted(
            {
                m.place.name
                for m in gazetteer.find(item.text)
                if not m.residence and m.place.districts == (item.district,) and len(m.place.name) >= 2
            }
        )
        if not places:
            continue
        name = rng.choice(places)
        syllables = lazy_pinyin(name, style=Style.NORMAL)
        positions = [i for i, s in enumerate(syllables) if len(syllables) == len(name) and s in by_syllable]
        rng.shuffle(positions)
        for i in positions:
            choices = [c for c in by_syllable[syllables[i]] if c != name[i]]
            if not choices:
                continue
            heard = name[:i] + rng.choice(choices) + name[i + 1 :]
            if heard in names:
                continue
            variants.append(Item(item.id, item.text.replace(name, heard), item.district, f"{name}→{heard}"))
            break
    return variants


def score(locate: Callable[[str], Location], items: list[Item]) -> tuple[Score, list[tuple[Item, Location]]]:
    """How `locate` does on `items` (district labels set), with its time per call, and the misses."""
    for item in items[:50]:
        locate(item.text)  # warm the caches before timing
    right = empty = wrong = 0
    by = {"exact": [0, 0, 0], "sound": [0, 0, 0]}  # decided, right, wrong
    times, misses = [], []
    for item in items:
        started = time.perf_counter_ns()
        location = locate(item.text)
        times.append((time.perf_counter_ns() - started) / 1e6)
        if location.district is None:
            empty += 1
            misses.append((item, location))
            continue
        how = "sound" if _by_sound(location) else "exact"
        by[how][0] += 1
        if location.district == item.district:
            right += 1
            by[how][1] += 1
        else:
            wrong += 1
            by[how][2] += 1
            misses.append((item, location))
    p50 = statistics.median(times) if times else 0.0
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 20 else max(times, default=0.0)
    result = Score(len(items), right, empty, wrong, *by["exact"], *by["sound"], round(p50, 4), round(p95, 4))
    return result, misses


def _by_sound(location: Location) -> bool:
    """Whether only places heard by sound decided the district (a gazetteer without sound matching never does)."""
    return getattr(location, "confidence", 1.0) < 1.0


def given_where_none(locate: Callable[[str], Location], items: list[Item]) -> tuple[int, int, int]:
    """Of calls labelled with no district: how many, how many get one anyway, and how many of those by sound."""
    given = heard = 0
    for item in items:
        location = locate(item.text)
        if location.district is not None:
            given += 1
            heard += _by_sound(location)
    return len(items), given, heard


def run(locate: Callable[[str], Location], gazetteer: Gazetteer, seed: int = SEED) -> dict[str, Any]:
    """Every figure of the benchmark, per split (`pool`, `test`) and set (`calls`, `homophones`, `no_district`)."""
    pool, test = corpus_split()
    out: dict[str, Any] = {}
    for split, data in (("pool", pool), ("test", test)):
        items = place_calls(data)
        placed = [i for i in items if i.district]
        variants = homophone_variants(placed, gazetteer, seed)
        calls, call_misses = score(locate, placed)
        heard, heard_misses = score(locate, variants)
        out[split] = {
            "calls": calls,
            "homophones": heard,
            "no_district": given_where_none(locate, [i for i in items if not i.district]),
            "misses": call_misses + heard_misses,
        }
    return out


def _row(name: str, s: Score) -> str:
    return (
        f"  {name:<11} n={s.n:<5} right {s.accuracy:.3f}  empty {s.empty_rate:.3f} ({s.empty})  "
        f"wrong {s.wrong_rate:.3f} ({s.wrong})  | as written: {s.exact_n} decided, {s.exact_right} right, "
        f"{s.exact_wrong} wrong | by sound: {s.sound_n} decided, {s.sound_right} right, {s.sound_wrong} wrong "
        f"| locate p50 {s.p50_ms:.3f} ms, p95 {s.p95_ms:.3f} ms"
    )


def report(results: dict[str, Any]) -> str:
    lines = []
    for split, title in (("pool", "training pool"), ("test", "frozen test split")):
        r = results[split]
        lines.append(f"{title}:")
        lines.append(_row("calls", r["calls"]))
        lines.append(_row("homophones", r["homophones"]))
        n, given, heard = r["no_district"]
        lines.append(
            f"  no district n={n:<5} given one anyway {given} ({given / max(n, 1):.3f}), {heard} of them by sound"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--places", default=str(PLACES_FILE), help="gazetteer file (default data/places.yaml)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the homophone variants")
    parser.add_argument("--show-misses", action="store_true", help="list the training pool's misses")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    gazetteer = load_gazetteer(args.places)
    print(f"gazetteer {args.places}: {len(gazetteer)} names, loaded in {time.perf_counter() - started:.2f} s")
    results = run(gazetteer.locate, gazetteer, args.seed)
    print(report(results))
    if args.show_misses:
        print("\ntraining pool misses:")
        for item, location in results["pool"]["misses"]:
            got = location.district or "—"
            print(f"  {item.id} want {item.district} got {got} {location.places} {item.place} | {item.text[:90]}")
    if args.json:
        figures = {
            split: {k: (asdict(v) if isinstance(v, Score) else v) for k, v in r.items() if k != "misses"}
            for split, r in results.items()
        }
        Path(args.json).write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
