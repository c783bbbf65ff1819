"""Two models on the same rows: per-head differences with a paired test, so "B is better" is not just noise.

Both models answer every row, so the right test is a paired one: McNemar's exact test on the rows where
exactly one of them is right, plus a paired bootstrap confidence interval of the accuracy difference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import binomtest

from training.datasets import Dataset
from training.evaluate import predict_all
from triage.pipeline import TriagePipeline
from triage.rules import ACCEPTED
from triage.schemas import Suggestion

Check = Callable[[str, Suggestion], bool]
CHECKS: dict[str, tuple[str, Check]] = {
    "category": ("category", lambda gold, s: s.category.label == gold),
    "topic": ("topic", lambda gold, s: s.topic.label == gold),
    "unit_top1": ("unit", lambda gold, s: bool(s.units) and s.units[0].name == gold),
    "unit_top3": ("unit", lambda gold, s: gold in [u.name for u in s.units[:3]]),
    "scope_decision": ("scope", lambda gold, s: (gold == ACCEPTED) == s.scope.accepted),
    "deadline": ("deadline", lambda gold, s: s.deadline.deadline_class == gold),
}
"""What counts as right per row, for each compared head: (label field, check)."""


def mcnemar(a_right: np.ndarray, b_right: np.ndarray) -> dict[str, Any]:
    """Exact McNemar test: under "no difference" each discordant row is a fair coin."""
    only_a = int(np.sum(a_right & ~b_right))
    only_b = int(np.sum(~a_right & b_right))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(binomtest(only_b, discordant, 0.5).pvalue)
    return {"only_a_right": only_a, "only_b_right": only_b, "p_value": round(p, 6)}


def bootstrap_interval(a_right: np.ndarray, b_right: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% paired bootstrap interval of accuracy(B) - accuracy(A): rows are resampled together."""
    rng = np.random.default_rng(seed)
    diff = b_right.astype(float) - a_right.astype(float)
    samples = rng.integers(0, len(diff), size=(n, len(diff)))
    means = diff[samples].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def compare_suggestions(
    data: Dataset, a: list[Suggestion], b: list[Suggestion], *, alpha: float = 0.05, n_bootstrap: int = 2000
) -> dict[str, Any]:
    """Per head: both accuracies, the difference (B - A), McNemar's p-value, the bootstrap interval, a verdict."""
    heads: dict[str, Any] = {}
    for name, (field, check) in CHECKS.items():
        rows = [(r.label(field), sa, sb) for r, sa, sb in zip(data.records, a, b, strict=True) if r.label(field)]
        if not rows:
            continue
        a_right = np.array([check(g, sa) for g, sa, _ in rows], dtype=bool)  # type: ignore[arg-type]
        b_right = np.array([check(g, sb) for g, _, sb in rows], dtype=bool)  # type: ignore[arg-type]
        test = mcnemar(a_right, b_right)
        difference = float(b_right.mean() - a_right.mean())
        low, high = bootstrap_interval(a_right, b_right, n_bootstrap)
        if test["p_value"] < alpha:
            verdict = "B better" if difference > 0 else "A better"
        else:
            verdict = "no significant difference"
        heads[name] = {
            "n": len(rows),
            "a_accuracy": round(float(a_right.mean()), 4),
            "b_accuracy": round(float(b_right.mean()), 4),
            "difference": round(difference, 4),
            "ci95": [low, high],
            **test,
            "verdict": verdict,
        }
    return {"n": len(data), "alpha": alpha, "test": "exact McNemar (binomial on discordant rows); paired bootstrap CI", "heads": heads}


def compare(a: TriagePipeline, b: TriagePipeline, data: Dataset, **kwargs: Any) -> dict[str, Any]:
    """Both pipelines on the same rows in one run."""
    result = compare_suggestions(data, predict_all(a, data), predict_all(b, data), **kwargs)
    result["a"], result["b"] = a.version, b.version
    return result


def comparison_figure(result: dict[str, Any]) -> Any:
    """The differences (B - A) per head with their 95% intervals; significant ones drawn solid."""
    from training.report import cjk_font, plt

    cjk_font()
    names = list(result["heads"])
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(names) + 2), 4))
    for i, name in enumerate(names):
        head = result["heads"][name]
        low, high = head["ci95"]
        significant = head["p_value"] < result["alpha"]
        ax.errorbar(
            [i], [head["difference"]], yerr=[[head["difference"] - low], [high - head["difference"]]],
            fmt="o", mfc="#4c72b0" if significant else "white", capsize=4, color="#4c72b0",
        )
    ax.axhline(0, color="grey", linewidth=1)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("accuracy B − A")
    ax.set_title(f"{result.get('b', 'B')} vs {result.get('a', 'A')} (filled: p < {result['alpha']})")
    fig.tight_layout()
    return fig


def comparison_table(result: dict[str, Any]) -> Any:
    """A rich table of the comparison, for the terminal."""
    from rich.table import Table

    table = Table(title=f"A = {result.get('a')}   B = {result.get('b')}   ({result['n']} rows)")
    for column in ("head", "n", "A", "B", "B − A", "95% CI", "only A right", "only B right", "McNemar p", "verdict"):
        table.add_column(column, justify="left" if column in ("head", "verdict") else "right")
    for name, head in result["heads"].items():
        table.add_row(
            name, str(head["n"]), f"{head['a_accuracy']:.3f}", f"{head['b_accuracy']:.3f}", f"{head['difference']:+.3f}",
            f"[{head['ci95'][0]:+.3f}, {head['ci95'][1]:+.3f}]", str(head["only_a_right"]), str(head["only_b_right"]),
            f"{head['p_value']:.4f}", head["verdict"],
        )
    return table
