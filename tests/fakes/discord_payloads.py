"""The objects a fake Discord holds (guilds, channels, roles, members, messages) and their JSON.

Payload shapes follow Discord's API v10 object reference closely enough for discord.py 2.7
to parse them into ``Guild``, ``TextChannel``, ``Thread``, ``Role``, ``Member`` and
``Message`` without missing keys. Snowflakes carry a real timestamp, so
``discord.utils.snowflake_time`` works on every id the fake mints.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (Discord "Permissions" reference).
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
READ_MESSAGE_HISTORY = 1 << 16
MANAGE_ROLES = 1 << 28
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
BOT_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | READ_MESSAGE_HISTORY
    | MANAGE_ROLES
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
MEMBER_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | USE_APPLICATION_COMMANDS

# Message flags.
EPHEMERAL = 1 << 6
LOADING = 1 << 7

GUILD_TEXT = 0
PUBLIC_THREAD = 11

_counter = itertools.count()
_counter_lock = threading.Lock()


def snowflake() -> int:
    """A fresh, increasing Discord snowflake whose timestamp is now."""
    with _counter_lock:
        increment = next(_counter) & 0xFFF
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (1 << 17) | increment


def iso(moment: dt.datetime | None = None) -> str:
    """Discord's ISO-8601 timestamp form."""
    return (moment or dt.datetime.now(dt.UTC)).isoformat()


def snowflake_iso(value: int) -> str:
    """The creation time a snowflake encodes, as Discord writes timestamps."""
    ms = (value >> 22) + DISCORD_EPOCH_MS
    return iso(dt.datetime.fromtimestamp(ms / 1000, dt.UTC))


@dataclass(frozen=True)
class FakeUser:
    """A Discord user the fake knows."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        """Discord's user object."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name or self.username.title(),
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class FakeRole:
    """A guild role; ``position`` orders roles (the bot may only manage roles below its own)."""

    id: int
    name: str
    position: int
    permissions: int = 0
    managed: bool = False

    def payload(self) -> dict[str, Any]:
        """Discord's role object."""
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class FakeChannel:
    """A text channel (or thread); what the bot may do in it decides 403 answers.

    ``bot_can_view`` False: the bot gets 50001 Missing Access; ``bot_can_send`` False: 50013
    Missing Permissions.
    """

    id: int
    name: str
    guild_id: int
    bot_can_view: bool = True
    bot_can_send: bool = True
    type: int = GUILD_TEXT
    parent_id: int | None = None
    owner_id: int | None = None

    def payload(self, bot_user_id: int) -> dict[str, Any]:
        """Discord's channel object, the bot's restrictions as a member overwrite."""
        deny = 0
        if not self.bot_can_view:
            deny |= VIEW_CHANNEL
        if not self.bot_can_send:
            deny |= SEND_MESSAGES | SEND_MESSAGES_IN_THREADS
        overwrites = (
            [{"id": str(bot_user_id), "type": 1, "allow": "0", "deny": str(deny)}] if deny else []
        )
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": 0,
            "permission_overwrites": overwrites,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "flags": 0,
        }
        if self.type == PUBLIC_THREAD:
            data.update(
                owner_id=str(self.owner_id or bot_user_id),
                message_count=0,
                member_count=1,
                total_message_sent=0,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": snowflake_iso(self.id),
                    "locked": False,
                    "create_timestamp": snowflake_iso(self.id),
                },
            )
        else:
            data.update(topic=None, default_auto_archive_duration=1440)
        return data


@dataclass
class FakeMember:
    """A guild member: a user and the role ids they hold."""

    user: FakeUser
    roles: set[int] = field(default_factory=set)
    joined_at: str = field(default_factory=iso)

    def payload(self, permissions: int | None = None) -> dict[str, Any]:
        """Discord's guild member object (``permissions`` as interactions carry it)."""
        data: dict[str, Any] = {
            "user": self.user.payload(),
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in sorted(self.roles)],
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class FakeGuild:
    """A guild with its channels, roles and members.

    The bot's own role is ``bot_role_id`` (managed, at ``bot_role_position``); it may manage
    roles strictly below that position when ``bot_can_manage_roles``.
    """

    id: int
    name: str
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    roles: dict[int, FakeRole] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    bot_role_id: int = 0
    bot_role_position: int = 5
    bot_can_manage_roles: bool = True

    def payload(self, bot: FakeUser) -> dict[str, Any]:
        """GUILD_CREATE's available-guild object, with the bot's member and every channel."""
        bot_member = self.members.get(bot.id) or FakeMember(bot, {self.bot_role_id})
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(next(iter(self.members), bot.id)),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500_000,
            "max_video_channel_users": 25,
            "joined_at": bot_member.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "voice_states": [],
            "members": [bot_member.payload()],
            "channels": [
                c.payload(bot.id) for c in self.channels.values() if c.type != PUBLIC_THREAD
            ],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def role_list(self) -> list[FakeRole]:
        """Roles in Discord's order, lowest first."""
        return sorted(self.roles.values(), key=lambda r: r.position)


@dataclass
class MessageRevision:
    """A message as it stood after one create or edit."""

    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    flags: int
    at: float  # time.monotonic()


@dataclass
class FakeMessage:
    """A message the bot (or an interaction webhook) posted, with every revision."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    thread_id: int | None = None
    deleted: bool = False
    edited_at: str | None = None
    revisions: list[MessageRevision] = field(default_factory=list)

    def apply(self, body: dict[str, Any], *, edit: bool) -> None:
        """Take the fields ``body`` sets and record the result as a new revision."""
        if "content" in body:
            self.content = "" if body["content"] is None else str(body["content"])
        if "embeds" in body:
            self.embeds = list(body["embeds"] or [])
        if "embed" in body and body["embed"] is not None:
            self.embeds = [body["embed"]]
        if "components" in body:
            self.components = list(body["components"] or [])
        if "flags" in body and body["flags"] is not None:
            # Only the flags a sender may set; LOADING clears when the content arrives.
            self.flags = (self.flags & EPHEMERAL) | (int(body["flags"]) & ~LOADING)
        if edit:
            self.flags &= ~LOADING
            self.edited_at = iso()
        self.revisions.append(
            MessageRevision(
                self.content,
                [dict(e) for e in self.embeds],
                [dict(c) for c in self.components],
                self.flags,
                time.monotonic(),
            )
        )

    @property
    def is_loading(self) -> bool:
        """True while a deferred response still shows "thinking"."""
        return bool(self.flags & LOADING)

    def payload(self) -> dict[str, Any]:
        """Discord's message object."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": snowflake_iso(self.id),
            "edited_timestamp": self.edited_at,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "type": 20 if self.interaction_id else 0,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_id is not None:
            data["interaction_metadata"] = {
                "id": str(self.interaction_id),
                "type": 2,
                "user": self.author.payload(),
                "authorizing_integration_owners": {},
            }
        return data
