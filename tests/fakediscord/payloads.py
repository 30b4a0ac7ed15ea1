"""Data model and Discord-shaped payload builders for the loopback fake Discord.

Everything here is plain data: the server (``server.py``) owns the state and the I/O.
Payload shapes follow what discord.py 2.7.1 reads (see the notes in
``/work/shared/notes/discord-offline-testing.md``).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .server import FakeDiscord

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1

DEFAULT_EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = (
    DEFAULT_EVERYONE_PERMISSIONS | MANAGE_MESSAGES | MANAGE_THREADS | CREATE_PRIVATE_THREADS
)

# Gateway intents used by the fake to decide what it delivers.
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

# Message flags.
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

# Channel types.
CHANNEL_TEXT = 0
CHANNEL_DM = 1
CHANNEL_PUBLIC_THREAD = 11
CHANNEL_PRIVATE_THREAD = 12
THREAD_TYPES = (10, CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD)

# Keys kept on stored messages for assertions but never sent back to the client.
PRIVATE_MESSAGE_KEYS = frozenset({"allowed_mentions", "edit_history", "created_monotonic"})

_snowflake_lock = threading.Lock()
_last_snowflake = 0


def snowflake() -> int:
    """A unique, increasing Discord snowflake whose timestamp part is 'now'."""
    global _last_snowflake
    with _snowflake_lock:
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        value = max(value, _last_snowflake + 1)
        _last_snowflake = value
        return value


def snowflake_on_shard(shard_id: int, shard_count: int) -> int:
    """A fresh snowflake that discord.py's ``(id >> 22) % shard_count`` puts on ``shard_id``."""
    global _last_snowflake
    with _snowflake_lock:
        ms = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, (_last_snowflake >> 22) + 1)
        while ms % shard_count != shard_id:
            ms += 1
        _last_snowflake = ms << 22
        return _last_snowflake


def iso_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def iso_in(seconds: float) -> str:
    return (_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=seconds)).isoformat()


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON with ``Content-Type: application/json`` exactly (no charset: discord.py needs that)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(status: int, code: int, message: str, errors: Any = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status=status)


def no_content() -> web.Response:
    return web.Response(status=204)


_token_counter = itertools.count(1)


def interaction_token() -> str:
    return f"aW50ZXJhY3Rpb246{next(_token_counter)}:{snowflake()}"


@dataclass(eq=False)
class FakeUser:
    """A Discord user. ``mention`` gives ``<@id>`` for message content."""

    id: int
    name: str
    bot: bool = False
    global_name: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass(eq=False)
class FakeRole:
    id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    mentionable: bool = False

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }


@dataclass(eq=False)
class FakeMember:
    user: FakeUser
    role_ids: list[int]
    joined_at: str = field(default_factory=iso_now)
    nick: str | None = None

    def payload(self, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.role_ids],
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": self.nick,
            "avatar": None,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass(eq=False)
class FakeChannel:
    """A text channel (type 0), DM channel (type 1) or thread (type 11/12)."""

    id: int
    type: int
    name: str = ""
    guild_id: int | None = None
    parent_id: int | None = None
    owner_id: int | None = None
    position: int = 0
    recipients: list[FakeUser] = field(default_factory=list)
    # Every message in the channel (users' and the bot's), oldest first.
    messages: list[dict[str, Any]] = field(default_factory=list)
    auto_archive_duration: int = 1440
    created: str = field(default_factory=iso_now)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    def payload(self) -> dict[str, Any]:
        last = str(self.messages[-1]["id"]) if self.messages else None
        if self.type == CHANNEL_DM:
            return {
                "id": str(self.id),
                "type": CHANNEL_DM,
                "last_message_id": last,
                "recipients": [u.payload() for u in self.recipients],
                "flags": 0,
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "nsfw": False,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": last,
            "flags": 0,
        }
        if self.is_thread:
            data.update(
                {
                    "owner_id": str(self.owner_id),
                    "message_count": len(self.messages),
                    "total_message_sent": len(self.messages),
                    "member_count": 1,
                    "thread_metadata": {
                        "archived": False,
                        "auto_archive_duration": self.auto_archive_duration,
                        "archive_timestamp": self.created,
                        "create_timestamp": self.created,
                        "locked": False,
                        "invitable": True,
                    },
                }
            )
            del data["permission_overwrites"]
        return data


@dataclass(eq=False)
class FakeAttachment:
    """A file served by the fake CDN; ``payload()`` is the Discord attachment object."""

    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type:
            data["content_type"] = self.content_type
        if self.description:
            data["description"] = self.description
        return data


class FakeGuild:
    """A guild: ``@everyone`` role, one text channel (``channel_id``), the bot as a member."""

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        name: str,
        guild_id: int | None = None,
        channel_name: str = "general",
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
    ) -> None:
        self._fake = fake
        self.id = guild_id or snowflake()
        self.name = name
        self.owner = FakeUser(id=snowflake(), name=f"{name}-owner")
        self.roles: dict[int, FakeRole] = {
            self.id: FakeRole(id=self.id, name="@everyone", permissions=everyone_permissions)
        }
        self.members: dict[int, FakeMember] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.threads: dict[int, FakeChannel] = {}
        self.channel_id = self.add_channel(channel_name)
        bot_role = self.add_role(
            fake.bot_user.name, permissions=bot_permissions, managed=True, position=1
        )
        self.bot_role_id = bot_role.id
        self.members[fake.bot_user.id] = FakeMember(user=fake.bot_user, role_ids=[bot_role.id])

    # -- building -----------------------------------------------------------------------
    def add_role(
        self, name: str, *, permissions: int = 0, managed: bool = False, position: int | None = None
    ) -> FakeRole:
        role = FakeRole(
            id=snowflake(),
            name=name,
            permissions=permissions,
            managed=managed,
            position=len(self.roles) if position is None else position,
        )
        self.roles[role.id] = role
        return role

    def role(self, name: str) -> FakeRole | None:
        return next((r for r in self.roles.values() if r.name == name), None)

    def add_channel(self, name: str) -> int:
        channel = FakeChannel(
            id=snowflake(),
            type=CHANNEL_TEXT,
            name=name,
            guild_id=self.id,
            position=len(self.channels),
        )
        self.channels[channel.id] = channel
        self._fake._channels[channel.id] = channel
        return channel.id

    def add_member(
        self,
        name_or_user: str | FakeUser,
        *,
        admin: bool = False,
        roles: tuple[str | int | FakeRole, ...] | list[str | int | FakeRole] = (),
        nick: str | None = None,
    ) -> FakeUser:
        """Add a member. ``admin`` gives a role with Manage Server (0x20); ``roles`` are role
        names (created on demand, no permissions), ids or ``FakeRole`` objects."""
        if isinstance(name_or_user, FakeUser):
            user = name_or_user
            self._fake.users.setdefault(user.id, user)
        else:
            user = self._fake.add_user(name_or_user)
        role_ids: list[int] = []
        if admin:
            admin_role = self.role("Admin") or self.add_role("Admin", permissions=MANAGE_GUILD)
            role_ids.append(admin_role.id)
        for r in roles:
            if isinstance(r, FakeRole):
                role_ids.append(r.id)
            elif isinstance(r, int):
                if r not in self.roles:
                    raise KeyError(f"unknown role id {r}")
                role_ids.append(r)
            else:
                role_ids.append((self.role(r) or self.add_role(r)).id)
        member = FakeMember(user=user, role_ids=role_ids, nick=nick)
        self.members[user.id] = member
        self._fake._on_member_added(self, member)
        return user

    # -- queries ------------------------------------------------------------------------
    def member(self, user: FakeUser | int) -> FakeMember:
        uid = user if isinstance(user, int) else user.id
        try:
            return self.members[uid]
        except KeyError:
            raise KeyError(f"user {uid} is not a member of guild {self.name!r}") from None

    def permissions_of(self, user: FakeUser | int) -> int:
        """Guild-level permissions (what Discord puts in ``member.permissions``)."""
        member = self.member(user)
        if member.user.id == self.owner.id:
            return ALL_PERMISSIONS
        perms = self.roles[self.id].permissions
        for rid in member.role_ids:
            perms |= self.roles[rid].permissions
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    @property
    def bot_permissions(self) -> int:
        return self.permissions_of(self._fake.bot_user.id)

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner.id),
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
            "system_channel_id": str(self.channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    def create_payload(self, *, include_all_members: bool) -> dict[str, Any]:
        """The GUILD_CREATE payload. Without the members intent Discord sends only the bot."""
        members = [
            m.payload()
            for m in self.members.values()
            if include_all_members or m.user.id == self._fake.bot_user.id
        ]
        data = self.payload()
        data.update(
            {
                "joined_at": iso_now(),
                "large": False,
                "unavailable": False,
                "member_count": len(self.members),
                "members": members,
                "channels": [c.payload() for c in self.channels.values()],
                "threads": [t.payload() for t in self.threads.values()],
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return data


# -- message helpers -----------------------------------------------------------------------

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def public_message(msg: dict[str, Any]) -> dict[str, Any]:
    """A stored message as Discord would send it (assertion-only keys removed)."""
    return {k: v for k, v in msg.items() if k not in PRIVATE_MESSAGE_KEYS}


def resolve_mentions(
    content: str,
    allowed: dict[str, Any] | None,
    *,
    replied_user_id: int | None,
) -> tuple[list[int], list[int], bool]:
    """Which users/roles/@everyone a message really pings, honouring ``allowed_mentions``.

    Without ``allowed_mentions`` everything in the content pings and a reply pings its
    author; with it, only what ``parse``/``users``/``roles``/``replied_user`` allow."""
    user_ids = [int(x) for x in _USER_MENTION.findall(content)]
    role_ids = [int(x) for x in _ROLE_MENTION.findall(content)]
    everyone = "@everyone" in content or "@here" in content
    if allowed is None:
        users = list(dict.fromkeys(user_ids))
        if replied_user_id is not None and replied_user_id not in users:
            users.append(replied_user_id)
        return users, list(dict.fromkeys(role_ids)), everyone
    parse = set(allowed.get("parse") or [])
    allowed_users = {int(x) for x in allowed.get("users") or []}
    allowed_roles = {int(x) for x in allowed.get("roles") or []}
    users = [u for u in dict.fromkeys(user_ids) if "users" in parse or u in allowed_users]
    roles = [r for r in dict.fromkeys(role_ids) if "roles" in parse or r in allowed_roles]
    if replied_user_id is not None and allowed.get("replied_user") and replied_user_id not in users:
        users.append(replied_user_id)
    return users, roles, everyone and "everyone" in parse


def validate_message(payload: dict[str, Any]) -> list[str]:
    """Discord's documented message limits; returns human-readable problems (empty: valid)."""
    problems: list[str] = []
    content = payload.get("content") or ""
    if len(content) > 2000:
        problems.append(f"content: must be 2000 or fewer in length (got {len(content)})")
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        problems.append(f"embeds: must be 10 or fewer in length (got {len(embeds)})")
    total = 0
    for i, e in enumerate(embeds):
        for key, limit in (("title", 256), ("description", 4096)):
            value = e.get(key) or ""
            total += len(value)
            if len(value) > limit:
                problems.append(f"embeds.{i}.{key}: must be {limit} or fewer in length")
        fields = e.get("fields") or []
        if len(fields) > 25:
            problems.append(f"embeds.{i}.fields: must be 25 or fewer in length")
        for j, f in enumerate(fields):
            name, value = f.get("name") or "", f.get("value") or ""
            total += len(name) + len(value)
            if not name or len(name) > 256:
                problems.append(f"embeds.{i}.fields.{j}.name: must be 1-256 in length")
            if not value or len(value) > 1024:
                problems.append(f"embeds.{i}.fields.{j}.value: must be 1-1024 in length")
        footer = (e.get("footer") or {}).get("text") or ""
        author = (e.get("author") or {}).get("name") or ""
        total += len(footer) + len(author)
        if len(footer) > 2048:
            problems.append(f"embeds.{i}.footer.text: must be 2048 or fewer in length")
        if len(author) > 256:
            problems.append(f"embeds.{i}.author.name: must be 256 or fewer in length")
    if total > 6000:
        problems.append(f"embeds: total size must be 6000 or fewer (got {total})")
    return problems


_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


def validate_commands(commands: list[dict[str, Any]]) -> list[str]:
    """A subset of Discord's application command validation (names, descriptions, options)."""
    problems: list[str] = []
    if len(commands) > 100:
        problems.append("too many commands (max 100 chat input commands)")
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        name = cmd.get("name", "")
        if (ctype, name) in seen:
            problems.append(f"{i}.name: duplicate command name {name!r}")
        seen.add((ctype, name))
        if ctype == 1:
            problems.extend(_validate_chat_input(f"{i}", cmd))
        elif not 1 <= len(name) <= 32:
            problems.append(f"{i}.name: must be 1-32 in length")
    return problems


def _validate_chat_input(where: str, obj: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    name = obj.get("name", "")
    if not _COMMAND_NAME.match(name) or name != name.lower():
        problems.append(f"{where}.name: {name!r} must be 1-32 lowercase word characters")
    description = obj.get("description", "")
    if not 1 <= len(description) <= 100:
        problems.append(f"{where}.description: must be 1-100 in length (got {len(description)})")
    options = obj.get("options") or []
    if len(options) > 25:
        problems.append(f"{where}.options: must be 25 or fewer in length")
    seen_optional = False
    for j, opt in enumerate(options):
        sub = f"{where}.options.{j}"
        if opt.get("type") in (1, 2):
            problems.extend(_validate_chat_input(sub, opt))
            continue
        problems.extend(p for p in _validate_chat_input(sub, {**opt, "options": []}))
        if opt.get("required"):
            if seen_optional:
                problems.append(f"{sub}.required: required options must come before optional")
        else:
            seen_optional = True
        if len(opt.get("choices") or []) > 25:
            problems.append(f"{sub}.choices: must be 25 or fewer in length")
    return problems
