"""What escalation messages say. Plain data (Discord's embed JSON shape), no discord import,
so the alert can be rendered the same way by the outbox and by a button that edits it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.escalation import FRESH, AlertPlan, Status, Urgency
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


def member_mention(member_id: int) -> str:
    """A member's mention; a pseudonym (negative: their data was erased) names nobody."""
    return f"<@{member_id}>" if member_id > 0 else "a member whose data was erased"


def times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def moderator_mention(user_id: int | None) -> str:
    """A moderator's mention; a pseudonym (their data was erased) names nobody."""
    return f"<@{user_id}>" if user_id and user_id > 0 else "a moderator"


def status_line(request: RequestInfo) -> str:
    if request.status is Status.OPEN:
        return "Waiting: nobody has claimed it yet"
    if request.status is Status.CLAIMED and request.claimed_by and request.claimed_at:
        return f"Claimed by {moderator_mention(request.claimed_by)} {ts(request.claimed_at)}"
    if request.status is Status.RESOLVED and request.closed_at:
        return f"Resolved by {moderator_mention(request.closed_by)} {ts(request.closed_at)}"
    if request.closed_at and request.closed_by is not None and request.closed_by < 0:
        return f"Closed {ts(request.closed_at)}"
    if request.closed_at:
        return f"Closed: the member said they're OK now {ts(request.closed_at)}"
    return request.status.value


def alert_footer(request_id: int) -> str:
    """How an alert is recognised among the channel's messages (`Delivery.find_existing`)."""
    return f"Request #{request_id}"


def alert_embed(request: RequestInfo) -> dict[str, Any]:
    emoji, colour, label = STYLE[request.urgency]
    fields = [
        {"name": "Member", "value": member_mention(request.member_id), "inline": True},
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
    if request.repeat:
        fields.append(
            {
                "name": "Asked again",
                "value": f"They said they were OK and asked again {times(request.repeat)} "
                "since this alert was posted; this is their newest request.",
                "inline": False,
            }
        )
    if request.thread_id:
        fields.append(
            {"name": "Private thread", "value": f"<#{request.thread_id}>", "inline": False}
        )
    return {
        "title": f"{emoji} Someone needs to talk",
        "color": colour if request.status.active else CLOSED_COLOUR,
        "fields": fields,
        "footer": {"text": alert_footer(request.request_id)},
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


def again_delivery(
    request: RequestInfo, config: EscalationConfig, role_id: int | None, *, raised: bool
) -> Delivery:
    """A reply to the alert: the member asked again, or says it is more urgent now. It pings
    `role_id` (None: the flood limit held this ping back; the ladder pings if nobody claims).
    Like the ladder's re-pings it names nobody: the alert it answers does (and stops doing
    so if the member's data is erased)."""
    assert config.alert_channel_id
    emoji, _, label = STYLE[request.urgency]
    who = f"<@&{role_id}> " if role_id else ""
    if raised:
        text = f"{who}⬆️ More urgent now: the member says {emoji} {label}."
    else:
        text = (
            f"{who}🔁 They asked again: {emoji} {label}. "
            "Press **Claim** on the alert if you can help."
        )
    return Delivery(
        target_type="channel",
        target_id=config.alert_channel_id,
        content=text,
        ping_roles=(role_id,) if role_id else (),
        reply_to=request.alert_message_id,
    )


WITHDRAWN = (
    "🕊️ This request to talk has been closed, and its details removed: the member's data "
    "was erased. Nothing more is needed here."
)


def withdrawn_delivery(channel_id: int, request_id: int) -> Delivery:
    """Finds the alert of an erased request that may be in the channel unrecorded (nothing
    is posted when it isn't), so it can be edited to the neutral note."""
    return Delivery(
        target_type="channel",
        target_id=channel_id,
        content=WITHDRAWN,
        find_existing=alert_footer(request_id),
        post_if_missing=False,
    )


def to_claimer_delivery(request: RequestInfo, channel_id: int) -> Delivery:
    """To the moderator with the member, where they talk: the urgency rose."""
    assert request.claimed_by
    emoji, _, label = STYLE[request.urgency]
    return Delivery(
        target_type="channel",
        target_id=channel_id,
        content=(
            f"<@{request.claimed_by}>, the member says it's more urgent now: {emoji} **{label}**."
        ),
        ping_users=(request.claimed_by,),
        reply_to=None if channel_id == request.thread_id else request.alert_message_id,
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


def member_answer_embed(
    urgency: Urgency, config: EscalationConfig, plan: AlertPlan = FRESH
) -> dict[str, Any]:
    """The member's first answer: kind words and an honest account of what happens next."""
    if config.configured and plan.fold and not plan.ping:
        next_steps = folded_note(urgency, config)
    elif config.configured:
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


def raised_text(request: RequestInfo, config: EscalationConfig, *, pinged: bool) -> str:
    """The member said it is more urgent: what happened, honestly."""
    _, _, label = STYLE[request.urgency]
    help_too = "If you need someone right now, please reach out to one of these too:"
    if request.status is Status.CLAIMED:
        return (
            f"I've told the moderator who is with you that this is more urgent now "
            f"(**{label}**). {help_too}"
        )
    if not config.configured:
        return (
            f"I've updated your request to **{label}**. This server hasn't finished setting up "
            f"its support team in Kinfolk, so I can't promise how soon someone will see it. "
            f"{help_too}"
        )
    minutes = int(config.ladder.timers(request.urgency).first.total_seconds() // 60)
    told = (
        "and I've asked them again now"
        if pinged
        else "on the alert they already have (they were pinged about you a moment ago)"
    )
    return (
        f"I've updated your request: the team now sees **{label}**, {told}. If nobody has "
        f"picked it up within {minutes} minutes I'll ping them again. {help_too}"
    )


def folded_note(urgency: Urgency, config: EscalationConfig) -> str:
    """Asking again soon after "I'm OK now", when the flood limit held back the ping."""
    minutes = int(config.ladder.timers(urgency).first.total_seconds() // 60)
    return (
        "**Your new request is with the team.** I've put it on the alert the team already "
        "has, so it's right in front of them; if nobody has picked it up within "
        f"{minutes} minutes I'll ping them again."
    )
