"""When to reach out to a member who has gone quiet: pure rules, no discord or database.

A member is *quiet* once `threshold` has passed since they were last seen. A quiet spell is
identified by that last-seen time (its *cycle*): the first reach-out of a spell goes out as
soon as they are quiet, the next ones after growing gaps (`gaps`, e.g. 30 then 60 days),
then nothing more until they are active again, which starts a new cycle. A message is never
due inside the member's quiet hours: it waits for them to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_THRESHOLD_DAYS = 14
MIN_THRESHOLD_DAYS = 3
MAX_THRESHOLD_DAYS = 180
# After the first reach-out of a quiet spell: the next after 30 days, the last after 60 more.
DEFAULT_GAPS = (timedelta(days=30), timedelta(days=60))
DEFAULT_QUIET_START = time(22, 0)
DEFAULT_QUIET_END = time(8, 0)
PAUSE = timedelta(days=30)
# With "buddy first", the member's own DM follows the buddy's nudge this much later.
BUDDY_HEAD_START = timedelta(days=3)


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which nothing is sent. `start` > `end` wraps past midnight; equal
    times mean no quiet hours."""

    start: time = DEFAULT_QUIET_START
    end: time = DEFAULT_QUIET_END

    def contains(self, local: time) -> bool:
        local = local.replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def in_quiet_hours(at: datetime, tz: ZoneInfo, quiet: QuietHours) -> bool:
    return quiet.contains(at.astimezone(tz).time())


def next_allowed(at: datetime, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """`at` itself if it is outside the quiet hours, else the moment they end (in UTC).

    Around daylight-saving changes the local end time may happen twice (the earliest that is
    still ahead counts) or not at all (then the first minute outside the quiet hours)."""
    if not in_quiet_hours(at, tz, quiet):
        return at
    local_day = at.astimezone(tz).date()
    ends = sorted(
        datetime.combine(local_day + timedelta(days=offset), quiet.end, tzinfo=tz)
        .replace(fold=fold)
        .astimezone(UTC)
        for offset in (0, 1, 2)
        for fold in (0, 1)
    )
    for end in ends:
        if end > at and not in_quiet_hours(end, tz, quiet):
            return end
    minute = at.replace(second=0, microsecond=0)
    for _ in range(3 * 24 * 60):
        minute += timedelta(minutes=1)
        if not in_quiet_hours(minute, tz, quiet):
            return minute
    return at  # unreachable: quiet hours never cover a whole day


@dataclass(frozen=True)
class MemberState:
    """What the sweep knows of one member. `cycle` is the last-seen time of the quiet spell
    the reach-outs so far belong to; `stage` how many went out in it; `next_at` when the
    next may (None: no more this spell)."""

    last_seen: datetime
    cycle: datetime | None = None
    stage: int = 0
    next_at: datetime | None = None
    paused_until: datetime | None = None


@dataclass(frozen=True)
class Step:
    """One reach-out to queue now: its number in the spell (1, 2, …), the spell it belongs
    to, and when the one after it may go (None: this is the last)."""

    stage: int
    cycle: datetime
    then: datetime | None


def is_quiet(last_seen: datetime, now: datetime, threshold: timedelta) -> bool:
    return now - last_seen >= threshold


def plan(
    state: MemberState,
    now: datetime,
    threshold: timedelta,
    gaps: tuple[timedelta, ...] = DEFAULT_GAPS,
) -> Step | None:
    """The reach-out due for this member now, if any."""
    if not is_quiet(state.last_seen, now, threshold):
        return None
    if state.paused_until is not None and now < state.paused_until:
        return None
    if state.cycle is None or state.cycle != state.last_seen:
        stage = 0  # a new quiet spell: they were active since the last one
    else:
        if state.next_at is None or now < state.next_at:
            return None
        stage = state.stage
    if stage > len(gaps):
        return None
    then = now + gaps[stage] if stage < len(gaps) else None
    return Step(stage=stage + 1, cycle=state.last_seen, then=then)


def parse_channels(text: str) -> list[int]:
    """Channel ids from "<#1> <#2>" or "1, 2" (what a moderator types); raises ValueError."""
    ids: list[int] = []
    for part in text.replace(",", " ").split():
        digits = part.removeprefix("<#").removesuffix(">")
        if not digits.isdigit() or len(digits) > 20:
            raise ValueError(part)
        if int(digits) not in ids:
            ids.append(int(digits))
    return ids
