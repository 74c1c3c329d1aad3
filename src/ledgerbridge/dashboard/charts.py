"""Inline SVG pictures: time-series sparklines, the forecast bar chart and the flow graph.

Layer ``dashboard``; imports ``core`` and the dashboard's own values. Drawn on the server so the
pages need no chart library and no script; colours come from CSS classes (the page's Content
Security Policy forbids inline styles).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ledgerbridge.dashboard.backend import Direction, ForecastRow, LinkMapping, SeriesPoint
from ledgerbridge.dashboard.markup import Safe, join, money, render

__all__ = ["flow_graph", "forecast_chart", "line_chart"]


def _nice_max(value: float) -> float:
    """A round number at or above ``value`` for the top of an axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"


def line_chart(points: Sequence[SeriesPoint], *, label: str, unit: str,
               width: int = 560, height: int = 150) -> Safe:
    """A labelled line chart of one series (oldest first), or a note when there is no data.

    Args:
        points: the series.
        label: what is measured, for the accessible title.
        unit: shown after the values on the axis.
        width: view-box width.
        height: view-box height.

    Returns:
        An ``<svg>`` element.
    """
    if not points:
        return render('<p class="muted">No $label data in the last hour.</p>', label=label.lower())
    left, right, top, bottom = 48, 8, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max(p.value for p in points))
    t0, t1 = points[0].at.timestamp(), points[-1].at.timestamp()
    span = (t1 - t0) or 1.0

    def xy(p: SeriesPoint) -> tuple[float, float]:
        x = left + (p.at.timestamp() - t0) / span * plot_w if len(points) > 1 else left + plot_w / 2
        return x, top + plot_h - p.value / top_value * plot_h

    coords = [xy(p) for p in points]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    area = f"{left},{top + plot_h} {line} {coords[-1][0]:.1f},{top + plot_h}"
    dots = join(render('<circle class="dot" cx="$x" cy="$y" r="2.5"><title>$t: $v $u</title></circle>',
                       x=f"{x:.1f}", y=f"{y:.1f}", t=p.at.strftime("%H:%M"), v=_num(p.value), u=unit)
                for p, (x, y) in zip(points, coords, strict=True))
    grid = join(render('<line class="grid" x1="$l" x2="$r" y1="$y" y2="$y"/>'
                       '<text class="axis" x="$tx" y="$ty" text-anchor="end">$v</text>',
                       l=left, r=width - right, y=f"{top + plot_h * (1 - f):.1f}", tx=left - 6,
                       ty=f"{top + plot_h * (1 - f) + 4:.1f}", v=_num(top_value * f))
                for f in (0.0, 0.5, 1.0))
    return render(
        '<svg class="chart" viewBox="0 0 $w $h" role="img" aria-label="$label">'
        '<title>$label ($unit)</title>$grid'
        '<polygon class="area" points="$area"/><polyline class="line" points="$line"/>$dots'
        '<text class="axis" x="$l" y="$by">$start</text>'
        '<text class="axis" x="$r" y="$by" text-anchor="end">$end</text></svg>',
        w=width, h=height, label=label, unit=unit, grid=grid, area=area, line=line, dots=dots,
        l=left, r=width - right, by=height - 6,
        start=points[0].at.strftime("%H:%M"), end=points[-1].at.strftime("%H:%M UTC"))


def forecast_chart(rows: Sequence[ForecastRow], *, currency: str,
                   width: int = 880, height: int = 260) -> Safe:
    """Grouped bars per period: weighted pipeline and expected collections.

    Args:
        rows: forecast periods, oldest first.
        currency: ISO code for the labels.
        width: view-box width.
        height: view-box height.

    Returns:
        An ``<svg>`` element with a legend, or a note when there are no rows.
    """
    if not rows:
        return Safe('<p class="muted">No forecast data.</p>')
    left, right, top, bottom = 72, 8, 28, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(float(max(max(r.weighted_pipeline, r.expected_collections) for r in rows)))
    slot = plot_w / len(rows)
    bar = max(2.0, min(28.0, slot * 0.36))

    def bar_svg(x: float, value: Decimal, cls: str, what: str, period: str) -> Safe:
        h = float(value) / top_value * plot_h
        return render('<rect class="$cls" x="$x" y="$y" width="$bw" height="$h">'
                      '<title>$period: $what $cur $v</title></rect>',
                      cls=cls, x=f"{x:.1f}", y=f"{top + plot_h - h:.1f}", bw=f"{bar:.1f}",
                      h=f"{h:.1f}", period=period, what=what, cur=currency, v=money(value))

    parts: list[Safe] = []
    for i, row in enumerate(rows):
        cx = left + slot * i + slot / 2
        parts.append(bar_svg(cx - bar - 1, row.weighted_pipeline, "bar-pipeline", "weighted pipeline",
                             row.label))
        parts.append(bar_svg(cx + 1, row.expected_collections, "bar-collections", "expected collections",
                             row.label))
        parts.append(render('<text class="axis" x="$x" y="$y" text-anchor="middle">$t</text>',
                            x=f"{cx:.1f}", y=height - 10, t=row.label))
    grid = join(render('<line class="grid" x1="$l" x2="$r" y1="$y" y2="$y"/>'
                       '<text class="axis" x="$tx" y="$ty" text-anchor="end">$v</text>',
                       l=left, r=width - right, y=f"{top + plot_h * (1 - f):.1f}", tx=left - 6,
                       ty=f"{top + plot_h * (1 - f) + 4:.1f}", v=_num(top_value * f))
                for f in (0.0, 0.25, 0.5, 0.75, 1.0))
    return render(
        '<svg class="chart forecast" viewBox="0 0 $w $h" role="img" '
        'aria-label="Weighted pipeline and expected collections per period">'
        '<title>Cash-flow forecast ($cur)</title>$grid$bars'
        '<rect class="bar-pipeline" x="$l" y="6" width="12" height="12"/>'
        '<text class="legend" x="$l2" y="16">Weighted pipeline</text>'
        '<rect class="bar-collections" x="$l3" y="6" width="12" height="12"/>'
        '<text class="legend" x="$l4" y="16">Expected collections</text></svg>',
        w=width, h=height, cur=currency, grid=grid, bars=join(parts),
        l=left, l2=left + 18, l3=left + 170, l4=left + 188)


_DIRECTION_MARKERS = {
    Direction.SF_TO_NS: ("", "arrow-end"),
    Direction.NS_TO_SF: ("arrow-start", ""),
    Direction.BOTH: ("arrow-start", "arrow-end"),
}


def flow_graph(mappings: Sequence[LinkMapping], *, width: int = 880) -> Safe:
    """Salesforce objects on the left, NetSuite records on the right, one arrow per link.

    Arrow heads show the direction; a dashed arrow on the left margin joins a link to the links it
    depends on (its parents are synced first).

    Args:
        mappings: the configured links.
        width: view-box width.

    Returns:
        An ``<svg>`` element, or a note when nothing is configured.
    """
    if not mappings:
        return Safe('<p class="muted">No links configured.</p>')
    sf_nodes = list(dict.fromkeys(m.sf_object for m in mappings))
    ns_nodes = list(dict.fromkeys(m.ns_record for m in mappings))
    row_h, node_w, node_h, top = 56, 190, 34, 44
    height = top + max(len(sf_nodes), len(ns_nodes)) * row_h + 8
    sf_x, ns_x = 60, width - 60 - node_w

    def node_y(nodes: list[str], name: str) -> float:
        return top + nodes.index(name) * row_h

    parts: list[Safe] = [
        Safe('<defs>'
             '<marker id="arrow-end" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto"><path class="arrowhead" d="M0,0 L10,5 L0,10 z"/></marker>'
             '<marker id="arrow-start" viewBox="0 0 10 10" refX="1" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto"><path class="arrowhead" d="M10,0 L0,5 L10,10 z"/></marker>'
             '<marker id="arrow-dep" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
             'markerHeight="6" orient="auto"><path class="dep-head" d="M0,0 L10,5 L0,10 z"/></marker>'
             '</defs>'),
        render('<text class="col-title" x="$x1" y="20">Salesforce</text>'
               '<text class="col-title" x="$x2" y="20">NetSuite</text>', x1=sf_x, x2=ns_x),
    ]
    for name in sf_nodes:
        parts.append(render('<g class="node sf"><rect x="$x" y="$y" width="$w" height="$h" rx="6"/>'
                            '<text x="$tx" y="$ty" text-anchor="middle">$name</text></g>',
                            x=sf_x, y=node_y(sf_nodes, name), w=node_w, h=node_h,
                            tx=sf_x + node_w / 2, ty=node_y(sf_nodes, name) + 22, name=name))
    for name in ns_nodes:
        parts.append(render('<g class="node ns"><rect x="$x" y="$y" width="$w" height="$h" rx="6"/>'
                            '<text x="$tx" y="$ty" text-anchor="middle">$name</text></g>',
                            x=ns_x, y=node_y(ns_nodes, name), w=node_w, h=node_h,
                            tx=ns_x + node_w / 2, ty=node_y(ns_nodes, name) + 22, name=name))
    by_link = {m.link: m for m in mappings}
    for m in mappings:
        y1 = node_y(sf_nodes, m.sf_object) + node_h / 2
        y2 = node_y(ns_nodes, m.ns_record) + node_h / 2
        start, end = _DIRECTION_MARKERS[m.direction]
        x1, x2 = sf_x + node_w + 4, ns_x - 4
        parts.append(render(
            '<g class="edge"><line x1="$x1" y1="$y1" x2="$x2" y2="$y2" $ms $me/>'
            '<text class="edge-label" x="$lx" y="$ly" text-anchor="middle">$label</text>'
            '<title>$label: $sf $arrow $ns ($n fields)</title></g>',
            x1=x1, y1=f"{y1:.1f}", x2=x2, y2=f"{y2:.1f}",
            ms=Safe(f'marker-start="url(#{start})"') if start else Safe(""),
            me=Safe(f'marker-end="url(#{end})"') if end else Safe(""),
            lx=f"{(x1 + x2) / 2:.1f}", ly=f"{(y1 + y2) / 2 - 5:.1f}", label=m.link, sf=m.sf_object,
            ns=m.ns_record, arrow={"sf_to_ns": "→", "ns_to_sf": "←", "both": "↔"}[m.direction.value],
            n=len(m.rows)))
        for parent in m.depends_on:
            p = by_link.get(parent)
            if p is None or p.sf_object == m.sf_object:
                continue
            py = node_y(sf_nodes, p.sf_object) + node_h / 2
            cy = node_y(sf_nodes, m.sf_object) + node_h / 2
            parts.append(render(
                '<path class="dep" d="M$x,$y1 C$cx,$y1 $cx,$y2 $x,$y2" marker-end="url(#arrow-dep)">'
                '<title>$child needs $parent first</title></path>',
                x=sf_x - 2, cx=sf_x - 46, y1=f"{py:.1f}", y2=f"{cy:.1f}", child=m.link, parent=parent))
    return render('<svg class="flow-graph" viewBox="0 0 $w $h" role="img" '
                  'aria-label="Objects and the links between them">$body</svg>',
                  w=width, h=height, body=join(parts))

