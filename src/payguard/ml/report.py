"""The evaluation as one self-contained HTML page: metrics side by side, ROC and PR curves of
the model and the baseline, the score histogram, per-typology recall and per-day drift.

The charts are inline SVG drawn here (no plotting library, no script, nothing fetched), and
every piece of text from the data goes through `html.escape`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt

_W, _H, _PAD = 420, 320, 44
_MAX_POINTS = 400
_COLOURS = {"model": "#1f6feb", "baseline": "#d97706"}
_HIST_BINS = 40

Array = npt.NDArray[Any]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape(str(value))


def _thin(xs: Array, ys: Array) -> tuple[Array, Array]:
    """At most `_MAX_POINTS` points of a curve, keeping its ends."""
    if len(xs) <= _MAX_POINTS:
        return xs, ys
    keep = np.unique(np.linspace(0, len(xs) - 1, _MAX_POINTS).astype(int))
    return xs[keep], ys[keep]


def _axes(title: str, x_label: str, y_label: str) -> list[str]:
    inner_w, inner_h = _W - 2 * _PAD, _H - 2 * _PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">',
        f'<text x="{_W / 2}" y="18" text-anchor="middle" class="title">{escape(title)}</text>',
        f'<rect x="{_PAD}" y="{_PAD}" width="{inner_w}" height="{inner_h}" class="frame"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = _PAD + tick * inner_w
        y = _H - _PAD - tick * inner_h
        parts.append(f'<line x1="{x:.1f}" y1="{_H - _PAD}" x2="{x:.1f}" y2="{_PAD}" class="grid"/>')
        parts.append(f'<line x1="{_PAD}" y1="{y:.1f}" x2="{_W - _PAD}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{_H - _PAD + 14}" text-anchor="middle">{tick:g}</text>')
        parts.append(f'<text x="{_PAD - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<text x="{_W / 2}" y="{_H - 8}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(
        f'<text x="12" y="{_H / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_H / 2})">{escape(y_label)}</text>'
    )
    return parts


def _polyline(xs: Array, ys: Array, colour: str, name: str) -> str:
    inner_w, inner_h = _W - 2 * _PAD, _H - 2 * _PAD
    xs, ys = _thin(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    points = " ".join(
        f"{_PAD + x * inner_w:.1f},{_H - _PAD - y * inner_h:.1f}"
        for x, y in zip(xs, ys, strict=True)
    )
    return (
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
        f"<title>{escape(name)}</title></polyline>"
    )


def _legend(names: Sequence[tuple[str, str]]) -> str:
    items = []
    for i, (name, colour) in enumerate(names):
        y = _PAD + 14 + i * 16
        items.append(
            f'<rect x="{_W - _PAD - 110}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{_W - _PAD - 96}" y="{y}">{escape(name)}</text>'
        )
    return "".join(items)


def roc_svg(labels: Array, curves: Mapping[str, Array]) -> str:
    from sklearn.metrics import roc_curve

    parts = _axes("ROC curve", "false-positive rate", "true-positive rate")
    parts.append(_polyline(np.array([0, 1]), np.array([0, 1]), "#999", "chance"))
    for name, scores in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        parts.append(_polyline(fpr, tpr, _COLOURS.get(name, "#444"), name))
    parts.append(_legend([(n, _COLOURS.get(n, "#444")) for n in curves]))
    parts.append("</svg>")
    return "".join(parts)


def pr_svg(labels: Array, curves: Mapping[str, Array]) -> str:
    from sklearn.metrics import precision_recall_curve

    parts = _axes("Precision-recall curve", "recall", "precision")
    rate = float(np.mean(labels)) if len(labels) else 0.0
    parts.append(_polyline(np.array([0, 1]), np.array([rate, rate]), "#999", "fraud rate"))
    for name, scores in curves.items():
        precision, recall, _ = precision_recall_curve(labels, scores)
        parts.append(_polyline(recall[::-1], precision[::-1], _COLOURS.get(name, "#444"), name))
    parts.append(_legend([(n, _COLOURS.get(n, "#444")) for n in curves]))
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(labels: Array, scores: Array) -> str:
    """Share of each class per score bin (so the rare class is visible)."""
    parts = _axes("Model score histogram", "score", "share of the class")
    edges = np.linspace(0, 1, _HIST_BINS + 1)
    inner_w, inner_h = _W - 2 * _PAD, _H - 2 * _PAD
    shares = {}
    for name, chosen in (("legit", ~labels), ("fraud", labels)):
        counts, _ = np.histogram(np.clip(scores[chosen], 0, 1), bins=edges)
        total = counts.sum()
        shares[name] = counts / total if total else counts.astype(float)
    top = max(float(max(s.max(initial=0) for s in shares.values())), 1e-9)
    width = inner_w / _HIST_BINS / 2
    for offset, (name, colour) in enumerate((("legit", "#16a34a"), ("fraud", "#dc2626"))):
        for i, share in enumerate(shares[name]):
            height = share / top * inner_h
            x = _PAD + i * 2 * width + offset * width
            parts.append(
                f'<rect x="{x:.1f}" y="{_H - _PAD - height:.1f}" width="{width:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{escape(name)} '
                f"{edges[i]:.3f}-{edges[i + 1]:.3f}: {share:.4f}</title></rect>"
            )
    parts.append(_legend([("legit", "#16a34a"), ("fraud", "#dc2626")]))
    parts.append(f'<text x="{_PAD + 4}" y="{_PAD - 6}">y scaled to {top:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _metrics_table(report: Mapping[str, Any]) -> str:
    """Model and baseline on the test period as is and, when the report has it, without the
    accounts known to be compromised when the test period started."""
    sides: list[tuple[str, Mapping[str, Any]]] = [
        ("model", report.get("model") or {}),
        ("baseline (logistic)", report.get("baseline") or {}),
    ]
    without = report.get("without_known_compromised") or {}
    if without:
        sides += [
            ("model, known compromised out", without.get("model") or {}),
            ("baseline, known compromised out", without.get("baseline") or {}),
        ]
    model = sides[0][1]
    head = "".join(f"<th>{escape(name)}</th>" for name, _ in sides)
    lines = [f"<table><tr><th>metric</th>{head}</tr>"]

    def row(label: str, value: Any) -> None:
        cells = "".join(f"<td>{_fmt(value(metrics))}</td>" for _, metrics in sides)
        lines.append(f"<tr><td>{escape(label)}</td>{cells}</tr>")

    for label, key in (
        ("events", "events"),
        ("frauds", "frauds"),
        ("average precision", "average_precision"),
        ("AUC ROC", "auc_roc"),
    ):
        row(label, lambda m, key=key: m.get(key))
    for point in model.get("recall_at_fpr") or {}:
        row(f"recall at {point} FPR", lambda m, p=point: (m.get("recall_at_fpr") or {}).get(p))
    row(
        f"account precision@{model.get('top_k', '-')} a day (caught accounts out, ÷ k)",
        lambda m: m.get("precision_at_k"),
    )
    lines.append("</table>")
    if without:
        lines.append(
            f"<p>Known compromised: {_fmt(without.get('accounts_excluded'))} accounts with a "
            "fraud label known before the test period started; left out: "
            f"{_fmt(without.get('events_excluded'))} events, "
            f"{_fmt(without.get('frauds_excluded'))} frauds.</p>"
        )
    lines.append(_DEFINITIONS)
    return "".join(lines)


_DEFINITIONS = (
    "<p class=note>Average precision: area under the precision-recall curve (step-wise). "
    "Recall at x FPR: share of frauds caught while flagging at most a share x of legitimate "
    "events. Account precision@k: per UTC day, each account's highest score; accounts with a "
    "fraud on an earlier test day are left out; the k highest are the alerts; fraudulent "
    "alerts ÷ k, averaged over days. Compare published tables with the columns without the "
    "known compromised accounts.</p>"
)


def _precision_by_day_table(report: Mapping[str, Any]) -> str:
    model = (report.get("model") or {}).get("precision_at_k_by_day") or []
    if not model:
        return ""
    baseline = {
        d.get("day"): d for d in (report.get("baseline") or {}).get("precision_at_k_by_day") or []
    }
    lines = [
        f"<h2>Account precision@{_fmt((report.get('model') or {}).get('top_k'))} per day</h2>",
        "<table><tr><th>day</th><th>accounts</th><th>caught earlier (left out)</th>"
        "<th>model hits</th><th>model precision</th><th>baseline hits</th>"
        "<th>baseline precision</th></tr>",
    ]
    for day in model:
        other = baseline.get(day.get("day")) or {}
        lines.append(
            f"<tr><td>{escape(str(day.get('day')))}</td><td>{_fmt(day.get('accounts'))}</td>"
            f"<td>{_fmt(day.get('excluded'))}</td><td>{_fmt(day.get('hits'))}</td>"
            f"<td>{_fmt(day.get('precision'))}</td><td>{_fmt(other.get('hits'))}</td>"
            f"<td>{_fmt(other.get('precision'))}</td></tr>"
        )
    lines.append("</table>")
    return "".join(lines)


def _typology_table(report: Mapping[str, Any]) -> str:
    model = report.get("model", {}).get("typology_recall") or {}
    baseline = report.get("baseline", {}).get("typology_recall") or {}
    lines = [
        "<table><tr><th>typology</th><th>fraud events</th><th>model recall</th>"
        "<th>baseline recall</th></tr>"
    ]
    for name in sorted(set(model) | set(baseline)):
        m = model.get(name) or {}
        b = baseline.get(name) or {}
        lines.append(
            f"<tr><td>{escape(name)}</td><td>{_fmt(m.get('events', b.get('events')))}</td>"
            f"<td>{_fmt(m.get('recall'))}</td><td>{_fmt(b.get('recall'))}</td></tr>"
        )
    lines.append("</table>")
    return "".join(lines)


def _drift_table(drift: Sequence[Mapping[str, Any]]) -> str:
    if not drift:
        return ""
    columns = list((drift[0].get("features") or {}).keys())
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    lines = [
        "<h2>Drift (PSI against the training period)</h2>",
        f"<table><tr><th>day</th><th>events</th><th>score</th>{head}</tr>",
    ]
    for day in drift:
        cells = "".join(f"<td>{_fmt((day.get('features') or {}).get(c))}</td>" for c in columns)
        lines.append(
            f"<tr><td>{escape(str(day.get('day')))}</td><td>{_fmt(day.get('events'))}</td>"
            f"<td>{_fmt(day.get('score_psi'))}</td>{cells}</tr>"
        )
    lines.append("</table>")
    return "".join(lines)


def _tuning_table(report: Mapping[str, Any]) -> str:
    tuning = report.get("tuning") or {}
    candidates = tuning.get("candidates") or []
    if not candidates:
        return ""
    keys = list((candidates[0].get("params") or {}).keys())
    head = "".join(f"<th>{escape(str(k))}</th>" for k in keys)
    folds = len(tuning.get("folds") or [])
    lines = [
        f"<h2>Tuning ({len(candidates)} candidates, {folds} prequential folds in the training "
        "period, average precision)</h2>",
        f"<table><tr><th>#</th>{head}<th>AP per fold</th><th>mean AP</th></tr>",
    ]
    best = tuning.get("best")
    for number, candidate in enumerate(candidates, start=1):
        params = candidate.get("params") or {}
        cells = "".join(f"<td>{_fmt(params.get(k))}</td>" for k in keys)
        per_fold = ", ".join(_fmt(x) for x in candidate.get("fold_average_precision") or [])
        mark = " (chosen)" if params == best else ""
        lines.append(
            f"<tr><td>{number}{mark}</td>{cells}<td>{per_fold}</td>"
            f"<td>{_fmt(candidate.get('mean_average_precision'))}</td></tr>"
        )
    lines.append("</table>")
    return "".join(lines)


_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#111}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}td:first-child,th:first-child{text-align:left}
.chart{margin:0 12px 12px 0;font-size:11px}.chart .title{font-size:13px;font-weight:600}
.frame{fill:none;stroke:#555}.grid{stroke:#eee}.note{color:#555;max-width:60em}
"""


def render_html(
    report: Mapping[str, Any],
    labels: Array,
    model_scores: Array,
    baseline_scores: Array,
    drift: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The whole report page."""
    labels = np.asarray(labels, dtype=bool)
    curves = {"model": np.asarray(model_scores), "baseline": np.asarray(baseline_scores)}
    split = report.get("split") or {}
    data = report.get("data") or {}
    version = report.get("model_version")
    both = 0 < labels.sum() < len(labels)
    charts = (
        roc_svg(labels, curves) + pr_svg(labels, curves) + histogram_svg(labels, curves["model"])
        if both
        else "<p>The test period needs both fraud and legitimate events to draw curves.</p>"
    )
    facts = "".join(
        f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>"
        for k, v in [*data.items(), *split.items()]
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>payguard model evaluation{escape(f' v{version}' if version else '')}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Model evaluation{escape(f' — version {version}' if version else '')}</h1>"
        f"<h2>Held-out period</h2>{_metrics_table(report)}"
        f"<div>{charts}</div>"
        f"<h2>Recall per typology (at 1 % false-positive rate)</h2>{_typology_table(report)}"
        f"{_precision_by_day_table(report)}"
        f"{_tuning_table(report)}"
        f"{_drift_table(drift or [])}"
        f"<h2>Data and split</h2><table>{facts}</table>"
        "</body></html>"
    )
