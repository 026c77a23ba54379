"""Inline SVG charts: no JavaScript and no CDN, because the api-server may have no internet.

Each function returns an ``<svg>`` string with a ``<title>`` per mark, so hovering shows the
figure and tests (and screen readers) can find the numbers in the markup.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

PASS = "#2f855a"
WARN = "#c05621"
FAIL = "#c53030"
MUTED = "#718096"
GRID = "#e2e8f0"


def _fmt_pct(value: float) -> str:
    return f"{value:.1%}"


def pass_rate_chart(
    points: Sequence[tuple[dt.date, float | None]],
    *,
    width: int = 320,
    height: int = 120,
    label: str = "pass rate",
) -> str:
    """A line of the daily pass rate (0–100 %), y-axis zoomed to the data so dips show."""
    pad_l, pad_r, pad_t, pad_b = 40, 8, 8, 20
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    known = [(d, v) for d, v in points if v is not None]
    svg = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    if not known:
        svg.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}" '
            f'font-size="12">no deliveries</text></svg>'
        )
        return "".join(svg)
    low = min(v for _, v in known)
    # never zoom tighter than 5 points, so noise does not look like a collapse
    floor = max(0.0, min(low, 0.95) - 0.01)
    first, last = known[0][0], known[-1][0]
    span = max((last - first).days, 1)

    def x(day: dt.date) -> float:
        if first == last:
            return pad_l + plot_w / 2
        return pad_l + plot_w * (day - first).days / span

    def y(value: float) -> float:
        return pad_t + plot_h * (1 - (value - floor) / (1 - floor))

    for tick in (floor, (floor + 1) / 2, 1.0):
        ty = y(tick)
        svg.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{GRID}"/>'
            f'<text x="{pad_l - 4}" y="{ty + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="{MUTED}">{tick:.0%}</text>'
        )
    svg.append(
        f'<text x="{pad_l}" y="{height - 4}" font-size="10" fill="{MUTED}">{first:%m-%d}</text>'
    )
    if first != last:
        svg.append(
            f'<text x="{width - pad_r}" y="{height - 4}" text-anchor="end" font-size="10" '
            f'fill="{MUTED}">{last:%m-%d}</text>'
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v) in enumerate(known)
    )
    svg.append(f'<path d="{path}" fill="none" stroke="{PASS}" stroke-width="2"/>')
    for day, value in known:
        colour = PASS if value >= 0.99 else WARN if value >= 0.95 else FAIL
        svg.append(
            f'<circle class="point" cx="{x(day):.1f}" cy="{y(value):.1f}" r="3.5" fill="{colour}" '
            f'data-day="{day.isoformat()}" data-value="{value:.6f}">'
            f"<title>{day.isoformat()}: {_fmt_pct(value)}</title></circle>"
        )
    svg.append("</svg>")
    return "".join(svg)


def bar_chart(
    bars: Sequence[tuple[str, float, str]],
    *,
    width: int = 420,
    bar_height: int = 16,
    value_format: str = "{:,.0f}",
    label: str = "bar chart",
) -> str:
    """Horizontal bars: (label, value, colour). Labels left, values at the bar's end."""
    pad_l, pad_r, gap = 150, 70, 4
    height = max(len(bars), 1) * (bar_height + gap) + gap
    top = max((v for _, v, _ in bars), default=0) or 1
    svg = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, value, colour) in enumerate(bars):
        by = gap + i * (bar_height + gap)
        bw = (width - pad_l - pad_r) * value / top
        text = value_format.format(value)
        svg.append(
            f'<text x="{pad_l - 6}" y="{by + bar_height - 4}" text-anchor="end" font-size="11">'
            f"{escape(name[:24])}</text>"
            f'<rect class="bar" x="{pad_l}" y="{by}" width="{bw:.1f}" height="{bar_height}" '
            f'fill="{colour}" data-label="{escape(name)}" data-value="{value}">'
            f"<title>{escape(name)}: {text}</title></rect>"
            f'<text x="{pad_l + bw + 4:.1f}" y="{by + bar_height - 4}" font-size="11">{text}</text>'
        )
    svg.append("</svg>")
    return "".join(svg)


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[tuple[str, int, str]]]],
    *,
    width: int = 460,
    bar_height: int = 16,
    label: str = "stacked bar chart",
) -> str:
    """One horizontal bar per row, split into (segment name, count, colour) parts."""
    pad_l, pad_r, gap = 150, 40, 4
    height = max(len(rows), 1) * (bar_height + gap) + gap
    top = max((sum(n for _, n, _ in parts) for _, parts in rows), default=0) or 1
    scale = (width - pad_l - pad_r) / top
    svg = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, parts) in enumerate(rows):
        by = gap + i * (bar_height + gap)
        svg.append(
            f'<text x="{pad_l - 6}" y="{by + bar_height - 4}" text-anchor="end" font-size="11">'
            f"{escape(name[:24])}</text>"
        )
        bx = float(pad_l)
        for part, count, colour in parts:
            if not count:
                continue
            bw = count * scale
            svg.append(
                f'<rect class="segment" x="{bx:.1f}" y="{by}" width="{bw:.1f}" '
                f'height="{bar_height}" fill="{colour}" data-row="{escape(name)}" '
                f'data-part="{escape(part)}" data-value="{count}">'
                f"<title>{escape(name)} {escape(part)}: {count}</title></rect>"
            )
            bx += bw
        total = sum(n for _, n, _ in parts)
        svg.append(
            f'<text x="{bx + 4:.1f}" y="{by + bar_height - 4}" font-size="11">{total}</text>'
        )
    svg.append("</svg>")
    return "".join(svg)
