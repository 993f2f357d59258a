"""An international server for the language end-to-end tests, and what they look for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from babel.messages.catalog import Catalog

from bot import catalogs, i18n
from tests.fakediscord import FakeDiscord, InteractionHandle, StoredMessage, World

MANAGE_GUILD = 1 << 5
# Each member's Discord locale, the catalog it reads, and their country's first line.
MEMBERS = {
    "ana": ("es-ES", "es", "**024**", "**112**"),
    "bernd": ("de", "de", "**0800 111 0 111**", "**112**"),
    "claire": ("fr", "fr", "**3114**", "**112**"),
    "joao": ("pt-BR", "pt_BR", "**188**", "**192**"),
}


@dataclass
class Plaza:
    world: World
    guild_id: int
    owner_id: int
    general_id: int
    checkins_id: int
    alerts_id: int
    support_id: int
    moderators_role: int
    mod: int
    members: dict[str, int]

    def where(self, member: int) -> tuple[int, int, int]:
        return self.guild_id, self.general_id, member


def build_plaza() -> Plaza:
    world = World()
    guild = world.add_guild("Plaza")
    general = world.add_text_channel(guild.id, "general")
    checkins = world.add_text_channel(guild.id, "check-ins")
    alerts = world.add_text_channel(guild.id, "mod-alerts")
    support = world.add_text_channel(guild.id, "support")
    moderators = world.add_role(guild.id, "Moderators", permissions=MANAGE_GUILD)
    return Plaza(
        world=world,
        guild_id=guild.id,
        owner_id=world.guilds[guild.id].owner_id,
        general_id=general.id,
        checkins_id=checkins.id,
        alerts_id=alerts.id,
        support_id=support.id,
        moderators_role=moderators.id,
        mod=world.add_member(guild.id, "mod", roles=[moderators.id]).id,
        members={
            name: world.add_member(guild.id, name, locale=locale).id
            for name, (locale, *_rest) in MEMBERS.items()
        },
    )


async def run(
    fake: FakeDiscord, plaza: Plaza, member: int, command: str, locale: str, **options: Any
) -> InteractionHandle:
    handle = await fake.invoke(*plaza.where(member), command, options=options, locale=locale)
    await handle.response()
    return handle


async def set_up_escalation(fake: FakeDiscord, plaza: Plaza) -> None:
    options = {
        "alert_channel": plaza.alerts_id,
        "moderator_role": plaza.moderators_role,
        "support_channel": plaza.support_id,
    }
    handle = await fake.invoke(*plaza.where(plaza.owner_id), "setup escalation", options=options)
    await handle.original_message()


def texts(message: StoredMessage) -> str:
    """Everything a reader sees of a message: content, embeds, and the labels of its
    buttons and selects."""
    parts = [message.content or ""]
    for embed in message.embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [embed.get("footer", {}).get("text") or ""]
        for item in embed.get("fields") or []:
            parts += [item.get("name") or "", item.get("value") or ""]
    stack: list[Any] = list(message.components or [])
    while stack:
        component = stack.pop()
        if isinstance(component, dict):
            parts += [str(component.get(key) or "") for key in ("label", "placeholder")]
            stack += component.get("components") or []
            stack += [o for o in component.get("options") or [] if isinstance(o, dict)]
    return "\n".join(parts)


_TEMPLATE: Catalog | None = None


def english_left_in(text: str, code: str) -> list[str]:
    """The English messages (of a few words or more) that appear untranslated in `text`,
    written for a reader of language `code`: none, if the message is all in one language."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = catalogs.load(catalogs.TEMPLATE)
    found = []
    translations = i18n.translations(code)
    for message in _TEMPLATE:
        if not isinstance(message.id, str) or message.context or len(message.id) < 16:
            continue
        fixed = message.id.split("{")[0].strip()  # the words before the first placeholder
        if len(fixed) >= 16 and fixed in text and translations.gettext(message.id) != message.id:
            found.append(fixed)
    return found
