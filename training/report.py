"""The evaluator's HTML report: every plot is drawn from the metrics dict that is written as metrics.json.

Drawing from the saved numbers, never from a second computation, is what keeps the figures and
metrics.json in agreement; every number printed in the HTML carries a `data-key` naming its place in
metrics.json so that a test (or a suspicious reader) can check it.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import logging
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

if "ipykernel" not in sys.modules:  # in a notebook keep its inline backend; elsewhere never open a window
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Sarasa Gothic SC",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
)
"""Fonts with simplified Chinese glyphs, in order of preference; the first one installed is used."""
HEAD_NAMES = {"category": "诉求类别", "topic": "主题", "unit": "承办单位", "scope": "受理范围", "deadline": "办理时限", "dispatch": "自动派单"}
_font: str | bool | None = False  # False: not looked for yet


def cjk_font() -> str | None:
    """Configure matplotlib with a Chinese font; None (and one warning) when the machine has none.

    Without one, labels such as 投诉 render as empty boxes: the report is still written, but says so.
    On Debian/Ubuntu: `apt-get install fonts-wqy-microhei`.
    """
    global _font
    if _font is not False:
        return _font  # type: ignore[return-value]
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None and shutil.which("fc-list"):  # fonts fontconfig knows but matplotlib's cache does not
        try:
            out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            path = line.split(":")[0].strip()
            if path:
                try:
                    font_manager.fontManager.addfont(path)
                    found = font_manager.FontProperties(fname=path).get_name()
                    break
                except (OSError, RuntimeError, ValueError):
                    continue
    if found is None:
        message = "no Chinese font found (e.g. apt-get install fonts-wqy-microhei): Chinese labels in the plots will not render"
        logger.warning(message)
        warnings.warn(message, stacklevel=2)
    else:
        matplotlib.rcParams["font.sans-serif"] = [found, *matplotlib.rcParams["font.sans-serif"]]
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
    _font = found
    return found


def _name(head: str) -> str:
    return f"{HEAD_NAMES.get(head, head)} ({head})"


# --- figures: each reads only the metrics dict ---


def confusion_figure(head: str, confusion: dict[str, Any]) -> Figure:
    labels, matrix = confusion["labels"], confusion["matrix"]
    size = max(4.0, 0.42 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("预测 predicted")
    ax.set_ylabel("标注 gold")
    ax.set_title(f"混淆矩阵 confusion: {_name(head)}")
    if len(labels) <= 15:
        peak = max((max(row) for row in matrix), default=0) or 1
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                if value:
                    ax.text(j, i, str(value), ha="center", va="center", fontsize=8, color="white" if value > peak / 2 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def per_class_figure(head: str, scores: dict[str, Any], max_classes: int = 25) -> Figure:
    """Precision, recall and F1 per gold class (the most frequent ones when there are many)."""
    classes = sorted((c for c, v in scores["per_class"].items() if v["support"]), key=lambda c: (-scores["per_class"][c]["support"], c))
    classes = classes[:max_classes]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(classes) + 2), 4))
    width = 0.27
    for k, metric in enumerate(("precision", "recall", "f1")):
        values = [scores["per_class"][c][metric] for c in classes]
        ax.bar([i + (k - 1) * width for i in range(len(classes))], values, width, label=metric)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"各类 P/R/F1: {_name(head)}  (macro-F1 {scores['macro_f1']:.3f})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reliability_figure(calibration: dict[str, Any]) -> Figure:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for head, table in calibration.items():
        bins = [b for b in table["bins"] if b["n"]]
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label=f"{_name(head)} ECE {table['ece']:.3f}")
    ax.set_xlabel("置信度 confidence (top answer's score)")
    ax.set_ylabel("准确率 accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("可靠性图 reliability")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def coverage_figure(coverage: dict[str, Any]) -> Figure:
    """Risk-coverage: for each auto decision, the share decided alone against the precision of those decisions."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for head, table in coverage.items():
        curve = table["curve"]
        (line,) = ax.plot([p["coverage"] for p in curve], [p["accuracy"] for p in curve], label=_name(head))
        stored = table.get("at_model_threshold")
        if stored and stored["accuracy"] is not None:
            ax.plot([stored["coverage"]], [stored["accuracy"]], marker="s", color=line.get_color())
    for target in ("0.90", "0.95", "0.98"):
        ax.axhline(float(target), color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("自动决定比例 coverage (share decided with no one checking)")
    ax.set_ylabel("精确率 precision of those decisions")
    ax.set_xlim(0, 1.01)
    ax.set_title("风险-覆盖率 risk-coverage (■ the bundle's operating point)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def bars_figure(title: str, values: dict[str, float | None], ylim: float = 1.05) -> Figure:
    names = list(values)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(names) + 1), 3.6))
    heights = [values[n] or 0.0 for n in names]
    bars = ax.bar(names, heights, color="#4c72b0")
    for bar, height in zip(bars, heights, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, height + 0.01, f"{height:.3f}", ha="center", fontsize=8)
    ax.set_ylim(0, ylim)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def learning_curve_figure(curve: dict[str, Any]) -> Figure:
    """Local accuracy and macro-F1 against the number of local rows (mean, band = lowest to highest draw),
    beside the base alone (n = 0) and the scored rows' majority class."""
    rows = curve["summary"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ns = [r["n"] for r in rows]
    for key, colour, label in (("accuracy", "#1f77b4", "准确率 accuracy"), ("macro_f1", "#d62728", "macro-F1")):
        ax.plot(ns, [r[key] for r in rows], marker="o", color=colour, label=label)
        ax.fill_between(ns, [r[f"{key}_range"][0] for r in rows], [r[f"{key}_range"][1] for r in rows], color=colour, alpha=0.15)
    base = next((r for r in rows if r["n"] == 0), None)
    if base is not None:
        ax.axhline(base["accuracy"], color="#1f77b4", linestyle=":", linewidth=1, label=f"base alone {base['accuracy']:.3f}")
    majority = curve["majority"]
    ax.axhline(majority["accuracy"], color="grey", linestyle="--", linewidth=1, label=f"majority ({majority['label']}) {majority['accuracy']:.3f}")
    if any("home_accuracy" in r for r in rows):
        ax.plot(ns, [r.get("home_accuracy") for r in rows], marker="s", color="#2ca02c", linewidth=1, label="home frozen test accuracy")
    ax.set_xlabel("local rows trained beside the base (n)")
    ax.set_ylabel(_name(curve["arguments"]["head"]))
    ax.set_ylim(0, 1.02)
    ax.set_title(f"learning curve: {curve['scored']} local rows scored")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def learning_curve_html(metrics: dict[str, Any]) -> list[str]:
    curve = metrics.get("learning_curve")
    if not curve:
        return []
    majority = curve["majority"]
    parts = [
        f"<h2 id='learning-curve'>Learning curve ({html.escape(curve['arguments']['head'])})</h2>",
        f"<p>{curve['local_rows']} local rows: {curve['scored']} held out and scored in every run, {curve['pool']} to draw from;"
        f" majority class {html.escape(majority['label'])} {majority['accuracy']:.3f}. Each size is drawn"
        f" {curve['arguments']['repeats']} times (stratified, seeded); a local row counts {curve['arguments']['local_weight']} times.</p>",
        "<table><tr><th>n</th><th>draws</th><th>accuracy (range)</th><th>macro-F1 (range)</th><th>home accuracy</th></tr>",
    ]
    for row in curve["summary"]:
        home = f"{row['home_accuracy']:.3f}" if "home_accuracy" in row else "–"
        parts.append(
            f"<tr><td>{row['n']}</td><td>{row['draws']}</td><td>{row['accuracy']:.3f} ({row['accuracy_range'][0]:.3f}–{row['accuracy_range'][1]:.3f})</td>"
            f"<td>{row['macro_f1']:.3f} ({row['macro_f1_range'][0]:.3f}–{row['macro_f1_range'][1]:.3f})</td><td>{home}</td></tr>"
        )
    parts.append("</table>")
    if curve.get("sizes_skipped"):
        parts.append(f"<p>Sizes larger than the pool were skipped: {', '.join(map(str, curve['sizes_skipped']))}.</p>")
    return parts


def answers_html(metrics: dict[str, Any]) -> list[str]:
    """Consultations answered on the call: how many get standard answers, and one from a right unit in the top 3."""
    answers = metrics.get("answers")
    if not answers:
        return []
    low, high = answers["right_unit_top3_ci95"]
    return [
        f"<h2 id='answers'>Standard answers ({answers['n']} accepted consultations)</h2>",
        f"<p>{answers['answered']:.1%} get standard answers; an answer from a unit a dispatcher would accept is among the top 3"
        f" for {answers['right_unit_top3']:.1%} ({low:.1%}–{high:.1%}), {_value('answers|right_unit_top3_where_answered', answers['right_unit_top3_where_answered'])}"
        " of those answered.</p>",
    ]


def order_draft_html(metrics: dict[str, Any]) -> list[str]:
    """The order draft against the reference elements: per element, the summary's coverage, the caller's state."""
    draft = metrics.get("order_draft")
    if not draft:
        return []
    parts = [
        f"<h2 id='order-draft'>Order draft ({draft['n']} calls with reference elements)</h2>",
        "<table><tr><th>element</th><th>said</th><th>exact (95% CI)</th><th>overlap F1</th><th>overlap F1 where said</th>"
        "<th>found where said</th><th>found where not said</th></tr>",
    ]
    for name, row in draft["elements"].items():
        parts.append(
            f"<tr><td>{html.escape(name)}</td><td>{row['said']}</td><td>{row['exact']:.3f} ({row['exact_ci95'][0]:.3f}–{row['exact_ci95'][1]:.3f})</td>"
            f"<td>{row['overlap_f1']:.3f}</td><td>{_value(f'order_draft|elements|{name}|overlap_f1_where_said', row['overlap_f1_where_said'])}</td>"
            f"<td>{_value(f'order_draft|elements|{name}|found_where_said', row['found_where_said'])}</td>"
            f"<td>{row['found_where_not_said']}</td></tr>"
        )
    parts.append("</table>")
    summary = draft["summary"]
    parts.append(
        f"<p>Summary: {summary['within_limit']} of {summary['n']} within 60 characters; it holds the reference address for"
        f" {_value('order_draft|summary|address|covered', summary['address']['covered'])} (n={summary['address']['n']}) and the ask for"
        f" {_value('order_draft|summary|ask|covered', summary['ask']['covered'])} (n={summary['ask']['n']}).</p>"
    )
    for key, heading in (
        ("caller_state", "Caller state"),
        ("caller_state_all", "Caller state of every call with a reference state (the calls above and the states-only labels of the others)"),
    ):
        if draft.get(key):
            parts.append(_state_paragraph(heading, key, draft[key]))
    return parts


def _state_paragraph(heading: str, key: str, state: dict[str, Any]) -> str:
    """One caller-state score (`training.elements_eval.score_states`) as a sentence; `key` is where it lives."""
    interval = state.get("macro_f1_ci95")  # reports written before the interval existed have none
    bootstrap = f" ({interval[0]:.3f}–{interval[1]:.3f}, bootstrap)" if interval else ""
    return (
        f"<p>{heading}: accuracy {state['accuracy']:.3f} ({state['accuracy_ci95'][0]:.3f}–{state['accuracy_ci95'][1]:.3f}, n={state['n']}),"
        f" macro-F1 {state['macro_f1']:.3f}{bootstrap}, recall of 求救 {_value(f'order_draft|{key}|rescue_recall', state['rescue_recall'])}"
        f" (n={state['rescue_n']}).</p>"
    )


def unit_topk(metrics: dict[str, Any]) -> dict[str, float]:
    return {f"top-{k}": metrics["unit"][f"top{k}_accuracy"] for k in (1, 3, 5)}


def scope_rates(metrics: dict[str, Any]) -> dict[str, float | None]:
    scope = metrics["scope"]
    return {"误拒 false refusal": scope["false_refusal_rate"], "漏拒 missed refusal": scope["missed_refusal_rate"]}


def figures(metrics: dict[str, Any]) -> dict[str, Figure]:
    """Every plot of the report, keyed by a file-safe name, drawn from `metrics` alone."""
    cjk_font()
    out: dict[str, Figure] = {}
    if "unit" in metrics:
        out["unit_topk"] = bars_figure("承办单位 top-k 准确率 unit top-k accuracy", unit_topk(metrics))
    if "scope" in metrics:
        rates = scope_rates(metrics)
        out["scope_errors"] = bars_figure("受理范围错误率 scope error rates", rates, ylim=max(0.2, *(v or 0 for v in rates.values())) + 0.05)
    if metrics.get("calibration"):
        out["reliability"] = reliability_figure(metrics["calibration"])
    if metrics.get("coverage"):
        out["coverage"] = coverage_figure(metrics["coverage"])
    if metrics.get("learning_curve"):
        out["learning_curve"] = learning_curve_figure(metrics["learning_curve"])
    for head in ("category", "topic", "unit", "scope", "deadline"):
        if head in metrics and "per_class" in metrics[head]:
            out[f"per_class_{head}"] = per_class_figure(head, metrics[head])
        if head in metrics.get("confusion", {}):
            out[f"confusion_{head}"] = confusion_figure(head, metrics["confusion"][head])
    return out


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


# --- HTML ---


def _value(key: str, value: Any) -> str:
    """A number in the HTML, tagged with where it lives in metrics.json."""
    shown = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
    return f'<span data-key="{html.escape(key)}">{html.escape(shown)}</span>'


def _lookup(metrics: dict[str, Any], key: str) -> Any:
    node: Any = metrics
    for part in key.split("|"):
        if isinstance(node, list) and part.isdigit():
            node = node[int(part)] if int(part) < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def _summary_rows(metrics: dict[str, Any]) -> Iterable[tuple[str, str]]:
    keys = [
        ("category accuracy / macro-F1", ["category|accuracy", "category|macro_f1"]),
        ("topic accuracy / macro-F1", ["topic|accuracy", "topic|macro_f1"]),
        ("unit top-1 / top-3 / top-5", ["unit|top1_accuracy", "unit|top3_accuracy", "unit|top5_accuracy"]),
        ("scope false refusals / missed refusals", ["scope|false_refusal_rate", "scope|missed_refusal_rate"]),
        ("scope out-of-scope recall / emergency redirects", ["scope|out_of_scope_recall", "scope|emergency_redirect_accuracy"]),
        ("scope right reason / emergencies given 24 hours", ["scope|reason_accuracy", "scope|emergency_deadline_share"]),
        ("district accuracy where a place is said", ["district|accuracy_where_place_said"]),
        ("deadline-class accuracy", ["deadline|accuracy"]),
        ("share needing review (needs_review)", ["needs_review_share"]),
    ]
    keys += [
        ("unit top-1 / top-3, the primary unit only", ["unit|exact_top1", "unit|exact_top3"]),
        ("dispatched with no one checking (share of accepted) / unit precision there", ["automation|dispatch|coverage", "automation|dispatch|precision"]),
        ("category auto-filled (share) / precision", ["automation|category|coverage", "automation|category|precision"]),
    ]
    for head in ("category", "topic", "unit"):
        keys.append((f"{head} ECE", [f"calibration|{head}|ece"]))
    for head in ("category", "unit", "scope", "dispatch"):
        keys.append(
            (
                f"{head}: share decided alone at 90% / 95% / 98% precision",
                [f"coverage|{head}|at_precision|{p}|coverage" for p in ("0.90", "0.95", "0.98")],
            )
        )
        keys.append(
            (
                f"{head}: at the bundle's operating point: coverage / precision",
                [f"coverage|{head}|at_model_threshold|coverage", f"coverage|{head}|at_model_threshold|accuracy"],
            )
        )
    for label, paths in keys:
        if any(_lookup(metrics, p) is not None for p in paths):
            yield label, " / ".join(_value(p, _lookup(metrics, p)) for p in paths)


def _interval_cell(key: str, interval: list[float] | None) -> str:
    if not interval:
        return ""
    return f"{_value(key + '|0', interval[0])} – {_value(key + '|1', interval[1])}"


def ceiling_html(metrics: dict[str, Any]) -> list[str]:
    """The category head against two annotators of the same messages: their agreement, the accuracy against each
    and where both agree, and the gap (`category_ceiling`)."""
    from training.evaluate import ceiling_rows

    ceiling = metrics.get("category_ceiling")
    if not ceiling:
        return []
    parts = [
        "<h2 id='category-ceiling'>Request type: the ceiling of two annotators</h2>",
        f"<p>Over the {_value('category_ceiling|n', ceiling.get('n'))} messages that both annotators labelled. What they agree on"
        " is as good as the labels allow; the gap is how far the model is below it.</p>",
        "<table><tr><th></th><th>n</th><th>figure</th><th>95% interval</th></tr>",
    ]
    for label, key, _, value, interval in ceiling_rows(ceiling):
        block = key.split("|")[0]
        n_key = "category_ceiling|n" if block == "gap" else f"category_ceiling|{block}|n"
        parts.append(
            f"<tr><td>{html.escape(label)}</td><td>{_value(n_key, _lookup(metrics, n_key))}</td>"
            f"<td>{_value('category_ceiling|' + key, value)}</td><td>{_interval_cell(f'category_ceiling|{block}|interval', interval)}</td></tr>"
        )
    parts.append("</table>")
    return parts


def per_class_html(metrics: dict[str, Any], head: str = "category") -> list[str]:
    """Per class: precision over the times it was predicted and recall over its support, each with its n and 95%
    interval (rare classes are wide ranges, not numbers)."""
    per_class = (metrics.get(head) or {}).get("per_class") or {}
    if not any("recall_interval" in v for v in per_class.values()):
        return []
    parts = [
        f"<h2 id='per-class-{head}'>{html.escape(_name(head))}: per class, with n and 95% intervals</h2>",
        "<table><tr><th>class</th><th>precision</th><th>n predicted</th><th>95% interval</th>"
        "<th>recall</th><th>n (support)</th><th>95% interval</th><th>F1</th></tr>",
    ]
    for label, v in sorted(per_class.items(), key=lambda item: (-item[1]["support"], item[0])):
        key = f"{head}|per_class|{label}"
        parts.append(
            f"<tr><td>{html.escape(label)}</td><td>{_value(key + '|precision', v['precision'])}</td><td>{_value(key + '|precision_n', v.get('precision_n'))}</td>"
            f"<td>{_interval_cell(key + '|precision_interval', v.get('precision_interval'))}</td>"
            f"<td>{_value(key + '|recall', v['recall'])}</td><td>{_value(key + '|recall_n', v.get('recall_n'))}</td>"
            f"<td>{_interval_cell(key + '|recall_interval', v.get('recall_interval'))}</td><td>{_value(key + '|f1', v['f1'])}</td></tr>"
        )
    parts.append("</table>")
    return parts


def render_html(metrics: dict[str, Any], images: dict[str, bytes], title: str) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:14px}"
        "img{max-width:100%;display:block;margin:1em 0}.text{max-width:520px}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>model {_value('model_version', metrics.get('model_version'))} · rows {_value('n', metrics.get('n'))}"
        f" · written {esc(dt.datetime.now(dt.UTC).isoformat(timespec='seconds'))}. Every figure is drawn from"
        " <code>metrics.json</code> next to this file.</p>",
        "<h2>Summary</h2><table><tr><th>metric</th><th>value</th></tr>",
    ]
    parts += [f"<tr><td>{esc(label)}</td><td>{cells}</td></tr>" for label, cells in _summary_rows(metrics)]
    parts.append("</table>")
    parts += ceiling_html(metrics)
    parts += learning_curve_html(metrics)
    parts += answers_html(metrics)
    parts += order_draft_html(metrics)
    parts += per_class_html(metrics, "category")
    thresholds = metrics.get("thresholds")
    if thresholds:
        targets = thresholds.get("targets") or {}
        parts.append(
            f"<p>Auto thresholds stored in the bundle (chosen on {esc(str(thresholds.get('chosen_on')))}, each for its target"
            f" precision {esc(', '.join(f'{k} {v}' for k, v in targets.items()) or str(thresholds.get('target_precision')))}):"
            f" category {_value('thresholds|category', thresholds['category'])},"
            f" unit {_value('thresholds|unit', thresholds['unit'])}, scope {_value('thresholds|scope', thresholds.get('scope'))}."
            " A call is dispatched alone when it is accepted, its unit is auto and, for a district or zone, the place decided"
            " the district; the topic is shown and never gates review.</p>"
        )
    recalibration = metrics.get("recalibration")
    if recalibration:
        chosen = ", ".join(
            f"{esc(head)} {esc(info['method'])}" + (f" (T={info['temperature']})" if "temperature" in info else "")
            for head, info in recalibration.items()
        )
        parts.append(
            "<p>Recalibration stored in the bundle, chosen per head by 5-fold log-loss on out-of-fold predictions"
            f" (none, temperature or isotonic): {chosen}. The reliability diagram shows the scores after it.</p>"
        )
    captions = {
        "unit_topk": "承办单位 top-k: a unit a dispatcher would accept among the first k suggested.",
        "scope_errors": "误拒: in-scope calls refused; 漏拒: out-of-scope calls accepted.",
        "reliability": "Reliability: per confidence bin, the accuracy of the top answer against its mean score; ECE weights the gaps by bin size.",
        "learning_curve": "Learning curve: the head's accuracy and macro-F1 on the scored local rows against the local rows trained beside the base; bands span the draws.",
        "coverage": "Risk-coverage: deciding alone only above a confidence, how many are decided and how many of those are right; ■ is the bundle's threshold.",
    }
    parts.append("<h2>Figures</h2>")
    for name, data in images.items():
        caption = captions.get(name, name.replace("_", " "))
        encoded = base64.b64encode(data).decode()
        parts.append(f"<figure id='{esc(name)}'><img alt='{esc(name)}' src='data:image/png;base64,{encoded}'><figcaption>{esc(caption)}</figcaption></figure>")
    misses = metrics.get("scope_misses", [])
    if misses:
        parts.append(f"<h2 id='scope-misses'>Scope mistakes ({len(misses)}: wrongly refused first, then refusals missed, wrong numbers, wrong reasons)</h2>")
        parts.append("<table><tr><th>id</th><th>mistake</th><th>should be</th><th>suggested</th><th>why</th><th>text</th></tr>")
        for row in misses:
            parts.append(
                f"<tr><td>{esc(row['id'])}</td><td>{esc(row['kind'])}</td><td>{esc(row['gold'])}</td><td>{esc(row['decided'])}</td>"
                f"<td>{esc(row['why'])}</td><td class='text'>{esc(row['text'])}</td></tr>"
            )
        parts.append("</table>")
    worst = metrics.get("worst", [])
    if worst:
        parts.append("<h2>Worst-classified examples (most confident mistakes; masked text)</h2>")
        parts.append("<table><tr><th>id</th><th>head</th><th>gold</th><th>predicted</th><th>score</th><th>text</th></tr>")
        for i, row in enumerate(worst):
            parts.append(
                f"<tr><td>{esc(row['id'])}</td><td>{esc(row['head'])}</td><td>{esc(row['gold'])}</td><td>{esc(row['predicted'])}</td>"
                f"<td>{_value(f'worst|{i}|score', row['score'])}</td><td class='text'>{esc(row['text'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(metrics: dict[str, Any], out_dir: str | Path, *, title: str | None = None, save_png: bool = True) -> Path:
    """Write metrics.json, report.html (plots embedded) and, with `save_png`, each plot as PNG; returns the HTML."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    # reread: the plots are drawn from exactly what was written (rounding and all)
    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    images = {name: png(fig) for name, fig in figures(saved).items()}
    if save_png:
        (out / "figures").mkdir(exist_ok=True)
        for name, data in images.items():
            (out / "figures" / f"{name}.png").write_bytes(data)
    page = out / "report.html"
    page.write_text(render_html(saved, images, title or f"Evaluation report: {saved.get('model_version')}"), encoding="utf-8")
    return page
