"""The report's charts, drawn with matplotlib as SVG text to inline in the page (no script, no font or image
fetched: text stays text, in the browser's sans-serif font).

Each function takes plain data and returns one `<svg>` element carrying `data-chart="<name>"`.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from decimal import Decimal

from reports.money import compact, percent, units

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
]  # fmt: skip
GREY = "#c8c8c8"
INK = "#222222"
STYLE = {
    "svg.fonttype": "none",  # text as <text>, not glyph paths: selectable, and found in the DOM
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#888888",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "legend.frameon": False,
}


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def label(text: str, limit: int = 42) -> str:
    """User text as a label: `$` would start matplotlib's math mode; long names are shortened."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig, name: str, title: str) -> str:
    """The figure as an inline <svg>: no XML prolog, scaled to the page width, named for tests and readers."""
    import matplotlib

    out = io.StringIO()
    # Text is written as text and drawn by the browser: a glyph matplotlib's font lacks (an emoji in a name)
    # only blurs its layout estimate, and the warning would reach the user's terminal. The filter is (re)added
    # for each drawing, not swapped in and out with warnings.catch_warnings, which replaces process-wide state
    # and is not safe in the service's threads (adding an identical filter again replaces it).
    warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
    with matplotlib.rc_context({"svg.hashsalt": name}):
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    svg = out.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.DOTALL)
    svg = re.sub(r'<svg([^>]*?) width="[\d.]+pt" height="[\d.]+pt"', r"<svg\1", svg, count=1)
    attributes = (
        f'data-chart="{name}" role="img" aria-label="{_attr(title)}" class="chart" preserveAspectRatio="xMinYMin meet"'
    )
    return svg.replace("<svg", f"<svg {attributes}", 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def _money_axis(ax, currency: str, axis: str = "y") -> None:
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda v, _: compact(Decimal(str(v)), None))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)
    (ax.set_ylabel if axis == "y" else ax.set_xlabel)(currency)


def budget_chart(
    quarters: Sequence[str],
    streams: Sequence[tuple[str, Sequence[Decimal]]],
    reserve: Sequence[Decimal],
    budget: Sequence[Decimal],
    currency: str,
) -> str:
    """Stacked allocation per value stream and quarter, the unallocated reserve on top, the budget as a mark."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = _figure(8, 3.6)
        ax = fig.add_subplot()
        x = range(len(quarters))
        bottom = [0.0] * len(quarters)
        for i, (name, amounts) in enumerate(streams):
            heights = [float(a) for a in amounts]
            ax.bar(x, heights, bottom=bottom, color=color(i), label=label(name, 30), width=0.6)
            bottom = [b + h for b, h in zip(bottom, heights)]
        ax.bar(x, [float(r) for r in reserve], bottom=bottom, color="white", edgecolor=GREY, hatch="///", width=0.6,
               label="unallocated")  # fmt: skip
        ax.scatter(x, [float(b) for b in budget], marker="_", s=900, color=INK, label="total budget", zorder=3)
        ax.set_xticks(list(x), [label(q, 12) for q in quarters])
        _money_axis(ax, currency)
        ax.set_title("Budget per value stream and quarter")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        return _svg(fig, "budget", "Budget per value stream and quarter")


def roadmap_chart(
    quarters: Sequence[str], rows: Sequence[tuple[str, str, int, int, int, bool]], streams: Sequence[str]
) -> str:
    """A Gantt by value stream: rows of (label, stream, stream index, start index, duration, mandatory)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = _figure(8, max(1.6, 0.6 + 0.26 * max(len(rows), 1)))
        ax = fig.add_subplot()
        for y, (name, _stream, index, start, duration, mandatory) in enumerate(rows):
            ax.barh(y, duration, left=start, height=0.7, color=color(index), edgecolor=INK if mandatory else "none",
                    linewidth=1.2 if mandatory else 0)  # fmt: skip
            ax.text(start + 0.05, y, label(name + (" (mandatory)" if mandatory else ""), 60), va="center", fontsize=7,
                    color="white" if duration >= 2 else INK)  # fmt: skip
        groups = [label(r[1], 22) if y == 0 or r[1] != rows[y - 1][1] else "" for y, r in enumerate(rows)]
        ax.set_yticks(range(len(rows)), groups, fontsize=7)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, len(quarters))
        ax.set_xticks([q + 0.5 for q in range(len(quarters))], [label(q, 12) for q in quarters])
        for q in range(1, len(quarters)):
            ax.axvline(q, color="#eeeeee", linewidth=0.8, zorder=0)
        ax.set_title("Roadmap: funded MMPs by value stream (outlined: mandatory)")
        return _svg(fig, "roadmap", "Roadmap by value stream")


def capacity_chart(quarters: Sequence[str], pools: Sequence[str], cells: dict[tuple[int, int], tuple]) -> str:
    """Use per pool and quarter: cells[(pool, quarter)] = (used, available, purchased); colour = share used."""
    import matplotlib
    from matplotlib.patches import Rectangle

    with matplotlib.rc_context(STYLE):
        fig = _figure(8, max(1.4, 0.6 + 0.32 * len(pools)))
        ax = fig.add_subplot()
        cmap = matplotlib.colormaps["YlOrRd"]
        for (p, q), (used, available, purchased) in cells.items():
            room = available + purchased
            share = float(used / room) if room else (1.0 if used else 0.0)
            ax.add_patch(Rectangle((q, p), 1, 1, facecolor=cmap(min(share, 1.0) * 0.85), edgecolor="white"))
            text = f"{units(used)} / {units(available)}" + (f" +{units(purchased)}" if purchased else "")
            ax.text(q + 0.5, p + 0.5, text, ha="center", va="center", fontsize=7, color=INK if share < 0.7 else "white")
        ax.set_xlim(0, len(quarters))
        ax.set_ylim(len(pools), 0)
        ax.set_xticks([q + 0.5 for q in range(len(quarters))], [label(q, 12) for q in quarters])
        ax.set_yticks([p + 0.5 for p in range(len(pools))], [label(p, 30) for p in pools], fontsize=7)
        ax.tick_params(length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_title("Capacity: used / available (+ bought) per pool and quarter")
        return _svg(fig, "capacity", "Capacity use per pool and quarter")


def investment_chart(rows: Sequence[tuple[str, Decimal, Decimal | None, Decimal | None, bool]]) -> str:
    """Share of the spend per category (category, share, min, max, within) with the guardrail band."""
    import matplotlib
    from matplotlib.ticker import PercentFormatter

    with matplotlib.rc_context(STYLE):
        fig = _figure(8, max(1.4, 0.7 + 0.4 * len(rows)))
        ax = fig.add_subplot()
        for y, (_name, share, low, high, within) in enumerate(rows):
            if low is not None or high is not None:
                lo, hi = float(low or 0), float(high if high is not None else 1)
                ax.barh(y, hi - lo, left=lo, height=0.8, color="#e8f1e0", edgecolor="#6a9f4b", linestyle="--")
            ax.barh(y, float(share), height=0.45, color="#2ca02c" if within else "#d62728")
            ax.text(float(share) + 0.01, y, percent(share), va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), [label(r[0], 24) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, 1.05)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title("Investment mix: share of funded MMP spend (band: guardrail)")
        return _svg(fig, "investment_mix", "Investment mix against its guardrails")


def key_results_chart(rows: Sequence[tuple[str, Decimal, Decimal]]) -> str:
    """Achieved progress against the target per key result: (label, achieved, target)."""
    import matplotlib
    from matplotlib.ticker import PercentFormatter

    with matplotlib.rc_context(STYLE):
        fig = _figure(8, max(1.4, 0.7 + 0.4 * len(rows)))
        ax = fig.add_subplot()
        for y, (_name, achieved, target) in enumerate(rows):
            share = float(achieved / target) if target else 0.0
            ax.barh(y, 1.0, height=0.6, color="white", edgecolor=GREY)
            ax.barh(y, share, height=0.6, color="#9467bd")
            ax.text(1.02, y, f"{units(achieved)} / {units(target)}", va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), [label(r[0], 30) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, 1.3)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title("Key results: progress credited against target")
        return _svg(fig, "key_results", "Key results against their targets")


def uplift_chart(ranking: Decimal, optimizer: Decimal, currency: str) -> str:
    """The WSJF ranking's value beside the optimizer's."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = _figure(8, 1.7)
        ax = fig.add_subplot()
        ax.barh([0, 1], [float(ranking), float(optimizer)], color=[GREY, "#1f77b4"], height=0.6)
        for y, amount in ((0, ranking), (1, optimizer)):
            ax.text(float(amount), y, "  " + compact(amount, currency), va="center", fontsize=8)
        ax.set_yticks([0, 1], ["WSJF ranking", "optimizer"])
        ax.set_ylim(1.5, -0.5)
        top = float(max(ranking, optimizer, Decimal(1)))
        ax.set_xlim(min(0.0, float(min(ranking, optimizer))), top * 1.25)
        _money_axis(ax, currency, "x")
        gain = optimizer - ranking
        ax.set_title(f"Value against the WSJF ranking: {compact(gain, currency, sign=True)}")
        return _svg(fig, "uplift", "Value against the WSJF ranking")


def scenarios_chart(rows: Sequence[tuple[str, Decimal | None, str]], currency: str) -> str:
    """Value of the base plan and each scenario: (name, value or None, status)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = _figure(8, max(1.6, 0.7 + 0.4 * len(rows)))
        ax = fig.add_subplot()
        base = rows[0][1] if rows else None
        for y, (_name, value, status) in enumerate(rows):
            if value is None:
                ax.text(0, y, f"  {status.replace('_', ' ')}", va="center", fontsize=8, color="#d62728")
                continue
            ax.barh(y, float(value), height=0.6, color=GREY if y == 0 else color(y))
            delta = "" if y == 0 or base is None else f" ({compact(value - base, currency, sign=True)})"
            ax.text(float(value), y, f"  {compact(value, currency)}{delta}", va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), [label(r[0], 30) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        values = [float(r[1]) for r in rows if r[1] is not None] or [1.0]
        ax.set_xlim(min(0.0, min(values)), max(values) * 1.35 or 1)
        _money_axis(ax, currency, "x")
        ax.set_title("Scenarios side by side: value of each plan")
        return _svg(fig, "scenarios", "Scenarios side by side")


def frontier_chart(points: Sequence[tuple[Decimal, Decimal | None]], knee: Decimal | None, currency: str) -> str:
    """Value per total budget, the knee marked."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = _figure(8, 3.4)
        ax = fig.add_subplot()
        shown = [(float(b), float(v)) for b, v in points if v is not None]
        if shown:
            ax.plot(*zip(*shown), marker="o", color="#1f77b4")
        if knee is not None:
            at = next((float(v) for b, v in points if b == knee and v is not None), None)
            if at is not None:
                ax.scatter([float(knee)], [at], s=160, facecolor="none", edgecolor="#d62728", linewidth=2, zorder=3)
                ax.annotate(f"knee: {compact(knee, currency)}", (float(knee), at), textcoords="offset points",
                            xytext=(10, -18), color="#d62728")  # fmt: skip
        _money_axis(ax, currency, "x")
        _money_axis(ax, currency, "y")
        ax.set_xlabel(f"total budget ({currency})")
        ax.set_ylabel(f"value ({currency})")
        ax.set_title("Budget frontier: value per total budget")
        return _svg(fig, "frontier", "Budget frontier with its knee")


def risk_chart(outcomes: Sequence[tuple[Decimal, Decimal]], marks: Sequence[tuple[str, Decimal]], currency: str) -> str:
    """The plan's value over the scenarios as a cumulative distribution ((probability, value) pairs), with
    the risk figures (P10, expected value, CVaR, ...) as vertical lines."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = _figure(8, 3.0)
        ax = fig.add_subplot()
        ordered = sorted(outcomes, key=lambda pv: pv[1])
        xs, ys, mass = [], [], 0.0
        for probability, value in ordered:
            xs += [float(value), float(value)]
            ys += [mass, mass + float(probability)]
            mass += float(probability)
        ax.plot(xs, ys, color="#1f77b4", drawstyle="default")
        for i, (name, value) in enumerate(marks):
            ax.axvline(float(value), color=color(i + 1), linestyle="--", linewidth=1)
            ax.text(float(value), 1.02 + 0.07 * (i % 2), f" {name}", color=color(i + 1), fontsize=8,
                    transform=ax.get_xaxis_transform())  # fmt: skip
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability the value is at most x")
        _money_axis(ax, currency, "x")
        ax.set_title("Value over the scenarios (cumulative)", pad=24)
        return _svg(fig, "risk", "Value over the scenarios")
