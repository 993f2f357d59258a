"""What escalation messages say. Plain data (Discord's embed JSON shape), no discord import,
so the alert can be rendered the same way by the outbox and by a button that edits it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.escalation import Status, Urgency
from bot.jobs.delivery import Delivery, plain_payload
from bot.services.escalation.config import Resources
from bot.services.escalation.info import EscalationConfig, RequestInfo

STYLE = {
    Urgency.CRISIS: ("🔴", 0xD93F0B, "In crisis"),
    Urgency.STRUGGLING: ("🟠", 0xF29D35, "Struggling"),
    Urgency.CHAT: ("🟢", 0x2EA043, "Would like someone to chat with"),
}
CLOSED_COLOUR = 0x8B949E
ALERT_VIEW = "talk.alert"


def ts(moment: datetime, style: str = "R") -> str:
    """A Discord timestamp: each reader sees it in their own time and language."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def status_line(request: RequestInfo) -> str:
    if request.status is Status.OPEN:
        return "Waiting: nobody has claimed it yet"
    if request.status is Status.CLAIMED and request.claimed_by and request.claimed_at:
        return f"Claimed by <@{request.claimed_by}> {ts(request.claimed_at)}"
    if request.status is Status.RESOLVED and request.closed_at:
        return f"Resolved by <@{request.closed_by}> {ts(request.closed_at)}"
    if request.closed_at:
        return f"Closed: the member said they're OK now {ts(request.closed_at)}"
    return request.status.value


def alert_embed(request: RequestInfo) -> dict[str, Any]:
    emoji, colour, label = STYLE[request.urgency]
    fields = [
        {"name": "Member", "value": f"<@{request.member_id}>", "inline": True},
        {"name": "Urgency", "value": f"{emoji} {label}", "inline": True},
        {"name": "Waiting since", "value": ts(request.created_at), "inline": True},
        {"name": "Status", "value": status_line(request), "inline": False},
        {
            "name": "Context",
            "value": "Given. Press **Show context** to read it (only you will see it)."
            if request.has_context
            else "None given.",
            "inline": False,
        },
    ]
    if request.thread_id:
        fields.append(
            {"name": "Private thread", "value": f"<#{request.thread_id}>", "inline": False}
        )
    return {
        "title": f"{emoji} Someone needs to talk",
        "color": colour if request.status.active else CLOSED_COLOUR,
        "fields": fields,
        "footer": {"text": f"Request #{request.request_id}"},
    }


def alert_content(request: RequestInfo, role_id: int | None) -> str:
    emoji, _, label = STYLE[request.urgency]
    who = f"<@&{role_id}> " if role_id else ""
    return f"{who}{emoji} **{label}**: a member is asking to talk."


def alert_delivery(request: RequestInfo, config: EscalationConfig, role_id: int | None) -> Delivery:
    assert config.alert_channel_id
    return Delivery(
        target_type="channel",
        target_id=config.alert_channel_id,
        content=alert_content(request, role_id),
        embeds=(alert_embed(request),),
        ping_roles=(role_id,) if role_id else (),
        view=ALERT_VIEW,
        view_args={"request_id": request.request_id, "status": request.status.value},
    )


def alert_refresh(request: RequestInfo) -> Delivery:
    """An edit that brings a posted alert up to date (edits never ping)."""
    assert request.alert_channel_id
    assert request.alert_message_id
    return Delivery(
        target_type="channel",
        target_id=request.alert_channel_id,
        edit_message_id=request.alert_message_id,
        content=alert_content(request, None),
        embeds=(alert_embed(request),),
        view=ALERT_VIEW,
        view_args={"request_id": request.request_id, "status": request.status.value},
    )


def reping_delivery(
    request: RequestInfo, config: EscalationConfig, role_id: int | None, *, handoff: bool
) -> Delivery:
    assert config.alert_channel_id
    emoji, _, label = STYLE[request.urgency]
    who = f"<@&{role_id}> " if role_id else ""
    if handoff:
        text = f"{who}🔁 A request was handed off and needs someone new: {emoji} {label}."
    else:
        text = (
            f"{who}⏰ Still waiting since {ts(request.created_at)}: {emoji} {label}. "
            "Press **Claim** on the alert if you can help."
        )
    return Delivery(
        target_type="channel",
        target_id=config.alert_channel_id,
        content=text,
        ping_roles=(role_id,) if role_id else (),
        reply_to=request.alert_message_id,
    )


def escalate_delivery(
    request: RequestInfo, config: EscalationConfig, role_id: int | None
) -> Delivery:
    assert config.alert_channel_id
    emoji, _, label = STYLE[request.urgency]
    who = f"<@&{role_id}> " if role_id else ""
    text = (
        f"{who}⚠️ Nobody has claimed this request yet ({emoji} {label}, waiting since "
        f"{ts(request.created_at)}). Could one of you take it?"
    )
    return Delivery(
        target_type="channel",
        target_id=config.alert_channel_id,
        content=text,
        ping_roles=(role_id,) if role_id else (),
        reply_to=request.alert_message_id,
    )


def resources_embed(resources: Resources, *, urgent: bool = False) -> dict[str, Any]:
    return {
        "title": "🆘 If you need help right now" if urgent else "Support you can reach any time",
        "description": f"**{resources.emergency}**\n\n"
        + "\n".join(f"• {line}" for line in resources.lines),
        "color": 0xD93F0B if urgent else 0x1F6FEB,
    }


def member_update_delivery(request: RequestInfo, resources: Resources) -> Delivery:
    return Delivery(
        target_type="user",
        target_id=request.member_id,
        content=(
            "Hi, it's Kinfolk. I haven't found someone for you yet, and I want to be honest "
            "about that: nobody has picked up your request so far, so I've now asked more "
            "people. You haven't been forgotten. If things feel urgent, please reach out to "
            "one of these right away:"
        ),
        embeds=(resources_embed(resources, urgent=True),),
    )


PROBLEM_TEXT = {
    "not_configured": (
        "Escalation isn't set up yet, so no moderator is alerted when a member uses /talk. "
        "Run `/setup escalation` to choose the alert channel and moderator role."
    ),
    "no_access": (
        "I can't see the alert channel <#{channel}>. Give me View Channel, Send Messages and "
        "Embed Links there, or choose another channel with `/setup escalation`."
    ),
    "no_permission": (
        "I can't post in the alert channel <#{channel}>. Give me Send Messages and Embed "
        "Links there, or choose another channel with `/setup escalation`."
    ),
    "unknown_target": (
        "The alert channel (id {channel}) no longer exists. Choose a new one with "
        "`/setup escalation`."
    ),
}


def problem_text(code: str, channel_id: int | None) -> str:
    template = PROBLEM_TEXT.get(code, "Alerts can't be delivered ({code}).")
    return template.format(channel=channel_id or "unknown", code=code)


def owner_notice(guild_name_hint: str, problem: str) -> dict[str, Any]:
    """Payload (for a plain outbox message) telling a server owner what to fix."""
    return plain_payload(
        f"Hello! Kinfolk here, about {guild_name_hint}. A member asked to talk, but I "
        f"couldn't alert your moderators:\n\n{problem}\n\nThe member was answered with "
        "crisis resources, their request is saved, and I keep trying every minute. "
        "I'll only send this message once."
    )


KIND_WORDS = {
    Urgency.CHAT: (
        "Thank you for reaching out. I've let the support team know you'd like someone "
        "to talk with."
    ),
    Urgency.STRUGGLING: (
        "I'm really glad you reached out. You don't have to carry this on your own, and "
        "I've let the support team know."
    ),
    Urgency.CRISIS: (
        "Thank you for telling us. I've alerted the support team that this is urgent. "
        "Your safety matters most: if you might act on thoughts of hurting yourself, "
        "please contact one of the services below now, as well."
    ),
}


def member_answer_embed(urgency: Urgency, config: EscalationConfig) -> dict[str, Any]:
    """The member's first answer: kind words and an honest account of what happens next."""
    if config.configured:
        timers = config.ladder.timers(urgency)
        first = int(timers.first.total_seconds() // 60)
        second = int(timers.second.total_seconds() // 60)
        next_steps = (
            "**What happens next:** a moderator will pick this up and open a private thread "
            "with you here in the server; you'll get a notification. If nobody has picked it "
            f"up within {first} minutes I'll ask again, and after {second} minutes I'll ask "
            "more people and tell you by DM."
        )
    else:
        next_steps = (
            "This server hasn't finished setting up its support team in Kinfolk, so I can't "
            "promise how soon someone will see this. Your request is saved and the server's "
            "owner is being told. Please lean on the resources below meanwhile."
        )
    _, colour, _ = STYLE[urgency]
    return {
        "title": "I'm here, and the team has been told",
        "description": f"{KIND_WORDS[urgency]}\n\n{next_steps}\n\n"
        "If you start to feel better, press **I'm OK now**. You can add a few words for the "
        "team at any time; only moderators will read them.",
        "color": colour,
    }


def already_open_text(request: RequestInfo) -> str:
    state = "someone is with you" if request.status is Status.CLAIMED else "the team has been told"
    return (
        f"You already have a request open (since {ts(request.created_at)}) and {state}. "
        "Would you like to add something to it?"
    )


def cooling_down_text(seconds_left: int) -> str:
    return (
        "You asked just a moment ago, and I've kept that request. If you'd like to ask "
        f"again, you can in {seconds_left} seconds. Meanwhile, here is support you can "
        "reach right now:"
    )
