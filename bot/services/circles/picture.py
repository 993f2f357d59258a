"""The circle picture: four quadrants, one per kind of support, with the people in each.
A PNG drawn with matplotlib's Agg renderer, imported on first use (see checkins/chart.py).
It is drawn in a worker process, where the member's language is not current: the caller
passes it (`language`), and the picture's words are translated there."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from bot import i18n
from bot.domain.circles import Kind
from bot.i18n import _, ngettext, number

SIZE_INCHES, DPI = 7.0, 100
COLOURS = {
    Kind.EMOTIONAL: "#f4d35e",
    Kind.PRACTICAL: "#8ecae6",
    Kind.INFORMATIONAL: "#b8e0a8",
    Kind.COMPANIONSHIP: "#f7b2bd",
}
SHOWN_PER_KIND = 8


def render_png(names: Mapping[Kind, Sequence[str]], language: str | None = None) -> bytes:
    """`names` are the display names in each kind (already resolved; nothing is looked up);
    the words are in `language` (a catalog code; the current language if None)."""
    with i18n.speaking(language or i18n.current()):
        return _render(names)


def _render(names: Mapping[Kind, Sequence[str]]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    figure = Figure(figsize=(SIZE_INCHES, SIZE_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, 2)
    axes.set_ylim(0, 2)
    axes.axis("off")
    corners = {
        Kind.EMOTIONAL: (0, 1),
        Kind.PRACTICAL: (1, 1),
        Kind.INFORMATIONAL: (0, 0),
        Kind.COMPANIONSHIP: (1, 0),
    }
    for kind, (x, y) in corners.items():
        people = list(names.get(kind, ()))
        axes.add_patch(
            Rectangle((x + 0.02, y + 0.02), 0.96, 0.96, color=COLOURS[kind], alpha=0.55, lw=0)
        )
        axes.text(x + 0.08, y + 0.88, kind.label, fontsize=16, weight="bold", va="top")
        axes.text(x + 0.08, y + 0.78, kind.meaning, fontsize=10, style="italic", va="top")
        if not people:
            axes.text(x + 0.08, y + 0.6, _("nobody yet"), fontsize=12, color="#555555", va="top")
        shown = people[:SHOWN_PER_KIND]
        if len(people) > SHOWN_PER_KIND:
            more = len(people) - SHOWN_PER_KIND
            shown.append(
                ngettext("and {count} more", "and {count} more", more).format(count=number(more))
            )
        for row, name in enumerate(shown):
            axes.text(x + 0.1, y + 0.62 - row * 0.07, f"• {name}", fontsize=12, va="top")
    axes.add_patch(Rectangle((0.8, 0.8), 0.4, 0.4, color="white", lw=0))
    axes.text(1.0, 1.0, _("You"), fontsize=18, weight="bold", ha="center", va="center")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
