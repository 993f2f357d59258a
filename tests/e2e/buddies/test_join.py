"""Taking part in buddy pairing end to end: /buddy join before and after /setup buddies, a
required role, an unknown timezone, /buddy status and /buddy leave — on both backends."""

from __future__ import annotations

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import MemberProfile
from bot.db.repositories import buddies as repo
from bot.services.buddies.membership import NOT_SET_UP
from tests.e2e.buddies.world import Meadow, participant, run, set_up
from tests.e2e.conftest import StartBot
from tests.fakediscord import FakeDiscord, StoredMessage


async def private_answer(
    fake: FakeDiscord, meadow: Meadow, member: int, command: str, **options: object
) -> StoredMessage:
    """Run a command and return its answer, which must be ephemeral and ping nobody."""
    handle = await run(fake, meadow, member, command, **options)
    assert handle.is_ephemeral, f"/{command} answered in public"
    message = await handle.original_message()
    assert fake.pinged(message) == set()
    return message


async def profile_of(db: Database, meadow: Meadow, member: int) -> MemberProfile | None:
    async with db.session() as session:
        return await session.get(MemberProfile, (meadow.guild_id, member))


async def test_joining_before_setup_says_so_and_stores_nothing(
    fake: FakeDiscord, meadow: Meadow, kinfolk: KinfolkBot, database: Database
) -> None:
    ana = meadow.members["ana"]
    answer = await private_answer(fake, meadow, ana, "buddy join")
    assert answer.content == NOT_SET_UP
    assert "/setup buddies" in answer.content
    assert await participant(database, meadow, ana) is None


async def test_joining_after_setup_is_private_and_confirms(
    fake: FakeDiscord, meadow: Meadow, kinfolk: KinfolkBot, database: Database
) -> None:
    done = await set_up(fake, meadow)
    assert done.startswith("Done.")
    assert f"<#{meadow.buddies_id}>" in done
    ana = meadow.members["ana"]
    answer = await private_answer(fake, meadow, ana, "buddy join", frequency="weekly")
    assert answer.content.startswith("You're in!")
    assert "private thread" in answer.content
    row = await participant(database, meadow, ana)
    assert row is not None
    assert (row.status, row.frequency, row.paused_until) == (repo.ACTIVE, "weekly", None)
    assert fake.messages(meadow.general_id, ephemeral=False) == []  # nothing public


async def test_a_required_role_refuses_others_kindly_and_admits_its_holders(
    fake: FakeDiscord, meadow: Meadow, start_bot: StartBot, database: Database
) -> None:
    # The role exists before the bot connects, as a real server's roles would.
    regulars = meadow.world.add_role(meadow.guild_id, "Regulars")
    ben = meadow.members["ben"]
    meadow.world.guilds[meadow.guild_id].members[ben].roles.append(regulars.id)
    await start_bot()
    done = await set_up(fake, meadow, required_role=regulars.id)
    assert f"Only members with <@&{regulars.id}> can join." in done

    ana = meadow.members["ana"]
    refused = await private_answer(fake, meadow, ana, "buddy join")
    assert f"<@&{regulars.id}>" in refused.content
    assert "A moderator can tell you how to get it." in refused.content
    assert "You're in" not in refused.content
    assert await participant(database, meadow, ana) is None

    admitted = await private_answer(fake, meadow, ben, "buddy join")
    assert admitted.content.startswith("You're in!")
    row = await participant(database, meadow, ben)
    assert row is not None
    assert row.status == repo.ACTIVE


async def test_an_unknown_timezone_is_refused_and_nothing_is_stored(
    fake: FakeDiscord, meadow: Meadow, kinfolk: KinfolkBot, database: Database
) -> None:
    await set_up(fake, meadow)
    ana = meadow.members["ana"]
    refused = await private_answer(fake, meadow, ana, "buddy join", timezone="Mars/Olympus")
    assert "Mars/Olympus" in refused.content
    assert "isn't a timezone I know" in refused.content
    assert "Nothing was changed" in refused.content
    assert await participant(database, meadow, ana) is None
    assert await profile_of(database, meadow, ana) is None

    # A real zone is kept, on the member's profile.
    joined = await private_answer(fake, meadow, ana, "buddy join", timezone="Europe/Berlin")
    assert joined.content.startswith("You're in!")
    profile = await profile_of(database, meadow, ana)
    assert profile is not None
    assert profile.timezone == "Europe/Berlin"


async def test_status_before_and_after_joining(
    fake: FakeDiscord, meadow: Meadow, kinfolk: KinfolkBot
) -> None:
    await set_up(fake, meadow)
    ana = meadow.members["ana"]
    before = await private_answer(fake, meadow, ana, "buddy status")
    assert before.content == "You're not in the buddy programme. **/buddy join** to take part."

    await private_answer(fake, meadow, ana, "buddy join")
    after = await private_answer(fake, meadow, ana, "buddy status")
    assert "You don't have a buddy right now; you'll be paired next round." in after.content
    assert "Rounds you've taken part in: 0." in after.content
    assert "not in the buddy programme" not in after.content


async def test_leaving_when_not_taking_part_changes_nothing(
    fake: FakeDiscord, meadow: Meadow, kinfolk: KinfolkBot, database: Database
) -> None:
    await set_up(fake, meadow)
    ana = meadow.members["ana"]
    answer = await private_answer(fake, meadow, ana, "buddy leave")
    assert answer.content == "You weren't in the buddy programme, so nothing changed."
    assert await participant(database, meadow, ana) is None

    await private_answer(fake, meadow, ana, "buddy join")
    left = await private_answer(fake, meadow, ana, "buddy leave")
    assert left.content.startswith("You've left the buddy programme.")
    row = await participant(database, meadow, ana)
    assert row is not None
    assert row.status == repo.LEFT
    again = await private_answer(fake, meadow, ana, "buddy leave")
    assert again.content == "You weren't in the buddy programme, so nothing changed."
    status = await private_answer(fake, meadow, ana, "buddy status")
    assert "not in the buddy programme" in status.content
