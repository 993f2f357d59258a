"""The server the fuzz tests run against, and the set-up that makes every command do real work.

Everything a fuzzed option can name lives here: text and announcement channels (one the bot
may not read), roles of every kind (@everyone, the bot's managed role, moderators, a role
nobody is ever pinged for), members (an owner, an admin, a moderator, an ordinary member, a
bystander, another bot) and a user who is no longer a member. The server's and a member's
names carry mentions and markdown, since the bot quotes names too. ``add_late_entities``
then adds a role and a channel the bot never heard of (created after it connected, no
gateway event), the nearest the real Discord client gets to sending an id that doesn't
exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.fakediscord import Channel, FakeDiscord, InteractionHandle, Overwrite, World
from tests.fakediscord.permissions import SEND_MESSAGES, VIEW_CHANNEL
from tests.fakediscord.world import new_snowflake

MANAGE_GUILD = 1 << 5
ANNOUNCEMENT = 5  # Discord's channel type for announcement (news) channels


@dataclass
class Hearth:
    world: World
    guild_id: int
    owner: int
    admin: int  # has Manage Server through the Admins role
    mod: int  # in the Moderators role (escalation moderator, no Manage Server)
    alice: int  # an ordinary member
    bystander: int  # never invokes anything: nobody should ever ping her
    other_bot: int
    ghost: int  # a user who left the server (resolved as a user, not a member)
    general: int
    checkins: int
    alerts: int
    support: int
    buddies: int
    milestones: int
    announcements: int
    locked: int  # the bot can neither read nor write here
    moderators_role: int
    admins_role: int
    on_duty_role: int
    gardeners_role: int  # an ordinary role no feature ever pings
    late_role: int = 0
    late_channel: int = 0
    # Roles Kinfolk may legitimately ping (the escalation roles it was configured with).
    escalation_roles: set[int] = field(default_factory=set)

    @property
    def invokers(self) -> tuple[int, ...]:
        """Who runs the fuzzed commands: the owner, Manage Server through a role, a
        moderator (escalation role only) and an ordinary member."""
        return (self.owner, self.admin, self.mod, self.alice)

    # What strategies may name, fixed once fuzzing starts: hypothesis replays examples, and
    # a strategy must draw from the same choices every time (threads come and go meanwhile).
    _names: tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]] | None = None

    def freeze(self) -> None:
        """Fix the users, roles and channels that fuzzed values may name from now on."""
        guild = self.world.guilds[self.guild_id]
        channels = tuple((c.id, c.type) for c in self.world.guild_channels(self.guild_id))
        self._names = ((*guild.members, self.ghost), tuple(guild.roles), channels)

    def _frozen(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
        if self._names is None:
            self.freeze()
        assert self._names is not None
        return self._names

    @property
    def user_ids(self) -> list[int]:
        return list(self._frozen()[0])

    @property
    def role_ids(self) -> list[int]:
        return list(self._frozen()[1])

    def channel_ids(self, types: list[int] | None = None) -> list[int]:
        return [c for c, kind in self._frozen()[2] if types is None or kind in types]


def build_hearth() -> Hearth:
    world = World()
    guild = world.add_guild("Hearth <@&1> @everyone **")
    gid = guild.id
    mods = world.add_role(gid, "Moderators")
    admins = world.add_role(gid, "Admins", permissions=MANAGE_GUILD)
    on_duty = world.add_role(gid, "On duty")
    gardeners = world.add_role(gid, "Gardeners")
    general = world.add_text_channel(gid, "general")
    checkins = world.add_text_channel(gid, "check-ins")
    alerts = world.add_text_channel(gid, "mod-alerts")
    support = world.add_text_channel(gid, "support")
    buddies = world.add_text_channel(gid, "buddies")
    milestones = world.add_text_channel(gid, "milestones")
    position = len(guild.channel_ids)
    news = world._add_channel(  # World has no helper for announcement channels
        Channel(new_snowflake(), ANNOUNCEMENT, "announcements", gid, None, position)
    )
    bot_role = next(r.id for r in guild.roles.values() if r.managed)
    locked = world.add_text_channel(
        gid,
        "staff-only",
        overwrites=[Overwrite(bot_role, 0, deny=VIEW_CHANNEL | SEND_MESSAGES)],
    )
    ghost = world.add_user("ghost")
    return Hearth(
        world=world,
        guild_id=gid,
        owner=guild.owner_id,
        admin=world.add_member(gid, "admin", roles=[admins.id]).id,
        mod=world.add_member(gid, "mod", roles=[mods.id]).id,
        alice=world.add_member(gid, "alice @here").id,
        bystander=world.add_member(gid, "bystander", roles=[gardeners.id]).id,
        other_bot=world.add_member(gid, "OtherBot", bot=True).id,
        ghost=ghost.id,
        general=general.id,
        checkins=checkins.id,
        alerts=alerts.id,
        support=support.id,
        buddies=buddies.id,
        milestones=milestones.id,
        announcements=news.id,
        locked=locked.id,
        moderators_role=mods.id,
        admins_role=admins.id,
        on_duty_role=on_duty.id,
        gardeners_role=gardeners.id,
    )


def add_late_entities(hearth: Hearth) -> None:
    """A role and a channel created without telling the bot (no gateway event); then the
    names fuzzed values may use are fixed."""
    world = hearth.world
    hearth.late_role = world.add_role(hearth.guild_id, "Late role").id
    hearth.late_channel = world.add_text_channel(hearth.guild_id, "late-channel").id
    hearth.freeze()


async def run_setup(fake: FakeDiscord, hearth: Hearth) -> list[InteractionHandle]:
    """Configure every feature as the owner, and let two members join buddies, so the
    fuzzed commands have a configured server to work in."""
    steps: list[tuple[int, str, dict[str, Any]]] = [
        (
            hearth.owner,
            "setup escalation",
            {
                "alert_channel": hearth.alerts,
                "moderator_role": hearth.moderators_role,
                "support_channel": hearth.support,
                "on_duty_role": hearth.on_duty_role,
                "second_tier_role": hearth.admins_role,
            },
        ),
        (hearth.owner, "setup checkins", {"channel": hearth.checkins, "prompt_time": "10:00"}),
        (hearth.owner, "setup buddies", {"channel": hearth.buddies}),
        (hearth.owner, "setup reachout", {"enabled": True, "threshold_days": 3}),
        (
            hearth.owner,
            "setup circles",
            {
                "emotional": hearth.general,
                "practical": hearth.support,
                "allow_anonymous": True,
                "milestone_channel": hearth.milestones,
            },
        ),
        (hearth.alice, "buddy join", {}),
        (hearth.mod, "buddy join", {}),
    ]
    hearth.escalation_roles |= {hearth.moderators_role, hearth.on_duty_role, hearth.admins_role}
    handles = []
    for member, command, options in steps:
        handle = await fake.invoke(hearth.guild_id, hearth.general, member, command, options)
        await handle.response()
        handles.append(handle)
    return handles
