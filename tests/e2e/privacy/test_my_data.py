"""/privacy end to end: a member who used every feature through real commands sees what is
kept (/privacy show), takes a copy (/privacy export) and erases it (/privacy delete, only
after the button); afterwards a scan of every table finds no row with their id, and what
stays for others' safety stays under a pseudonym — on both backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import BuddyBlock, CirclePerson, SupportRequest
from bot.services.privacy.member_data import KEPT_WHY
from tests.e2e.privacy.world import (
    CHECKIN_NOTE,
    CIRCLE_NAME,
    ERASED_MEMBER,
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
    custom_ids,
    export,
    latest_request,
    move_to,
    reply,
    run,
    set_up_escalation,
    talk_with_context,
    use_everything,
    where_held,
)
from tests.e2e.talk.world import settle
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

DELETE_BUTTON = "privacy:delete:{guild}"


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


async def test_export_is_a_private_json_file_with_the_notes_readable_and_is_audited(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    story = await use_everything(fake, refuge, database, clock)

    message, exported = await export(fake, refuge, refuge.alice)
    assert message.ephemeral
    assert [a.filename for a in message.attachments] == ["kinfolk-my-data.json"]
    assert "notes decrypted" in message.content
    assert (exported["guild_id"], exported["user_id"]) == (refuge.guild_id, refuge.alice)
    data = exported["data"]

    [checkin] = data["checkins.user_id"]
    assert (checkin["id"], checkin["mood"], checkin["note"]) == (story.checkin_id, 2, CHECKIN_NOTE)
    requests = {r["id"]: r for r in data["support_requests.member_id"]}
    assert set(requests) == {story.claimed_request, story.open_request}
    claimed = requests[story.claimed_request]
    assert claimed["context"] == TALK_CONTEXT
    assert (claimed["status"], claimed["claimed_by"]) == ("resolved", refuge.mod)
    assert requests[story.open_request]["status"] == "open"
    [offer] = data["support_offers.user_id"]
    assert offer["kinds"] == ["emotional"]
    assert all(topic in offer["topics"] for topic in OFFER_TOPICS)
    [circle] = data["circle_people.user_id"]
    assert (circle["kind"], circle["person_name"]) == ("emotional", CIRCLE_NAME)
    [sent] = data["thinking_notes.sender_id"]
    assert (sent["recipient_id"], sent["note"]) == (refuge.bob, NOTE_SENT)
    [received] = data["thinking_notes.recipient_id"]
    assert (received["sender_id"], received["note"]) == (refuge.cai, NOTE_RECEIVED)
    [block] = data["buddy_blocks.user_id"]
    assert block["blocked_id"] == refuge.bob
    assert [m["user_id"] for m in data["buddy_members.user_id"]] == [refuge.alice]
    assert data["member_activity.user_id"][0]["dm_consent"] == "yes"
    # What others keep about her in confidence is theirs: Bob's block, Bob's circle.
    assert "buddy_blocks.blocked_id" not in data
    assert "circle_people.person_user_id" not in data
    # Outbox rows are summarised, never their payloads (which hold others' ids and texts).
    assert all(
        set(row) == {"kind", "status", "due_at", "sent_at"}
        for row in data.get("outbox_messages.target_id", [])
    )

    # Nothing about the export shows in public; the moderators' audit records that it happened.
    assert fake.messages(refuge.general_id, ephemeral=False) == []
    [latest, *_] = await audit_lines(fake, refuge, refuge.mod)
    assert latest.endswith(f" · <@{refuge.alice}> · `privacy.export`")


async def test_an_anonymous_note_received_does_not_name_its_sender_in_the_export(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await reply(fake, refuge, refuge.owner_id, "setup circles", allow_anonymous=True)
    await reply(
        fake, refuge, refuge.cai, "thinking-of-you", member=refuge.alice, note="🌻", anonymous=True
    )
    await settle(fake, database, clock)
    _, exported = await export(fake, refuge, refuge.alice)
    [received] = exported["data"]["thinking_notes.recipient_id"]
    assert (received["note"], received["anonymous"], received["sender_id"]) == ("🌻", True, None)
    assert str(refuge.cai) not in str(exported)


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
    assert custom_ids(warning) == [DELETE_BUTTON.format(guild=refuge.guild_id)]
    # Asking is not erasing, and nor is walking away from the warning.
    await settle(fake, database, clock)
    assert await reply(fake, refuge, refuge.alice, "privacy show") == before
    assert len(await checkins_of(database, refuge.alice)) == 1


async def test_delete_erases_every_trace_and_says_what_was_kept_and_why(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    story = await use_everything(fake, refuge, database, clock)
    await export(fake, refuge, refuge.alice)
    assert await where_held(database, refuge.alice) != []  # the scan does see her data

    answer = await confirm_delete(fake, refuge, refuge.alice)

    assert answer.startswith("Done. Erased ")
    assert "**What was kept, and why:**" in answer
    kept = bullets(answer)
    assert f"• {KEPT_WHY['support_requests']} (1)" in kept  # the request the moderator acted on
    assert f"• {KEPT_WHY['buddy_blocks']} (1)" in kept  # Bob's block against her
    assert f"• {KEPT_WHY['circle_people']} (1)" in kept  # Bob's circle, which named her
    assert any(line.startswith(f"• {KEPT_WHY['audit_log']} (") for line in kept)
    assert len(kept) == 4
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
    assert lines[0].endswith(f" · {ERASED_MEMBER} · `privacy.delete`")
    assert any(line.endswith(f" · {ERASED_MEMBER} · `privacy.export`") for line in lines)
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
    assert not any("thinking-of-you notes you received" in line for line in bob)
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
            assert not custom_ids(message)

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
    assert "→ 1 group(s)" in await reply(fake, refuge, refuge.owner_id, "setup buddies-round")

    await reply(fake, refuge, refuge.bob, "buddy block", member=refuge.alice)
    await confirm_delete(fake, refuge, refuge.alice)
    assert await where_held(database, refuge.alice) == []
    assert (await reply(fake, refuge, refuge.alice, "buddy join")).startswith("You're in!")

    preview = await reply(fake, refuge, refuge.owner_id, "setup buddies-round")
    assert "2 member(s) taking part → 0 group(s)" in preview


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
    [offer] = exported["data"]["support_offers.user_id"]
    assert (offer["guild_id"], offer["kinds"]) == (refuge.elsewhere_id, ["companionship"])
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
