"""The mood chart: a PNG drawn with matplotlib's Agg renderer (no display needed).

matplotlib is imported on first use: it is large, and most processes never draw a chart.
Each call builds its own `Figure` (no pyplot global state), so it is safe in a worker thread.
It is drawn in a worker process, where the member's language (a context variable) is not
set: the caller passes it (`i18n.current()`), and its words and dates are written in it.
"""

from __future__ import annotations

import io
from datetime import date

from bot import i18n
from bot.domain.checkins import Mood
from bot.i18n import _

WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 3.6, 100


def _day(day: date, pattern: str) -> str:
    """`day` as the current language writes it (pattern "dd MMM": "05 Jan")."""
    from babel.dates import format_date

    return format_date(day, pattern, locale=i18n.babel_locale())


def render_png(
    points: list[tuple[date, float]], start: date, end: date, language: str = i18n.ENGLISH
) -> bytes:
    """One point per day (the day's mean mood) from `start` to `end`, as PNG bytes, its
    words in `language` (a catalog code)."""
    with i18n.speaking(language):
        return _render(points, start, end)


def _render(points: list[tuple[date, float]], start: date, end: date) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, date2num, num2date
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    days = [float(date2num(day)) for day, _mood in points]  # day numbers, as the axis counts
    moods = [mood for _when, mood in points]
    axes.plot(days, moods, color="#2a9d8f", linewidth=2, marker="o", markersize=5)
    axes.set_ylim(0.5, 5.5)
    axes.set_yticks([int(m) for m in Mood], [_(m.label) for m in Mood])
    # Half a day either side, so the first and last points are not on the frame. (A date
    # minus timedelta(days=0.5) is the same date: it was never padded before.)
    axes.set_xlim(float(date2num(start)) - 0.5, float(date2num(end)) + 0.5)
    axes.xaxis.set_major_locator(AutoDateLocator(maxticks=8))
    axes.xaxis.set_major_formatter(
        FuncFormatter(lambda value, _position: _day(num2date(value).date(), "dd MMM"))
    )
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(
        _("Your mood, {start} – {end}").format(
            start=_day(start, "dd MMM"), end=_day(end, "dd MMM yyyy")
        ),
        loc="left",
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
