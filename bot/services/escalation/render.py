"""What escalation messages say. Plain data (Discord's embed JSON shape), no discord import,
so the alert can be rendered the same way by the outbox and by a button that edits it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.escalation import FRESH, AlertPlan, Status, Urgency
from bot.i18n import N_, _, ngettext
from bot.jobs.delivery import Delivery, plain_payload
from bot.services.escalation.config import Resources
from bot.services.escalation.info import EscalationConfig, RequestInfo

# The label of each urgency as moderators see it (marked here, translated where shown).
STYLE = {
    Urgency.CRISIS: ("🔴", 0xD93F0B, N_("In crisis")),
    Urgency.STRUGGLING: ("🟠", 0xF29D35, N_("Struggling")),
    Urgency.CHAT: ("🟢", 0x2EA043, N_("Would like someone to chat with")),
}
CLOSED_COLOUR = 0x8B949E
ALERT_VIEW = "talk.alert"


def urgency_name(urgency: Urgency) -> str:
    """The urgency's label for moderators, in the current language."""
    return _(STYLE[urgency][2])


def ts(moment: datetime, style: str = "R") -> str:
    """A Discord timestamp: each reader sees it in their own time and language."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def member_mention(member_id: int) -> str:
    """A member's mention; a pseudonym (negative: their data was erased) names nobody."""
    return f"<@{member_id}>" if member_id > 0 else _("a member whose data was erased")


def _named(user_id: int | None) -> bool:
    """Whether a moderator can be named (a pseudonym: their data was erased)."""
    return bool(user_id and user_id > 0)


def status_line(request: RequestInfo) -> str:
    if request.status is Status.OPEN:
        return _("Waiting: nobody has claimed it yet")
    if request.status is Status.CLAIMED and request.claimed_by and request.claimed_at:
        if _named(request.claimed_by):
            return _("Claimed by {moderator} {time}").format(
                moderator=f"<@{request.claimed_by}>", time=ts(request.claimed_at)
            )
        return _("Claimed by a moderator {time}").format(time=ts(request.claimed_at))
    if request.status is Status.RESOLVED and request.closed_at:
        if _named(request.closed_by):
            return _("Resolved by {moderator} {time}").format(
                moderator=f"<@{request.closed_by}>", time=ts(request.closed_at)
            )
        return _("Resolved by a moderator {time}").format(time=ts(request.closed_at))
    if request.closed_at and request.closed_by is not None and request.closed_by < 0:
        return _("Closed {time}").format(time=ts(request.closed_at))
    if request.closed_at:
        return _("Closed: the member said they're OK now {time}").format(time=ts(request.closed_at))
    return request.status.value


def alert_footer(request_id: int) -> str:
    """How an alert is recognised among the channel's messages (`Delivery.find_existing`).
    Not translated: it is matched exactly, whatever language the alert was posted in."""
    return f"Request #{request_id}"


def asked_again(repeat: int) -> str:
    """The alert's note that the member asked again `repeat` times."""
    if repeat == 1:
        return _(
            "They said they were OK and asked again once since this alert was posted; this is "
            "their newest request."
        )
    if repeat == 2:
        return _(
            "They said they were OK and asked again twice since this alert was posted; this is "
            "their newest request."
        )
    return ngettext(
        "They said they were OK and asked again {count} time since this alert was posted; "
        "this is their newest request.",
        "They said they were OK and asked again {count} times since this alert was posted; "
        "this is their newest request.",
        repeat,
    ).format(count=repeat)


def alert_embed(request: RequestInfo) -> dict[str, Any]:
    emoji, colour, _label = STYLE[request.urgency]
    fields = [
        {"name": _("Member"), "value": member_mention(request.member_id), "inline": True},
        {
            "name": _("Urgency"),
            "value": f"{emoji} {urgency_name(request.urgency)}",
            "inline": True,
        },
        {"name": _("Waiting since"), "value": ts(request.created_at), "inline": True},
        {"name": _("Status"), "value": status_line(request), "inline": False},
        {
            "name": _("Context"),
            "value": _("Given. Press **Show context** to read it (only you will see it).")
            if request.has_context
            else _("None given."),
            "inline": False,
        },
    ]
    if request.repeat:
        fields.append(
            {"name": _("Asked again"), "value": asked_again(request.repeat), "inline": False}
        )
    if request.thread_id:
        fields.append(
            {"name": _("Private thread"), "value": f"<#{request.thread_id}>", "inline": False}
        )
    return {
        "title": _("{emoji} Someone needs to talk").format(emoji=emoji),
        "color": colour if request.status.active else CLOSED_COLOUR,
        "fields": fields,
        "footer": {"text": alert_footer(request.request_id)},
    }


def _ping(role_id: int | None, text: str) -> str:
    """`text` headed by the mention of the role it pings (a header, not part of the sentence)."""
    return f"<@&{role_id}> {text}" if role_id else text


def alert_content(request: RequestInfo, role_id: int | None) -> str:
    emoji = STYLE[request.urgency][0]
    text = _("{emoji} **{urgency}**: a member is asking to talk.").format(
        emoji=emoji, urgency=urgency_name(request.urgency)
    )
    return _ping(role_id, text)


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
    emoji, label = STYLE[request.urgency][0], urgency_name(request.urgency)
    if handoff:
        text = _("🔁 A request was handed off and needs someone new: {emoji} {urgency}.").format(
            emoji=emoji, urgency=label
        )
    else:
        text = _(
            "⏰ Still waiting since {time}: {emoji} {urgency}. "
            "Press **Claim** on the alert if you can help."
        ).format(time=ts(request.created_at), emoji=emoji, urgency=label)
    return Delivery(
        target_type="channel",
        target_id=config.alert_channel_id,
        content=_ping(role_id, text),
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
    emoji, label = STYLE[request.urgency][0], urgency_name(request.urgency)
    if raised:
        text = _("⬆️ More urgent now: the member says {emoji} {urgency}.").format(
            emoji=emoji, urgency=label
        )
    else:
        text = _(
            "🔁 They asked again: {emoji} {urgency}. Press **Claim** on the alert if you can help."
        ).format(emoji=emoji, urgency=label)
    return Delivery(
        target_type="channel",
        target_id=config.alert_channel_id,
        content=_ping(role_id, text),
        ping_roles=(role_id,) if role_id else (),
        reply_to=request.alert_message_id,
    )


WITHDRAWN = N_(
    "🕊️ This request to talk has been closed, and its details removed: the member's data "
    "was erased. Nothing more is needed here."
)


def withdrawn_delivery(channel_id: int, request_id: int) -> Delivery:
    """Finds the alert of an erased request that may be in the channel unrecorded (nothing
    is posted when it isn't), so it can be edited to the neutral note."""
    return Delivery(
        target_type="channel",
        target_id=channel_id,
        content=_(WITHDRAWN),
        find_existing=alert_footer(request_id),
        post_if_missing=False,
    )


def to_claimer_delivery(request: RequestInfo, channel_id: int) -> Delivery:
    """To the moderator with the member, where they talk: the urgency rose."""
    assert request.claimed_by
    return Delivery(
        target_type="channel",
        target_id=channel_id,
        content=_(
            "{moderator}, the member says it's more urgent now: {emoji} **{urgency}**."
        ).format(
            moderator=f"<@{request.claimed_by}>",
            emoji=STYLE[request.urgency][0],
            urgency=urgency_name(request.urgency),
        ),
        ping_users=(request.claimed_by,),
        reply_to=None if channel_id == request.thread_id else request.alert_message_id,
    )


def escalate_delivery(
    request: RequestInfo, config: EscalationConfig, role_id: int | None
) -> Delivery:
    assert config.alert_channel_id
    text = _(
        "⚠️ Nobody has claimed this request yet ({emoji} {urgency}, waiting since "
        "{time}). Could one of you take it?"
    ).format(
        emoji=STYLE[request.urgency][0],
        urgency=urgency_name(request.urgency),
        time=ts(request.created_at),
    )
    return Delivery(
        target_type="channel",
        target_id=config.alert_channel_id,
        content=_ping(role_id, text),
        ping_roles=(role_id,) if role_id else (),
        reply_to=request.alert_message_id,
    )


def resources_embed(resources: Resources, *, urgent: bool = False) -> dict[str, Any]:
    return {
        "title": _("🆘 If you need help right now")
        if urgent
        else _("Support you can reach any time"),
        "description": f"**{resources.emergency}**\n\n"
        + "\n".join(f"• {line}" for line in resources.lines),
        "color": 0xD93F0B if urgent else 0x1F6FEB,
    }


def member_update_delivery(request: RequestInfo, resources: Resources) -> Delivery:
    return Delivery(
        target_type="user",
        target_id=request.member_id,
        content=_(
            "Hi, it's Kinfolk. I haven't found someone for you yet, and I want to be honest "
            "about that: nobody has picked up your request so far, so I've now asked more "
            "people. You haven't been forgotten. If things feel urgent, please reach out to "
            "one of these right away:"
        ),
        embeds=(resources_embed(resources, urgent=True),),
    )


# Written in the server's language when a problem is noted (`ladder.report_problem`).
PROBLEM_UNKNOWN = N_("Alerts can't be delivered ({code}).")
PROBLEM_TEXT = {
    "not_configured": N_(
        "Escalation isn't set up yet, so no moderator is alerted when a member uses /talk. "
        "Run `/setup escalation` to choose the alert channel and moderator role."
    ),
    "no_access": N_(
        "I can't see the alert channel <#{channel}>. Give me View Channel, Send Messages and "
        "Embed Links there, or choose another channel with `/setup escalation`."
    ),
    "no_permission": N_(
        "I can't post in the alert channel <#{channel}>. Give me Send Messages and Embed "
        "Links there, or choose another channel with `/setup escalation`."
    ),
    "unknown_target": N_(
        "The alert channel (id {channel}) no longer exists. Choose a new one with "
        "`/setup escalation`."
    ),
}


def problem_text(code: str, channel_id: int | None) -> str:
    template = PROBLEM_TEXT.get(code, PROBLEM_UNKNOWN)
    return _(template).format(channel=channel_id or "unknown", code=code)


def owner_notice(problem: str) -> dict[str, Any]:
    """Payload (for a plain outbox message) telling a server owner what to fix. Rendered when
    queued: the caller speaks the server's language (`ladder.report_problem`)."""
    return plain_payload(
        _(
            "Hello! Kinfolk here, about your server. A member asked to talk, but I "
            "couldn't alert your moderators:\n\n{problem}\n\nThe member was answered with "
            "crisis resources, their request is saved, and I keep trying every minute. "
            "I'll only send this message once."
        ).format(problem=problem)
    )


KIND_WORDS = {
    Urgency.CHAT: N_(
        "Thank you for reaching out. I've let the support team know you'd like someone "
        "to talk with."
    ),
    Urgency.STRUGGLING: N_(
        "I'm really glad you reached out. You don't have to carry this on your own, and "
        "I've let the support team know."
    ),
    Urgency.CRISIS: N_(
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
        # Chosen by the first timer: the second is always longer, so at least 2 (plural).
        next_steps = ngettext(
            "**What happens next:** a moderator will pick this up and open a private thread "
            "with you here in the server; you'll get a notification. If nobody has picked it "
            "up within {first} minute I'll ask again, and after {second} minutes I'll ask "
            "more people and tell you by DM.",
            "**What happens next:** a moderator will pick this up and open a private thread "
            "with you here in the server; you'll get a notification. If nobody has picked it "
            "up within {first} minutes I'll ask again, and after {second} minutes I'll ask "
            "more people and tell you by DM.",
            first,
        ).format(first=first, second=second)
    else:
        next_steps = _(
            "This server hasn't finished setting up its support team in Kinfolk, so I can't "
            "promise how soon someone will see this. Your request is saved and the server's "
            "owner is being told. Please lean on the resources below meanwhile."
        )
    colour = STYLE[urgency][1]
    feel_better = _(
        "If you start to feel better, press **I'm OK now**. You can add a few words for the "
        "team at any time; only moderators will read them."
    )
    return {
        "title": _("I'm here, and the team has been told"),
        "description": f"{_(KIND_WORDS[urgency])}\n\n{next_steps}\n\n{feel_better}",
        "color": colour,
    }


def already_open_text(request: RequestInfo) -> str:
    if request.status is Status.CLAIMED:
        text = _(
            "You already have a request open (since {time}) and someone is with you. "
            "Would you like to add something to it?"
        )
    else:
        text = _(
            "You already have a request open (since {time}) and the team has been told. "
            "Would you like to add something to it?"
        )
    return text.format(time=ts(request.created_at))


def raised_text(request: RequestInfo, config: EscalationConfig, *, pinged: bool) -> str:
    """The member said it is more urgent: what happened, honestly."""
    label = urgency_name(request.urgency)
    if request.status is Status.CLAIMED:
        return _(
            "I've told the moderator who is with you that this is more urgent now "
            "(**{urgency}**). If you need someone right now, please reach out to one of "
            "these too:"
        ).format(urgency=label)
    if not config.configured:
        return _(
            "I've updated your request to **{urgency}**. This server hasn't finished setting "
            "up its support team in Kinfolk, so I can't promise how soon someone will see it. "
            "If you need someone right now, please reach out to one of these too:"
        ).format(urgency=label)
    minutes = int(config.ladder.timers(request.urgency).first.total_seconds() // 60)
    if pinged:
        text = ngettext(
            "I've updated your request: the team now sees **{urgency}**, and I've asked them "
            "again now. If nobody has picked it up within {minutes} minute I'll ping them "
            "again. If you need someone right now, please reach out to one of these too:",
            "I've updated your request: the team now sees **{urgency}**, and I've asked them "
            "again now. If nobody has picked it up within {minutes} minutes I'll ping them "
            "again. If you need someone right now, please reach out to one of these too:",
            minutes,
        )
    else:
        text = ngettext(
            "I've updated your request: the team now sees **{urgency}**, on the alert they "
            "already have (they were pinged about you a moment ago). If nobody has picked it "
            "up within {minutes} minute I'll ping them again. If you need someone right now, "
            "please reach out to one of these too:",
            "I've updated your request: the team now sees **{urgency}**, on the alert they "
            "already have (they were pinged about you a moment ago). If nobody has picked it "
            "up within {minutes} minutes I'll ping them again. If you need someone right now, "
            "please reach out to one of these too:",
            minutes,
        )
    return text.format(urgency=label, minutes=minutes)


def folded_note(urgency: Urgency, config: EscalationConfig) -> str:
    """Asking again soon after "I'm OK now", when the flood limit held back the ping."""
    minutes = int(config.ladder.timers(urgency).first.total_seconds() // 60)
    return ngettext(
        "**Your new request is with the team.** I've put it on the alert the team already "
        "has, so it's right in front of them; if nobody has picked it up within "
        "{minutes} minute I'll ping them again.",
        "**Your new request is with the team.** I've put it on the alert the team already "
        "has, so it's right in front of them; if nobody has picked it up within "
        "{minutes} minutes I'll ping them again.",
        minutes,
    ).format(minutes=minutes)
