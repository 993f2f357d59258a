from datetime import timedelta

from bot.domain.durations import humanize


def test_humanize() -> None:
    assert humanize(timedelta(0)) == "0 seconds"
    assert humanize(timedelta(seconds=1)) == "1 second"
    assert humanize(timedelta(days=3, hours=4, minutes=5)) == "3 days, 4 hours"
    assert humanize(timedelta(hours=1, seconds=30)) == "1 hour, 30 seconds"
    assert humanize(timedelta(days=2, hours=1, minutes=1), parts=3) == "2 days, 1 hour, 1 minute"
    assert humanize(timedelta(seconds=-5)) == "0 seconds"
