"""/privacy end to end: a member who used every feature through real commands sees what is
kept (/privacy show), takes a copy (/privacy export) and erases it (/privacy delete, only
after the button); afterwards a scan of every table finds no row with their id, and what
stays for others' safety stays under a pseudonym — on both backends."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import BuddyBlock, CirclePerson, SupportRequest
from bot.services.privacy import export as export_sections
from bot.services.privacy.member_data import KEPT_WHY
from bot.services.privacy.registry import REGISTRY
from tests.e2e.driver import settle
from tests.e2e.privacy.world import (
    CHECKIN_NOTE,
    CIRCLE_NAME,
    ERASED_MEMBER,
    EXPORT_FILE,
    EXPORT_TEXT,
    NOTE_RECEIVED,
    NOTE_SENT,
    NOTHING_KEPT,
    OFFER_TOPICS,
    TALK_CONTEXT,
    Refuge,
    alert_for,
    alerts,
    audit_lines,
    checkin_with_note,
    checkins_of,
    circle_add_member,
    claim,
    export,
    export_both,
    items,
    latest_request,
    move_to,
    reply,
    run,
    set_up_escalation,
    talk_with_context,
    use_everything,
    where_held,
)
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

DELETE_BUTTON = "privacy:delete:{guild}"
CANCEL_BUTTON = "privacy:keep"
OWN_REQUEST = "a member (their own privacy request)"


def bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("• ")]


async def ask_to_delete(fake: FakeDiscord, refuge: Refuge, member: int) -> StoredMessage:
    handle = await run(fake, refuge, member, "privacy delete")
    assert handle.is_ephemeral
    return await handle.original_message()


async def confirm_delete(fake: FakeDiscord, refuge: Refuge, member: int) -> str:
    """/privacy delete, then the confirmation button; returns what the member is told."""
    warning = await ask_to_delete(fake, refuge, member)
    pressed = await fake.click(warning, DELETE_BUTTON.format(guild=refuge.guild_id), member)
    done = await pressed.original_message()
    assert done.id == warning.id, "the warning itself should turn into the answer"
    assert done.components == [], "the button should be gone once it has been used"
    return done.content


async def test_show_lists_what_is_kept_in_plain_words_privately(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    assert await reply(fake, refuge, refuge.alice, "privacy show") == (
        NOTHING_KEPT + "\n\nNotes and what you wrote when asking to talk are cleared after 90 "
        "days. Free text you write is encrypted. Activity is counts and times only, never what "
        "you wrote.\n**/privacy export** gives you a copy; **/privacy delete** erases it."
    )
    await use_everything(fake, refuge, database, clock)

    shown = await reply(fake, refuge, refuge.alice, "privacy show")
    assert shown.startswith("**What Kinfolk keeps about you in this server:**")
    lines = bullets(shown)
    assert lines[:-1] == [
        "• your settings (timezone, reminder): 1",
        "• check-ins (mood, and notes, encrypted): 1",
        "• your buddy-programme membership: 1",
        "• people you asked not to be paired with: 1",
        "• buddy pairings you were part of: 1",
        "• your “I need to talk” requests: 2",
        "• when you were last active, reach-out: 1",
        "• people in your support circle: 1",
        "• the support you offer: 1",
        "• thinking-of-you notes you sent: 1",
        "• thinking-of-you notes you received: 1",
    ]
    assert lines[-1].startswith("• messages Kinfolk is about to send you: ")
    # Counts and plain words only: no ids, and none of what she wrote.
    for private in (str(refuge.alice), CHECKIN_NOTE, TALK_CONTEXT, CIRCLE_NAME, *OFFER_TOPICS):
        assert private not in shown
    assert "cleared after 90 days" in shown
    # Bob's answer is about Bob: Alice's block against him is hers, not his to count.
    bob = bullets(await reply(fake, refuge, refuge.bob, "privacy show"))
    assert "• people you asked not to be paired with: 1" in bob  # his own block
    assert "• thinking-of-you notes you received: 1" in bob
    assert not any("notes you sent" in line for line in bob)


async def test_export_is_for_a_person_in_her_timezone_as_text_and_the_same_as_json(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    story = await use_everything(fake, refuge, database, clock)
    await reply(fake, refuge, refuge.alice, "reminder timezone", timezone="Asia/Tokyo")
    tokyo = ZoneInfo("Asia/Tokyo")

    message, exported, text = await export_both(fake, refuge, refuge.alice)
    assert message.ephemeral
    assert sorted(a.filename for a in message.attachments) == [EXPORT_FILE, EXPORT_TEXT]
    assert "notes decrypted" in message.content
    assert (exported["server_id"], exported["member_id"]) == (refuge.guild_id, refuge.alice)
    assert exported["timezone"] == "Asia/Tokyo"
    assert text.startswith("What Kinfolk keeps about you in this server\nMade ")
    assert "Times are in Asia/Tokyo." in text

    # Her check-in, at the time it was in Tokyo, her mood in words, her note readable.
    [saved] = await checkins_of(database, refuge.alice)
    [checkin] = items(exported, "checkins")
    assert checkin == {
        "when": f"{saved.created_at.astimezone(tokyo):%Y-%m-%d %H:%M} (+09:00)",
        "mood": "Low (2 of 5)",
        "your private note": CHECKIN_NOTE,
        "shared in the channel": None,
    }
    requests = {r["request"]: r for r in items(exported, "requests_to_talk")}
    assert set(requests) == {story.claimed_request, story.open_request}
    claimed = requests[story.claimed_request]
    assert (claimed["how you felt"], claimed["what you wrote"]) == ("I'm struggling", TALK_CONTEXT)
    assert (claimed["now"], claimed["picked up by"]) == ("resolved", f"member {refuge.mod}")
    assert requests[story.open_request]["now"] == "waiting for a moderator"
    [offer] = items(exported, "offers")
    assert offer["kinds of support you offer"] == ["emotional"]
    assert all(topic in offer["topics"] for topic in OFFER_TOPICS)
    people = [p for p in items(exported, "circle") if "kind of support" in p]
    assert [(p["kind of support"], p["who"]) for p in people] == [("emotional", CIRCLE_NAME)]
    [sent] = items(exported, "notes_sent")
    assert (sent["to"], sent["your words"]) == (f"member {refuge.bob}", NOTE_SENT)
    [received] = items(exported, "notes_received")
    assert (received["from"], received["their words"]) == (f"member {refuge.cai}", NOTE_RECEIVED)
    [block] = items(exported, "blocks")
    assert (block["never paired with"], block["because you chose"]) == (
        f"member {refuge.bob}",
        "block",
    )
    [programme] = items(exported, "buddy_programme")
    assert programme["taking part"] == "active"
    [activity] = items(exported, "reach_out")
    assert activity["may Kinfolk DM you if you go quiet"] == "yes"
    assert items(exported, "settings")[0]["your timezone"] == "Asia/Tokyo"
    # What Kinfolk is waiting to send her: what and when, never a payload.
    assert all(set(m) == {"what", "now", "due", "sent"} for m in items(exported, "messages"))

    # Plain words, not the database's: no table or column names.
    raw = json.dumps(exported)
    for name in ("user_id", "member_profiles", "outbox_messages", "target_id", "sender_id"):
        assert name not in raw
        assert name not in text
    # The text holds the same content: every section, every field and value.
    for section in exported["sections"].values():
        assert f"\n{section['title']}\n" in text
        for item in section["items"]:
            for key, value in item.items():
                if value is None:
                    continue
                if isinstance(value, bool):
                    shown = "yes" if value else "no"
                else:
                    shown = ", ".join(value) if isinstance(value, list) else value
                assert f"- {key}: {shown}".split("\n")[0] in text, (key, value)
    # What others keep about her in confidence is theirs: Bob's block, Bob's circle.
    assert len(items(exported, "blocks")) == 1
    assert not any(p.get("kind of support") == "practical" for p in items(exported, "circle"))

    # Nothing about the export shows in public; the audit records that a member asked for
    # their own data, not who.
    assert fake.messages(refuge.general_id, ephemeral=False) == []
    [latest, *_] = await audit_lines(fake, refuge, refuge.mod)
    assert latest.endswith(f" · {OWN_REQUEST} · `privacy.export`")
    assert not any(
        str(refuge.alice) in line and "privacy" in line
        for line in await audit_lines(fake, refuge, refuge.mod)
    )


async def test_every_kind_of_data_show_counts_has_a_section_in_the_export() -> None:
    counted = {(entry.table, entry.column) for entry in REGISTRY if entry.what is not None}
    assert counted == set(export_sections.SOURCES)
    readers = {reader for _, _, section in export_sections.SECTIONS for reader in section}
    assert set(export_sections.SOURCES.values()) <= readers


async def test_dates_are_in_the_server_timezone_when_the_member_has_none(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await reply(fake, refuge, refuge.owner_id, "setup timezone", timezone="America/New_York")
    await checkin_with_note(fake, refuge, database, refuge.alice, 4, "fine")
    [saved] = await checkins_of(database, refuge.alice)
    _, exported, text = await export_both(fake, refuge, refuge.alice)
    assert exported["timezone"] == "America/New_York"
    local = saved.created_at.astimezone(ZoneInfo("America/New_York"))
    offset = local.strftime("%z")
    [checkin] = items(exported, "checkins")
    assert checkin["when"] == f"{local:%Y-%m-%d %H:%M} ({offset[:3]}:{offset[3:]})"
    assert f"- when: {checkin['when']}" in text


async def test_an_anonymous_note_received_does_not_name_its_sender_in_the_export(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await reply(fake, refuge, refuge.owner_id, "setup circles", allow_anonymous=True)
    await reply(
        fake, refuge, refuge.cai, "thinking-of-you", member=refuge.alice, note="🌻", anonymous=True
    )
    await settle(fake, database, clock)
    _, exported, text = await export_both(fake, refuge, refuge.alice)
    [received] = items(exported, "notes_received")
    assert (received["their words"], received["from"]) == (
        "🌻",
        "someone who chose to stay anonymous",
    )
    assert str(refuge.cai) not in json.dumps(exported) + text


async def test_delete_warns_first_and_only_the_button_erases(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await use_everything(fake, refuge, database, clock)
    before = await reply(fake, refuge, refuge.alice, "privacy show")

    warning = await ask_to_delete(fake, refuge, refuge.alice)
    assert warning.content.startswith(
        "**This erases everything Kinfolk holds about you in this server**"
    )
    assert "cannot be undone" in warning.content
    assert "/privacy export" in warning.content
    assert warning.custom_ids == [DELETE_BUTTON.format(guild=refuge.guild_id), CANCEL_BUTTON]
    # Asking is not erasing, and nor is walking away from the warning.
    await settle(fake, database, clock)
    assert await reply(fake, refuge, refuge.alice, "privacy show") == before
    assert len(await checkins_of(database, refuge.alice)) == 1

    # Cancel says nothing was erased, and takes the buttons away.
    cancelled = await fake.click(warning, CANCEL_BUTTON, refuge.alice)
    done = await cancelled.original_message()
    assert done.id == warning.id
    assert done.content.startswith("Nothing was erased: everything is as it was.")
    assert done.components == []
    assert await reply(fake, refuge, refuge.alice, "privacy show") == before
    assert len(await checkins_of(database, refuge.alice)) == 1


async def test_delete_erases_every_trace_and_says_what_was_kept_and_why(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    story = await use_everything(fake, refuge, database, clock)
    await export(fake, refuge, refuge.alice)
    assert await where_held(database, refuge.alice) != []  # the scan does see her data

    answer = await confirm_delete(fake, refuge, refuge.alice)

    # What was erased, in words, most personal first; no "record(s)".
    assert answer.startswith("Done. In this server, I erased:\n")
    erased, kept = (bullets(part) for part in answer.split("**What was kept, and why:**"))
    assert erased[:3] == [
        "• your settings (timezone, reminder)",
        "• 1 check-in, with its note",
        "• your place in the buddy programme",
    ]
    for words in (
        "• 1 block you made",
        "• 1 buddy pairing",
        "• 1 request to talk",  # the one nobody had acted on yet
        "• when you were last active, and your reach-out choices",
        "• 1 person in your support circle",
        "• the support you offer",
    ):
        assert words in erased
    assert any(line.startswith("• the records of ") for line in erased)
    assert "record(s)" not in answer
    assert f"• {KEPT_WHY['support_requests']} (1)" in kept  # the request the moderator acted on
    assert f"• {KEPT_WHY['buddy_blocks']} (1)" in kept  # Bob's block against her
    assert f"• {KEPT_WHY['circle_people']} (1)" in kept  # Bob's circle, which named her
    assert any(line.startswith(f"• {KEPT_WHY['audit_log']} (") for line in kept)
    # The note she sent Bob and the one Cai sent her, this week: kept without their words.
    assert f"• {KEPT_WHY['thinking_notes']} (2)" in kept
    assert len(kept) == 5
    assert str(refuge.alice) not in answer

    # Not one column of one table holds her id any more (pseudonyms are negative numbers).
    assert await where_held(database, refuge.alice) == []
    assert (await reply(fake, refuge, refuge.alice, "privacy show")).startswith(NOTHING_KEPT)
    assert await checkins_of(database, refuge.alice) == []

    async with database.session() as session:
        requests = list((await session.scalars(select(SupportRequest))).all())
        blocks = list((await session.scalars(select(BuddyBlock))).all())
        people = list(
            await session.scalars(select(CirclePerson).where(CirclePerson.user_id == refuge.bob))
        )
    # The request a moderator acted on stays, under her pseudonym and without her words;
    # the one nobody had acted on is gone.
    [request] = requests
    assert request.id == story.claimed_request
    assert request.member_id < 0
    assert request.context is None
    assert (request.status, request.claimed_by, request.closed_by) == (
        "resolved",
        refuge.mod,
        refuge.mod,
    )
    # Bob's block is his, and keeps protecting him, under the same pseudonym.
    [block] = blocks
    assert (block.user_id, block.blocked_id) == (refuge.bob, request.member_id)
    # Bob's circle keeps the name he saw, with no link to her account.
    assert [(p.person_user_id, p.person_name) for p in people] == [(None, "alice")]

    # The moderators' audit trail stays whole, with her shown only as an erased member.
    lines = await audit_lines(fake, refuge, refuge.mod)
    assert lines[0].endswith(f" · {OWN_REQUEST} · `privacy.delete`")
    assert any(line.endswith(f" · {OWN_REQUEST} · `privacy.export`") for line in lines)
    assert any(
        line.endswith(f" · {ERASED_MEMBER} · `talk.opened` · support_request {story.open_request}")
        for line in lines
    )
    assert any(
        line.endswith(
            f" · <@{refuge.mod}> · `talk.claimed` · support_request {story.claimed_request}"
        )
        for line in lines
    )
    assert not any(str(refuge.alice) in line for line in lines)

    # Other members keep what is theirs.
    bob = bullets(await reply(fake, refuge, refuge.bob, "privacy show"))
    assert "• people you asked not to be paired with: 1" in bob
    # The note she sent him this week is still his to see, without its words or her name.
    assert "• thinking-of-you notes you received: 1" in bob
    _, bobs = await export(fake, refuge, refuge.bob)
    [received] = items(bobs, "notes_received")
    assert (received["from"], received["their words"]) == (
        "a member who has since erased their data",
        None,
    )
    assert NOTE_SENT not in json.dumps(bobs)
    cai = bullets(await reply(fake, refuge, refuge.cai, "privacy show"))
    assert "• your buddy-programme membership: 1" in cai


async def test_an_erased_request_is_not_chased_and_cannot_be_claimed(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    story = await use_everything(fake, refuge, database, clock)
    alert = await alert_for(fake, refuge, story.open_request)
    in_alerts = len(fake.messages(refuge.alerts_id))
    dms = len(fake.dm_messages(refuge.alice))

    await confirm_delete(fake, refuge, refuge.alice)
    # Past the re-ping (5 min) and the escalation (15 min) of the request that was open.
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=30))
    assert len(fake.messages(refuge.alerts_id)) == in_alerts
    assert len(fake.dm_messages(refuge.alice)) == dms
    # Both of her alerts are now a neutral note: no name, no buttons.
    assert alerts(fake, refuge) == []
    for message in fake.messages(refuge.alerts_id):
        if message.embeds or message.components or "erased" in message.content:
            assert str(refuge.alice) not in message.content + str(message.embeds)
            assert not message.custom_ids

    # A client that sends the old Claim button's id anyway finds nothing to claim.
    threads = len(fake.threads)
    claimed = await fake.forge_click(alert, f"talk:claim:{story.open_request}", refuge.mod)
    await claimed.response()
    await fake.wait_for(lambda: claimed.followups, what="the answer")
    [answer] = claimed.followups
    assert answer.ephemeral
    assert answer.content == "I can't find that request here any more. Nothing was changed."
    assert len(fake.threads) == threads
    assert await where_held(database, refuge.alice) == []


async def test_a_block_against_an_erased_member_still_holds_when_they_come_back(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database
) -> None:
    await reply(fake, refuge, refuge.owner_id, "setup buddies", channel=refuge.buddies_id)
    for member in (refuge.alice, refuge.bob):
        assert (await reply(fake, refuge, member, "buddy join")).startswith("You're in!")
    assert "→ 1 group" in await reply(fake, refuge, refuge.owner_id, "setup buddies-round")

    await reply(fake, refuge, refuge.bob, "buddy block", member=refuge.alice)
    await confirm_delete(fake, refuge, refuge.alice)
    assert await where_held(database, refuge.alice) == []
    assert (await reply(fake, refuge, refuge.alice, "buddy join")).startswith("You're in!")

    preview = await reply(fake, refuge, refuge.owner_id, "setup buddies-round")
    assert "2 members taking part → 0 groups" in preview


async def test_audit_recent_is_refused_kindly_without_manage_server(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot
) -> None:
    assert await reply(fake, refuge, refuge.mod, "audit recent") == (
        "No moderator actions recorded yet."
    )
    await set_up_escalation(fake, refuge)

    refused = await reply(fake, refuge, refuge.bob, "audit recent")
    assert "**Manage Server**" in refused
    assert "please ask a moderator" in refused
    assert "settings.escalation" not in refused
    [line] = await audit_lines(fake, refuge, refuge.mod)
    assert line.endswith(f" · <@{refuge.owner_id}> · `settings.escalation`")


async def test_a_circle_that_named_an_erased_member_keeps_only_the_name(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database
) -> None:
    # (Picking a member used to fail with "give exactly one of member_id and name".)
    shown = await circle_add_member(fake, refuge, refuge.bob, "practical", refuge.alice)
    assert (
        f"🧰 **Practical** (help with tasks, meals, lifts): <@{refuge.alice}>"
        in (shown.embeds[0]["description"])
    )

    answer = await confirm_delete(fake, refuge, refuge.alice)
    assert f"• {KEPT_WHY['circle_people']} (1)" in bullets(answer)
    assert await where_held(database, refuge.alice) == []
    async with database.session() as session:
        [person] = (await session.scalars(select(CirclePerson))).all()
    assert (person.user_id, person.person_user_id, person.person_name) == (
        refuge.bob,
        None,
        "alice",
    )


async def test_delete_erases_only_this_server(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database
) -> None:
    elsewhere = refuge.elsewhere()
    for server, name in ((refuge, "Refuge"), (elsewhere, "Elsewhere")):
        await checkin_with_note(fake, server, database, refuge.alice, 4, f"a note in {name}")
        await reply(fake, server, refuge.alice, "offer", companionship=True, topics="chess")
    shown_elsewhere = await reply(fake, elsewhere, refuge.alice, "privacy show")

    await confirm_delete(fake, refuge, refuge.alice)

    assert (await reply(fake, refuge, refuge.alice, "privacy show")).startswith(NOTHING_KEPT)
    assert await reply(fake, elsewhere, refuge.alice, "privacy show") == shown_elsewhere
    [kept] = await checkins_of(database, refuge.alice)
    assert (kept.guild_id, kept.note) == (refuge.elsewhere_id, "a note in Elsewhere")
    _, exported = await export(fake, elsewhere, refuge.alice)
    assert exported["server_id"] == refuge.elsewhere_id
    [offer] = items(exported, "offers")
    assert offer["kinds of support you offer"] == ["companionship"]
    assert "chess" in offer["topics"]


async def moderator_claims_then_erases(
    fake: FakeDiscord, refuge: Refuge, database: Database
) -> tuple[int, str]:
    """The moderator goes on duty and claims Alice's request, then erases their own data."""
    await set_up_escalation(fake, refuge)
    await reply(fake, refuge, refuge.mod, "support duty on")
    request_id = await talk_with_context(
        fake, refuge, database, refuge.alice, "struggling", TALK_CONTEXT
    )
    await claim(fake, refuge, request_id, refuge.mod)
    return request_id, await confirm_delete(fake, refuge, refuge.mod)


async def test_a_moderator_who_erases_stays_accountable_under_a_pseudonym(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database
) -> None:
    request_id, _ = await moderator_claims_then_erases(fake, refuge, database)

    assert await where_held(database, refuge.mod) == []
    lines = await audit_lines(fake, refuge, refuge.owner_id)
    assert any(
        line.endswith(f" · {ERASED_MEMBER} · `talk.claimed` · support_request {request_id}")
        for line in lines
    )
    assert any(line.endswith(f" · {ERASED_MEMBER} · `duty.on`") for line in lines)
    assert not any(str(refuge.mod) in line for line in lines)
    # Alice's request is hers: untouched, and another moderator can still close it.
    request = await latest_request(database, refuge.alice)
    assert (request.id, request.status, request.context) == (request_id, "claimed", TALK_CONTEXT)
    assert request.claimed_by is not None
    assert request.claimed_by < 0
    resolved = await fake.click(
        await alert_for(fake, refuge, request_id), f"talk:resolve:{request_id}", refuge.owner_id
    )
    await resolved.response()

    async def closed() -> bool:
        return (await latest_request(database, refuge.alice)).status == "resolved"

    await fake.wait_for(closed, what="the request resolved by another moderator")


async def test_a_moderator_is_told_truly_why_a_request_they_handled_was_kept(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database
) -> None:
    _, answer = await moderator_claims_then_erases(fake, refuge, database)
    assert (await latest_request(database, refuge.alice)).context == TALK_CONTEXT
    [about_requests] = [line for line in bullets(answer) if "“I need to talk” requests" in line]
    assert "your words erased" not in about_requests


async def test_show_does_not_call_a_delivered_message_one_about_to_be_sent(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await reply(fake, refuge, refuge.cai, "thinking-of-you", member=refuge.alice, note="🌻")
    await fake.wait_for(lambda: fake.dm_messages(refuge.alice), what="the note delivered")
    await settle(fake, database, clock)

    shown = await reply(fake, refuge, refuge.alice, "privacy show")
    assert "• thinking-of-you notes you received: 1" in bullets(shown)
    assert "about to send you" not in shown
