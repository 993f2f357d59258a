"""A member's own support circle: who gives them which kind of support, and gentle, concrete
suggestions for the kinds nobody gives yet. Only the member ever sees it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import CirclePerson
from bot.db.repositories import buddies as buddy_repo
from bot.db.repositories import circles as repo
from bot.domain.checkins import InvalidInput
from bot.domain.circles import MAX_PEOPLE_PER_KIND, Kind, Person, check_name, gaps
from bot.i18n import _, ngettext, number


@dataclass(frozen=True)
class Entry:
    id: int
    person: Person


@dataclass(frozen=True)
class Circle:
    entries: tuple[Entry, ...]
    gaps: tuple[Kind, ...]
    suggestions: tuple[tuple[Kind, str], ...]


def _entry(row: CirclePerson) -> Entry:
    return Entry(
        row.id,
        Person(Kind(row.kind), row.person_user_id, row.person_name, row.professional),
    )


def suggestion(kind: Kind, channel_id: int | None, buddies_on: bool) -> str:
    """One gentle, concrete step for a kind nobody gives the member yet (whole sentences in
    the current language; each variant its own message)."""
    channel = f"<#{channel_id}>" if channel_id else None
    if kind is Kind.EMOTIONAL:
        parts = [_("When you need someone to listen, **/talk** reaches a person here.")]
        if buddies_on:
            parts.append(
                _("A buddy (**/buddy join**) is someone to check in with every week or two.")
            )
        if channel:
            parts.append(_("{channel} is a good place to share.").format(channel=channel))
        return " ".join(parts)
    if kind is Kind.PRACTICAL:
        if channel:
            return _(
                "Ask in {channel}: people here are glad to help with the practical things."
            ).format(channel=channel)
        return _("Asking for a hand is a strength. Someone here may be glad to help with a task.")
    if kind is Kind.INFORMATIONAL:
        parts = [_("Someone who has been there can help you find your way.")]
        if channel:
            parts.append(_("Ask in {channel}.").format(channel=channel))
        parts.append(_("Members who offer advice say so with **/offer**."))
        return " ".join(parts)
    parts = [_("Shared time counts too.")]
    if buddies_on:
        parts.append(_("**/buddy join** pairs you with someone each round."))
    if channel:
        parts.append(_("Drop into {channel}.").format(channel=channel))
    return " ".join(parts)


async def view(db: Database, guild_id: int, user_id: int) -> Circle:
    async with db.session() as session:
        rows = await repo.people(session, guild_id, user_id)
        settings = await repo.get_settings(session, guild_id)
        buddy_settings = await buddy_repo.get_settings(session, guild_id)
    entries = tuple(_entry(row) for row in rows)
    missing = tuple(gaps(e.person for e in entries))
    channels = (settings.channels or {}) if settings else {}
    buddies_on = buddy_settings is not None and buddy_settings.channel_id is not None
    return Circle(
        entries,
        missing,
        tuple((k, suggestion(k, channels.get(k.value), buddies_on)) for k in missing),
    )


async def add(
    db: Database,
    clock: Clock,
    guild_id: int,
    user_id: int,
    kind: Kind,
    *,
    member_id: int | None = None,
    name: str | None = None,
    professional: bool = False,
) -> Entry:
    """Add a server member (`member_id`, with their display name as `name`, kept in case
    Discord can't tell it later) or a typed name to one kind of the circle."""
    if member_id is None and name is None:
        raise ValueError("give member_id or name")
    if member_id == user_id:
        raise InvalidInput(
            _(
                "That's you! Your circle is the people around you. (Looking after yourself "
                "counts too, of course.) Nothing was changed."
            )
        )
    clean = None if name is None else check_name(name)
    async with db.session() as session:
        rows = await repo.people(session, guild_id, user_id)
        same_kind = [r for r in rows if r.kind == kind.value]
        if len(same_kind) >= MAX_PEOPLE_PER_KIND:
            raise InvalidInput(_full(kind).format(count=number(MAX_PEOPLE_PER_KIND)))
        for row in same_kind:
            same_member = member_id is not None and row.person_user_id == member_id
            same_name = (
                member_id is None
                and row.person_user_id is None
                and (row.person_name or "").lower() == (clean or "").lower()
            )
            if same_member or same_name:
                raise InvalidInput(_already(kind))
        row = await repo.add_person(
            session,
            CirclePerson(
                guild_id=guild_id,
                user_id=user_id,
                kind=kind.value,
                person_user_id=member_id,
                person_name=clean,
                professional=professional,
                created_at=clock.now(),
            ),
        )
        return _entry(row)


def _full(kind: Kind) -> str:
    """Refusing a 13th person for one kind (a whole sentence for each kind)."""
    many = MAX_PEOPLE_PER_KIND
    if kind is Kind.EMOTIONAL:
        return ngettext(
            "You already have {count} person for emotional support, which is wonderful. "
            "Remove someone first to add another.",
            "You already have {count} people for emotional support, which is wonderful. "
            "Remove someone first to add another.",
            many,
        )
    if kind is Kind.PRACTICAL:
        return ngettext(
            "You already have {count} person for practical support, which is wonderful. "
            "Remove someone first to add another.",
            "You already have {count} people for practical support, which is wonderful. "
            "Remove someone first to add another.",
            many,
        )
    if kind is Kind.INFORMATIONAL:
        return ngettext(
            "You already have {count} person for informational support, which is wonderful. "
            "Remove someone first to add another.",
            "You already have {count} people for informational support, which is wonderful. "
            "Remove someone first to add another.",
            many,
        )
    return ngettext(
        "You already have {count} person for companionship support, which is wonderful. "
        "Remove someone first to add another.",
        "You already have {count} people for companionship support, which is wonderful. "
        "Remove someone first to add another.",
        many,
    )


def _already(kind: Kind) -> str:
    if kind is Kind.EMOTIONAL:
        return _("They're already in your circle for emotional support.")
    if kind is Kind.PRACTICAL:
        return _("They're already in your circle for practical support.")
    if kind is Kind.INFORMATIONAL:
        return _("They're already in your circle for informational support.")
    return _("They're already in your circle for companionship support.")


async def remove(db: Database, guild_id: int, user_id: int, entry_id: int) -> bool:
    async with db.session() as session:
        return await repo.remove_person(session, guild_id, user_id, entry_id)


async def set_professional(
    db: Database, guild_id: int, user_id: int, entry_id: int, professional: bool
) -> bool:
    async with db.session() as session:
        row = await repo.get_person(session, guild_id, user_id, entry_id)
        if row is None:
            return False
        row.professional = professional
        return True
