"""The member's own support circle end to end: the private /circle answer with its picture,
adding a member through the user select and a typed name through the form (marked
professional), removing someone, typed names encrypted at rest, gap suggestions tied to the
server's channels, and controls that keep working across a restart — on both backends."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from matplotlib.image import imread
from sqlalchemy import text

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import CircleMember
from tests.e2e.circles.world import (
    KINDS,
    PRIVATE,
    Commons,
    add_member,
    add_name,
    choose_kind,
    circle_rows,
    click,
    description,
    gap_ideas,
    kind_line,
    open_circle,
    options_of,
    reply,
    setup_circles,
)
from tests.e2e.conftest import StartBot, embed_fields
from tests.fakediscord import FakeDiscord

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_valid_png(data: bytes) -> tuple[int, int]:
    """Signature, a well-formed IHDR chunk (with its CRC), IEND and a decodable image."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    (crc,) = struct.unpack(">I", data[29:33])
    assert crc == zlib.crc32(data[12:29])
    assert width > 0
    assert height > 0
    assert depth == 8
    assert colour in (2, 6)
    assert interlace in (0, 1)
    assert data.endswith(b"IEND\xae\x42\x60\x82")
    pixels = imread(io.BytesIO(data))
    assert pixels.shape[:2] == (height, width)
    return width, height


REMOVE = "circle:remove:{}"


def remove_id(commons: Commons) -> str:
    return REMOVE.format(commons.guild_id)


async def test_circle_answers_privately_with_a_picture_and_the_people(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot, database: Database
) -> None:
    empty = await open_circle(fake, commons, commons.alice)
    [embed] = empty.embeds
    assert embed["title"] == "Your support circle"
    assert embed["image"]["url"] == "attachment://circle.png"
    assert [a.filename for a in empty.attachments] == ["circle.png"]
    assert_valid_png(empty.file("circle.png"))
    for kind in KINDS:
        assert kind_line(empty, kind).endswith("nobody yet")
    assert PRIVATE in description(empty)
    g = commons.guild_id
    # Nothing to remove yet, so no remove select; the add select offers the four kinds.
    assert empty.custom_ids == [
        f"circle:add:{g}",
        f"circle:milestones:{g}:on",
        f"circle:milestones:{g}:off",
        f"circle:notes:{g}:on",
        f"circle:notes:{g}:off",
    ]
    assert list(options_of(empty, f"circle:add:{g}").values()) == list(KINDS)

    await add_name(fake, commons, empty, commons.alice, "emotional", "my sister Ines")
    answer = await add_name(fake, commons, empty, commons.alice, "companionship", "the choir")
    assert answer.ephemeral
    assert kind_line(answer, "emotional").endswith("my sister Ines")
    assert kind_line(answer, "companionship").endswith("the choir")
    assert kind_line(answer, "practical").endswith("nobody yet")
    width, height = assert_valid_png(answer.file("circle.png"))
    assert (width, height) == (700, 700)
    assert answer.file("circle.png") != empty.file("circle.png")  # the picture shows them
    assert set(options_of(answer, remove_id(commons))) == {
        "my sister Ines · Emotional",
        "the choir · Companionship",
    }

    # Nobody else sees alice's circle: bob's own is empty.
    bobs = await open_circle(fake, commons, commons.bob)
    assert "Ines" not in description(bobs)
    assert all(kind_line(bobs, k).endswith("nobody yet") for k in KINDS)
    # Everything was answered privately: nothing public was posted anywhere.
    public = [
        m
        for c in commons.world.guild_channels(commons.guild_id)
        for m in fake.messages(c.id, ephemeral=False)
    ]
    assert public == []
    assert [
        (r.kind, r.person_name) for r in await circle_rows(database, commons, commons.alice)
    ] == [
        ("emotional", "my sister Ines"),
        ("companionship", "the choir"),
    ]
    assert await circle_rows(database, commons, commons.bob) == []


async def test_adding_a_member_from_the_user_select_tells_them_nothing(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot, database: Database
) -> None:
    circle = await open_circle(fake, commons, commons.alice)
    question = await choose_kind(fake, commons, circle, commons.alice, "emotional")
    assert "Who gives you **emotional** support" in question.content
    assert question.custom_ids == [
        f"circle:pick:{commons.guild_id}:emotional",
        f"circle:name:{commons.guild_id}:emotional",
    ]
    [picker] = [c for row in question.components for c in row["components"]][:1]
    assert picker["type"] == 5  # a user select

    answer = await add_member(fake, commons, circle, commons.alice, "emotional", commons.bob)
    assert "error id" not in answer.content
    assert kind_line(answer, "emotional").endswith(f"<@{commons.bob}>")
    assert_valid_png(answer.file("circle.png"))
    assert fake.pinged(answer) == set()
    assert list(options_of(answer, remove_id(commons))) == ["bob · Emotional"]
    [row] = await circle_rows(database, commons, commons.alice)
    assert (row.kind, row.person_user_id) == ("emotional", commons.bob)
    # Being listed in someone's circle tells the listed person nothing.
    assert fake.dm_messages(commons.bob) == []

    # Picking yourself is refused kindly (not with an error id) and changes nothing.
    question = await choose_kind(fake, commons, answer, commons.alice, "practical")
    pick = f"circle:pick:{commons.guild_id}:practical"
    refused = await click(fake, question, pick, commons.alice, values=[str(commons.alice)])
    assert refused.content.startswith("That's you!")
    assert len(await circle_rows(database, commons, commons.alice)) == 1


async def test_after_picking_a_member_the_question_text_is_gone(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot
) -> None:
    circle = await open_circle(fake, commons, commons.alice)
    answer = await add_member(fake, commons, circle, commons.alice, "emotional", commons.bob)
    assert kind_line(answer, "emotional").endswith(f"<@{commons.bob}>")
    assert "Who gives you" not in answer.content


async def test_picking_a_bot_is_refused_and_changes_nothing(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot, database: Database
) -> None:
    circle = await open_circle(fake, commons, commons.alice)
    pick = f"circle:pick:{commons.guild_id}:practical"
    question = await choose_kind(fake, commons, circle, commons.alice, "practical")
    bot_id = commons.world.bot_user.id
    refused = await click(fake, question, pick, commons.alice, values=[str(bot_id)])
    assert refused.content == "That's a bot: pick a person. Nothing was changed."
    assert await circle_rows(database, commons, commons.alice) == []


async def test_a_typed_name_marked_professional_is_never_stored_in_plaintext(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    backend: str,
) -> None:
    name = "Dr Quillfeather"
    circle = await open_circle(fake, commons, commons.alice)
    answer = await add_name(fake, commons, circle, commons.alice, "emotional", name, "yes")
    assert kind_line(answer, "emotional").endswith(f"{name} (professional)")
    other = await add_name(fake, commons, circle, commons.alice, "practical", "Neighbour Tomasz")
    assert kind_line(other, "practical").endswith("Neighbour Tomasz")  # "no" is the default
    rows = await circle_rows(database, commons, commons.alice)
    assert [(r.person_name, r.professional, r.person_user_id) for r in rows] == [
        (name, True, None),
        ("Neighbour Tomasz", False, None),
    ]
    async with database.session() as session:
        raw = list(await session.scalars(text("SELECT person_name FROM circle_people")))
    assert len(raw) == 2
    assert all("Quillfeather" not in str(v) and "Tomasz" not in str(v) for v in raw)
    if backend == "sqlite":
        path = Path(str(database.engine.url.database))
        files = [path, Path(f"{path}-wal")]
        assert files[0].exists()
        data = b"".join(p.read_bytes() for p in files if p.exists())
        assert len(data) > 0
        for needle in ("Quillfeather", "Tomasz"):
            assert needle.encode() not in data
            assert needle.encode("utf-16-le") not in data


async def test_removing_someone_edits_the_circle_and_its_picture(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot, database: Database
) -> None:
    circle = await open_circle(fake, commons, commons.alice)
    await add_name(fake, commons, circle, commons.alice, "emotional", "my sister Ines")
    answer = await add_name(fake, commons, circle, commons.alice, "practical", "Sam next door")
    before = answer.file("circle.png")
    options = options_of(answer, remove_id(commons))
    value = options["my sister Ines · Emotional"]

    edited = await click(fake, answer, remove_id(commons), commons.alice, values=[value])
    assert edited.id == answer.id  # the same private message, edited in place
    assert edited.edited_timestamp is not None
    assert kind_line(edited, "emotional").endswith("nobody yet")
    assert kind_line(edited, "practical").endswith("Sam next door")
    assert [a.filename for a in edited.attachments] == ["circle.png"]
    assert_valid_png(edited.file("circle.png"))
    assert edited.file("circle.png") != before
    assert list(options_of(edited, remove_id(commons))) == ["Sam next door · Practical"]
    rows = await circle_rows(database, commons, commons.alice)
    assert [(r.kind, r.person_name) for r in rows] == [("practical", "Sam next door")]

    last = options_of(edited, remove_id(commons))["Sam next door · Practical"]
    emptied = await click(fake, edited, remove_id(commons), commons.alice, values=[last])
    assert all(kind_line(emptied, k).endswith("nobody yet") for k in KINDS)
    assert remove_id(commons) not in emptied.custom_ids
    assert await circle_rows(database, commons, commons.alice) == []


async def test_someone_elses_remove_select_removes_nothing_of_theirs(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot, database: Database
) -> None:
    circle = await open_circle(fake, commons, commons.alice)
    answer = await add_name(fake, commons, circle, commons.alice, "emotional", "my sister Ines")
    [value] = options_of(answer, remove_id(commons)).values()
    # bob presses a copy of alice's select (a crafted interaction, since Discord shows
    # ephemeral messages to one member only): the entry is looked up as bob's, so alice's
    # circle stays as it was.
    await click(fake, answer, remove_id(commons), commons.bob, values=[value])
    rows = await circle_rows(database, commons, commons.alice)
    assert [r.person_name for r in rows] == ["my sister Ines"]


async def test_the_same_name_twice_in_a_kind_is_refused_kindly(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot, database: Database
) -> None:
    circle = await open_circle(fake, commons, commons.alice)
    await add_name(fake, commons, circle, commons.alice, "emotional", "Mum")
    again = await add_name(fake, commons, circle, commons.alice, "emotional", "  mum ")
    assert again.content == "They're already in your circle for emotional support."
    assert again.embeds == []
    elsewhere = await add_name(fake, commons, circle, commons.alice, "practical", "Mum")
    assert kind_line(elsewhere, "practical").endswith("Mum")
    rows = await circle_rows(database, commons, commons.alice)
    assert [(r.kind, r.person_name) for r in rows] == [("emotional", "Mum"), ("practical", "Mum")]


# ----- gap suggestions -----------------------------------------------------------------


async def test_each_empty_kind_gets_one_suggestion_naming_the_servers_channel(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot
) -> None:
    plain = await open_circle(fake, commons, commons.alice)
    ideas = gap_ideas(plain)
    assert len(ideas) == 4
    assert "<#" not in "\n".join(ideas)  # no channels configured yet
    assert "**/talk**" in ideas[0]
    assert "/buddy join" not in "\n".join(ideas)  # no buddy programme yet

    ch = commons.channels
    await setup_circles(
        fake,
        commons,
        emotional=ch["emotional"],
        practical=ch["practical"],
        informational=ch["informational"],
        companionship=ch["companionship"],
    )
    await reply(fake, commons, commons.owner_id, "setup buddies", channel=commons.buddies_id)
    circle = await open_circle(fake, commons, commons.alice)
    ideas = gap_ideas(circle)
    assert len(ideas) == 4
    for idea, kind in zip(ideas, KINDS, strict=True):
        assert f"<#{ch[kind]}>" in idea, (kind, idea)
        others = [c for k, c in ch.items() if k != kind]
        assert not any(f"<#{c}>" in idea for c in others)
    assert "**/talk**" in ideas[0]
    assert "**/buddy join**" in ideas[0]
    assert "**/buddy join**" in ideas[3]
    assert "**/offer**" in ideas[2]

    filled = await add_name(fake, commons, circle, commons.alice, "practical", "Sam next door")
    ideas = gap_ideas(filled)
    assert len(ideas) == 3
    assert not any(f"<#{ch['practical']}>" in i for i in ideas)
    assert [
        f"<#{ch[k]}>" in i
        for i, k in zip(ideas, ("emotional", "informational", "companionship"), strict=True)
    ] == [True, True, True]

    for kind, name in (
        ("emotional", "Ines"),
        ("informational", "Dr Roy"),
        ("companionship", "choir"),
    ):
        full = await add_name(fake, commons, circle, commons.alice, kind, name)
    assert gap_ideas(full) == []
    assert "That's a strong circle" in description(full)


# ----- restarts --------------------------------------------------------------------------


async def test_the_circles_controls_keep_working_after_a_restart(
    fake: FakeDiscord, commons: Commons, start_bot: StartBot, database: Database
) -> None:
    await start_bot()
    circle = await open_circle(fake, commons, commons.alice)
    answer = await add_name(fake, commons, circle, commons.alice, "emotional", "my sister Ines")
    question = await choose_kind(fake, commons, answer, commons.alice, "practical")
    opened = await fake.click(question, f"circle:name:{commons.guild_id}:practical", commons.alice)
    await opened.response()
    assert opened.modal is not None

    await start_bot()  # a restart: the old messages and the open form must still work
    sent = await fake.submit_modal(opened, {"circle-name": "Sam next door"})
    after = await sent.original_message(timeout=30)
    assert kind_line(after, "practical").endswith("Sam next door")
    [value] = [v for k, v in options_of(answer, remove_id(commons)).items() if "Ines" in k]
    edited = await click(fake, answer, remove_id(commons), commons.alice, values=[value])
    assert kind_line(edited, "emotional").endswith("nobody yet")
    rows = await circle_rows(database, commons, commons.alice)
    assert [r.person_name for r in rows] == ["Sam next door"]


async def test_setup_show_includes_support_circles_and_privacy(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot
) -> None:
    def fields() -> dict[str, str]:
        return embed_fields(shown.embeds)

    shown = await reply(fake, commons, commons.owner_id, "setup show")
    assert fields()["Support circles (▫️ not set up)"] == (
        "/circle and notes work; no suggested channels; notes carry the sender's name; "
        "no milestones channel: run `/setup circles`"
    )
    assert fields()["Privacy (✅ set up)"] == (
        "notes and what members wrote when asking to talk kept 90 days; members who leave "
        "are erased after 30 days (the defaults: `/setup privacy` changes them)"
    )

    await setup_circles(
        fake,
        commons,
        emotional=commons.channels["emotional"],
        allow_anonymous=True,
        milestone_channel=commons.milestones_id,
    )
    await reply(fake, commons, commons.owner_id, "setup privacy", retention_days=30)
    shown = await reply(fake, commons, commons.owner_id, "setup show")
    assert fields()["Support circles (✅ set up)"] == (
        f"suggested channels: emotional <#{commons.channels['emotional']}>; anonymous notes "
        f"allowed; milestones in <#{commons.milestones_id}>"
    )
    assert fields()["Privacy (✅ set up)"] == (
        "notes and what members wrote when asking to talk kept 30 days; members who leave "
        "are erased after 30 days"
    )


async def test_the_milestone_and_note_switches_change_only_the_members_own_settings(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot, database: Database
) -> None:
    """The four switches under /circle: each says what it did, stores it for the member who
    pressed it in this server, and can be pressed back."""
    g = commons.guild_id

    async def settings_of(member: int) -> tuple[bool, bool] | None:
        async with database.session() as session:
            row = await session.get(CircleMember, (g, member))
            return None if row is None else (row.milestones, row.notes_off)

    circle = await open_circle(fake, commons, commons.alice)
    said = await click(fake, circle, f"circle:milestones:{g}:on", commons.alice)
    assert said.content.startswith("Done: your milestones (a check-in streak")
    said = await click(fake, circle, f"circle:notes:{g}:off", commons.alice)
    assert "you won't receive thinking-of-you notes here" in said.content
    assert said.ephemeral
    assert await settings_of(commons.alice) == (True, True)
    refused = await reply(fake, commons, commons.bob, "thinking-of-you", member=commons.alice)
    assert "note" in refused.content.lower()
    assert not refused.content.startswith("💌 On its way")

    said = await click(fake, circle, f"circle:milestones:{g}:off", commons.alice)
    assert said.content == "Done: your milestones won't be celebrated publicly."
    said = await click(fake, circle, f"circle:notes:{g}:on", commons.alice)
    assert said.content == "Done: members can send you thinking-of-you notes."
    assert await settings_of(commons.alice) == (False, False)
    assert await settings_of(commons.bob) is None  # nobody else's settings were touched
