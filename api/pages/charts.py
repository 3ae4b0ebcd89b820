"""The statistics' charts, drawn on the server as SVG with pygal: no script, readable in any browser.

Why pygal: it is made for SVG (matplotlib draws for print and exports to SVG with its text as paths unless
told otherwise, with numpy and a font stack behind it), it is pure Python and light to install, and its
output keeps text as text, so labels in Arabic or Chinese are shaped by the browser. Its tooltips need a
script, which the pages never run: the charts are built without it, and every value is printed on its bar
and again in the data table beside the chart, which is what screen readers read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pygal
from pygal.etree import etree  # lxml's or the standard library's, whichever pygal drew with
from pygal.style import Style

# The site's colours (api/static/pledgeflow.css): ink on white, the brand blue for the bars.
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#d5dbe1",
    opacity="1",
    opacity_hover="1",
    colors=("#0b5cad", "#1f8a4c", "#b58100", "#c62828", "#78909c"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    value_font_size=12,
    value_label_font_size=12,
    value_colors=("#1b1f24",),
    guide_stroke_color="#d5dbe1",
    major_guide_stroke_color="#d5dbe1",
    guide_stroke_dasharray="2,2",
    title_font_size=15,
    legend_font_size=13,
)


def bar_chart(
    rows: Sequence[tuple[str, float]],
    formatter: Callable[[float], str],
) -> bytes:
    """A horizontal bar per row (label, value), the value printed at the end of its bar."""
    height = 60 + 28 * max(len(rows), 1)
    chart = pygal.HorizontalBar(
        style=STYLE,
        width=760,
        height=height,
        show_legend=False,
        js=[],
        print_values=True,
        print_zeroes=True,
        print_values_position="top",
        value_formatter=formatter,
        show_x_guides=True,
        show_y_guides=False,
        truncate_label=-1,
        margin=12,
        spacing=6,
        disable_xml_declaration=False,
        no_data_text="",
    )
    # pygal draws the first row at the bottom; the table and the reader expect it on top.
    ordered = list(reversed(rows))
    chart.x_labels = [label for label, _ in ordered]
    chart.add("", [value for _, value in ordered])
    tree = chart.render_tree()
    # pygal leaves a <script> with its tooltip settings even without its scripts; the chart needs none.
    for parent in tree.iter():
        for child in [element for element in parent if str(element.tag).endswith("script")]:
            parent.remove(child)
    svg: bytes = etree.tostring(tree, encoding="utf-8", xml_declaration=True)
    return svg
