"""The Overview's charts as markup: a figure with its SVG (a tooltip and a link per segment), a legend and the
same numbers as a table for screen readers and for reading. Pure string building with escaping (no Django):
drawing a month of buckets through template loops cost more than the page's every query.
"""

from __future__ import annotations

from html import escape

from .charts import BarChart, SparkBar


def _n(value: float) -> str:
    """A coordinate: short, locale-independent."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _attrs(**values: object) -> str:
    return " ".join(f'{name.rstrip("_").replace("_", "-")}="{escape(str(value))}"' for name, value in values.items())


def _svg(chart: BarChart, chart_id: str, title: str, unit: str, bucket_name: str) -> list[str]:
    summary = ", ".join(
        [f"{chart.total} {unit} in all"] + [f"{total} {item.label.lower()}" for item, total in chart.legend]
    )
    out = [
        f'<svg class="bars" viewBox="0 0 {_n(chart.width)} {_n(chart.height)}" role="img" focusable="false" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(summary)}. '
        f"The table under the chart has every {escape(bucket_name)}.</desc>",
    ]
    left, right = _n(chart.left), _n(chart.right)
    for tick in chart.y_ticks:
        y = _n(tick.position)
        out.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y}" y2="{y}"/>')
        out.append(
            f'<text class="axis" x="{_n(chart.y_label_x)}" y="{y}" dy="0.32em" text-anchor="end">'
            f"{escape(tick.label)}</text>"
        )
    out.append(f'<text class="axis unit" x="{left}" y="10">{escape(unit)} per {escape(bucket_name)}</text>')
    for tick in chart.x_ticks:
        out.append(
            f'<text class="axis" x="{_n(tick.position)}" y="{_n(chart.x_label_y)}" text-anchor="middle">'
            f"{escape(tick.label)}</text>"
        )
    top, height = _n(chart.top), _n(chart.plot_height)
    for shape in chart.columns:
        out.append(
            f'<a {_attrs(href=shape.column.href)} tabindex="-1" aria-hidden="true"><rect class="slot" '
            f'x="{_n(shape.x)}" y="{top}" width="{_n(shape.width)}" height="{height}"><title>{escape(shape.title)}'
            "</title></rect></a>"
        )
        for segment in shape.segments:
            out.append(
                f'<a {_attrs(href=segment.href)}><rect class="s-{escape(segment.series.key)}" x="{_n(segment.x)}" '
                f'y="{_n(segment.y)}" width="{_n(segment.width)}" height="{_n(segment.height)}">'
                f"<title>{escape(segment.title)}</title></rect></a>"
            )
    bottom = _n(chart.bottom)
    out.append(f'<line class="baseline" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/></svg>')
    return out


def _table(chart: BarChart, title: str, bucket_name: str) -> list[str]:
    heads = "".join(f'<th scope="col" class="num">{escape(item.label)}</th>' for item in chart.series)
    out = [
        f'<details class="chart-table"><summary>{escape(title)} as a table</summary><div class="table-scroll">',
        f'<table class="list compact"><thead><tr><th scope="col">{escape(bucket_name.capitalize())}</th>{heads}'
        '<th scope="col" class="num">Total</th></tr></thead><tbody>',
    ]
    for shape in chart.columns:
        column = shape.column
        if not column.total:
            continue
        cells = "".join(
            f'<td class="num"><a {_attrs(href=href)}>{value}</a></td>' if value else '<td class="num zero">0</td>'
            for value, href in shape.cells
        )
        out.append(
            f'<tr><th scope="row">{escape(column.label)}</th>{cells}'
            f'<td class="num"><a {_attrs(href=column.href)}>{column.total}</a></td></tr>'
        )
    if not chart.total:
        out.append(f'<tr><td colspan="{len(chart.series) + 2}" class="muted">Nothing in this period.</td></tr>')
    out.append("</tbody></table></div></details>")
    return out


def bar_chart_figure(chart: BarChart, *, chart_id: str, title: str, unit: str, bucket_name: str) -> str:
    """The whole figure: caption with the total, the SVG, the legend, and the table in a disclosure."""
    legend = "".join(
        f'<li><span class="swatch s-{escape(item.key)}" aria-hidden="true"></span>{escape(item.label)} {total}</li>'
        for item, total in chart.legend
    )
    return "".join(
        [
            f'<figure class="chart" id="{chart_id}" aria-labelledby="{chart_id}-caption">',
            f'<figcaption id="{chart_id}-caption"><strong>{escape(title)}</strong> <span class="muted">· '
            f'<span class="chart-total">{chart.total}</span> in all</span></figcaption>',
            *_svg(chart, chart_id, title, unit, bucket_name),
            f'<ul class="legend">{legend}</ul>' if legend else "",
            *_table(chart, title, bucket_name),
            "</figure>",
        ]
    )


def sparkline_svg(bars: list[SparkBar], *, label: str, width: float = 126, height: float = 28) -> str:
    """A connector's days as small linked bars, the failed part of each marked on top."""
    out = [
        f'<svg class="spark" viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}" '
        f'role="img" focusable="false" {_attrs(aria_label=label)}>'
    ]
    for bar in bars:
        kind = "day" if bar.total else "none"
        title = f"<title>{escape(bar.title)}</title>"
        shape = (
            f'<rect class="{kind}" x="{_n(bar.x)}" y="{_n(bar.y)}" width="{_n(bar.width)}" '
            f'height="{_n(bar.height)}">{title}</rect>'
        )
        if bar.failed:
            shape += (
                f'<rect class="failed" x="{_n(bar.x)}" y="{_n(bar.y)}" width="{_n(bar.width)}" '
                f'height="{_n(bar.failed_height)}">{title}</rect>'
            )
        out.append(f"<a {_attrs(href=bar.href)}>{shape}</a>")
    out.append("</svg>")
    return "".join(out)
