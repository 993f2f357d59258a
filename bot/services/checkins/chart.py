"""The mood chart: a PNG drawn with matplotlib's Agg renderer (no display needed).

matplotlib is imported on first use: it is large, and most processes never draw a chart.
Each call builds its own `Figure` (no pyplot global state), so it is safe in a worker thread.
"""

from __future__ import annotations

import io
from datetime import date

from bot.domain.checkins import Mood

WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 3.6, 100


def render_png(points: list[tuple[date, float]], start: date, end: date) -> bytes:
    """One point per day (the day's mean mood) from `start` to `end`, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    days = [float(date2num(day)) for day, _ in points]  # day numbers, as the axis counts
    moods = [mood for _, mood in points]
    axes.plot(days, moods, color="#2a9d8f", linewidth=2, marker="o", markersize=5)
    axes.set_ylim(0.5, 5.5)
    axes.set_yticks([int(m) for m in Mood], [m.label for m in Mood])
    # Half a day either side, so the first and last points are not on the frame. (A date
    # minus timedelta(days=0.5) is the same date: it was never padded before.)
    axes.set_xlim(float(date2num(start)) - 0.5, float(date2num(end)) + 0.5)
    axes.xaxis.set_major_locator(AutoDateLocator(maxticks=8))
    axes.xaxis.set_major_formatter(DateFormatter("%d %b"))
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(f"Your mood, {start:%d %b} – {end:%d %b %Y}", loc="left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
