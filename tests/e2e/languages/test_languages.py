"""Kinfolk in the member's language, end to end through the stand-in: members whose Discord is
in Spanish, German, French and Brazilian Portuguese use /talk, /checkin and a reminder DM and
read everything in their language, with their country's crisis line; channel posts follow
the server's language; the synced commands carry their translations — on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot import i18n
from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import MemberLanguage
from bot.domain.checkins import Mood
from tests.e2e.conftest import StartBot
from tests.e2e.driver import settle
from tests.e2e.languages.world import (
    MEMBERS,
    Plaza,
    english_left_in,
    run,
    set_up_escalation,
    texts,
)
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

ALERT_TITLE = "{emoji} Someone needs to talk"
REMINDER = (
    "Hi, it's your daily check-in reminder for **{server}**. How are "
    "you today? One tap saves it; only you will see it."
)


def said(code: str, message: str) -> str:
    return i18n.translate_in(code, message)


def alerts(fake: FakeDiscord, plaza: Plaza) -> list[StoredMessage]:
    return [m for m in fake.messages(plaza.alerts_id) if m.embeds]


@pytest.mark.parametrize("name", sorted(MEMBERS))
async def test_talk_answers_in_the_members_language_with_their_countrys_line(
    fake: FakeDiscord, plaza: Plaza, kinfolk: KinfolkBot, name: str
) -> None:
    locale, code, line, emergency = MEMBERS[name]
    await set_up_escalation(fake, plaza)
    handle = await run(fake, plaza, plaza.members[name], "talk", locale, feeling="struggling")
    assert handle.is_ephemeral
    answer = await handle.original_message()
    shown = texts(answer)
    assert answer.embeds[0]["title"] == said(code, "I'm here, and the team has been told")
    assert (
        said(code, "I'm here, and the team has been told") != "I'm here, and the team has been told"
    )
    assert line in shown  # their country's line …
    assert emergency in shown  # … and emergency number
    # Not the US line first (French speakers see Canada's 988 after France, Belgium, Switzerland).
    assert "**988**" not in shown or shown.index(line) < shown.index("**988**")
    assert "findahelpline.com" in shown
    assert english_left_in(shown, code) == []
    # The moderators' alert is in the server's language (Discord's, here US English).
    await fake.wait_for(lambda: len(alerts(fake, plaza)) == 1, what="the alert")
    [alert] = alerts(fake, plaza)
    assert "Someone needs to talk" in alert.embeds[0]["title"]


async def test_a_server_in_german_gets_german_posts_while_each_member_reads_their_own(
    fake: FakeDiscord, plaza: Plaza, kinfolk: KinfolkBot
) -> None:
    await set_up_escalation(fake, plaza)
    chosen = await fake.invoke(
        *plaza.where(plaza.owner_id), "setup language", options={"language": "de"}
    )
    assert "**Deutsch**" in (await chosen.original_message()).content
    handle = await run(fake, plaza, plaza.members["ana"], "talk", "es-ES", feeling="struggling")
    answer = await handle.original_message()
    assert answer.embeds[0]["title"] == said("es", "I'm here, and the team has been told")
    await fake.wait_for(lambda: len(alerts(fake, plaza)) == 1, what="the alert")
    [alert] = alerts(fake, plaza)
    title = said("de", ALERT_TITLE).format(emoji="")
    assert title.strip() in alert.embeds[0]["title"]
    assert english_left_in(texts(alert), "de") == []
    # /setup show tells which language the server's posts are in.
    shown = await fake.invoke(*plaza.where(plaza.owner_id), "setup show")
    assert "Deutsch" in texts(await shown.original_message())


@pytest.mark.parametrize("name", sorted(MEMBERS))
async def test_checkin_in_the_members_language_from_buttons_to_the_saved_answer(
    fake: FakeDiscord, plaza: Plaza, kinfolk: KinfolkBot, database: Database, name: str
) -> None:
    locale, code, *_rest = MEMBERS[name]
    member = plaza.members[name]
    message = await (await run(fake, plaza, member, "checkin", locale)).original_message()
    # A first check-in asks whether check-ins may be kept, in the member's language.
    consent = f"checkin:consent:{plaza.guild_id}:yes"
    assert consent in message.custom_ids
    assert english_left_in(texts(message), code) == []
    await (await fake.click(message, consent, member, locale=locale)).response()
    labels = [c.get("label") for row in message.components for c in row["components"]]
    assert labels[:5] == [said(code, mood.label) for mood in Mood]
    assert english_left_in(texts(message), code) == []
    mood = f"checkin:mood:{plaza.guild_id}:4"
    await (await fake.click(message, mood, member, locale=locale)).response()
    assert said(code, Mood(4).label) in texts(message)
    assert english_left_in(texts(message), code) == []


def utc(day: int, hour: int) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


async def test_a_reminder_dm_is_in_the_language_the_member_last_used(
    fake: FakeDiscord, plaza: Plaza, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    clock._now = utc(5, 12)  # 13:00 in Berlin
    bot = await start_bot()
    claire = plaza.members["claire"]
    done = await run(
        fake, plaza, claire, "reminder set", "fr", time="21:00", timezone="Europe/Berlin"
    )
    assert english_left_in(texts(await done.original_message()), "fr") == []
    clock._now = utc(5, 20)
    await settle(fake, database, clock)
    [dm] = fake.dm_messages(claire)
    assert dm.content == said("fr", REMINDER).replace("{server}", "Plaza")
    assert english_left_in(texts(dm), "fr") == []
    # She switched Discord to German and used Kinfolk: the next reminder is in German, also
    # from a restarted bot (the language was written, not only remembered).
    shown = await run(fake, plaza, claire, "reminder show", "de")
    assert english_left_in(texts(await shown.original_message()), "de") == []
    await bot.flush_participation()
    await start_bot()
    clock._now = utc(6, 20)
    await settle(fake, database, clock)
    second = fake.dm_messages(claire)[-1]
    assert second.content == said("de", REMINDER).replace("{server}", "Plaza")
    assert english_left_in(texts(second), "de") == []


async def test_the_synced_commands_carry_their_translations(
    fake: FakeDiscord, kinfolk: KinfolkBot
) -> None:
    commands = {c["name"]: c for c in fake.global_commands}
    talk = commands["talk"]
    locales = {locale for language in i18n.LANGUAGES[1:] for locale in language.discord_locales}
    assert set(talk["description_localizations"]) == locales
    for language in i18n.LANGUAGES[1:]:
        for locale in language.discord_locales:
            assert talk["description_localizations"][locale] == said(
                language.code, talk["description"]
            )
    # Command names stay English (what members type, and what every message calls them);
    # option names are labels in the command's form, shown in the member's language.
    assert not talk.get("name_localizations")
    [feeling] = talk["options"]
    assert set(feeling["name_localizations"]) == locales
    assert feeling["name_localizations"]["es-ES"] == i18n.translations("es").pgettext(
        "option name", "feeling"
    )
    assert feeling["description_localizations"]["de"] == said("de", feeling["description"])
    for choice in feeling["choices"]:
        assert choice["name_localizations"]["pt-BR"] == said("pt_BR", choice["name"])
    # Every description of every command, option and choice has all six languages.
    missing = []
    stack = list(commands.values())
    while stack:
        item = stack.pop()
        if item.get("description") and set(item.get("description_localizations") or {}) != (
            locales
        ):
            missing.append(item["name"])
        stack += item.get("options") or []
    assert missing == []


async def test_a_servers_region_puts_its_lines_first_for_every_member(
    fake: FakeDiscord, plaza: Plaza, kinfolk: KinfolkBot
) -> None:
    await set_up_escalation(fake, plaza)
    owner = plaza.where(plaza.owner_id)
    choices = await fake.autocomplete(
        *owner, "setup resources", {"mode": "default", "region": "spa"}, "region"
    )
    assert {"name": "Spain (ES)", "value": "ES"} in choices
    done = await fake.invoke(*owner, "setup resources", options={"mode": "default", "region": "ES"})
    assert "**024**" in texts(await done.original_message())
    # A member whose Discord is in German sees Spain's line first, then Germany's.
    handle = await run(fake, plaza, plaza.members["bernd"], "talk", "de", feeling="chat")
    shown = texts(await handle.original_message())
    assert shown.index("**024**") < shown.index("**0800 111 0 111**")
    bad = await fake.invoke(*owner, "setup resources", options={"mode": "default", "region": "XX"})
    assert "Nothing was changed" in (await bad.original_message()).content
    about = await fake.invoke(*owner, "about")
    assert "Spain" in texts(await about.original_message())


async def test_a_members_language_is_shown_exported_and_erased_with_their_data(
    fake: FakeDiscord, plaza: Plaza, kinfolk: KinfolkBot, database: Database
) -> None:
    ana = plaza.members["ana"]
    await run(fake, plaza, ana, "mood", "es-ES")
    await kinfolk.flush_participation()
    assert await language_rows(database, ana) == ["es-ES"]
    handle = await run(fake, plaza, ana, "privacy export", "es-ES")
    message = await handle.original_message()
    await fake.wait_for(lambda: len(message.attachments) == 2, what="the export files")
    assert english_left_in(texts(message), "es") == []
    text_file = next(a.data.decode() for a in message.attachments if a.filename.endswith(".txt"))
    assert "Español" in text_file
    warning = await (await run(fake, plaza, ana, "privacy delete", "es-ES")).original_message()
    assert english_left_in(texts(warning), "es") == []
    pressed = await fake.click(warning, f"privacy:delete:{plaza.guild_id}", ana, locale="es-ES")
    await pressed.original_message()
    await kinfolk.flush_participation()  # the press itself was seen: it is not written back
    assert await language_rows(database, ana) == []


async def language_rows(database: Database, member: int) -> list[str]:
    async with database.session() as session:
        found = await session.scalars(
            select(MemberLanguage.locale).where(MemberLanguage.user_id == member)
        )
        return list(found)
