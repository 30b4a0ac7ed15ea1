"""What members do: messages, slash commands, autocomplete, components."""


from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .payloads import (
    DEFAULT_BOT_PERMISSIONS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeRole,
    FakeUser,
    interaction_token,
    iso_now,
    public_message,
    snowflake,
)
from .state import (
    FakeInteraction,
    UploadedFile,
    _id_of,
)


class UserActions:
    """Mixed into :class:`FakeDiscord`; uses its state."""

    # ------------------------------------------------------------------ user actions
    def _member_payload(
        self, guild: FakeGuild, user: FakeUser, *, with_user: bool
    ) -> dict[str, Any]:
        return guild.member(user).payload(
            with_user=with_user, permissions=guild.permissions_of(user)
        )

    def _channel_for(
        self, guild: FakeGuild | None, user: FakeUser, channel_id: int | None
    ) -> FakeChannel:
        if channel_id is not None:
            return self._channels[int(channel_id)]
        if guild is None:
            return self._channels[self.dm_channel(user)]
        return self._channels[guild.channel_id]

    async def send_message(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        content: str,
        *,
        mentions: Iterable[FakeUser | int] = (),
        reference: int | None = None,
        channel_id: int | None = None,
        attachments: Iterable[FakeAttachment] = (),
        ping_reply: bool = True,
    ) -> int:
        """A user posts a message (MESSAGE_CREATE). ``guild=None`` posts in the DM with the
        bot; ``channel_id`` picks another channel or a thread. ``<@id>`` mentions in the
        content are parsed; ``mentions`` adds more. Returns the message id."""
        await self._flush()
        channel = self._channel_for(guild, user, channel_id)
        if guild is not None:
            guild.member(user)  # must be a member
        ref_msg = self._messages.get(int(reference)) if reference is not None else None
        if reference is not None and ref_msg is None:
            raise KeyError(f"unknown referenced message {reference}")
        mention_ids = [int(x) for x in re.findall(r"<@!?(\d+)>", content)]
        mention_ids += [_id_of(m) for m in mentions]
        if ref_msg is not None and ping_reply:
            mention_ids.append(int(ref_msg["author"]["id"]))
        mention_ids = list(dict.fromkeys(mention_ids))
        role_ids = [int(x) for x in re.findall(r"<@&(\d+)>", content)]
        msg = self._new_message(
            channel,
            author=user,
            content=content,
            attachments=[a.payload() for a in attachments],
            mention_ids=mention_ids,
            mention_roles=role_ids,
            mention_everyone="@everyone" in content or "@here" in content,
            reference=ref_msg,
        )
        await self._deliver_user_message(msg, channel)
        return int(msg["id"])

    async def _deliver_user_message(self, msg: dict[str, Any], channel: FakeChannel) -> None:
        guild_id = channel.guild_id
        session = self._session_for(guild_id)
        if session is None or not session.ready:
            raise RuntimeError("no ready gateway session; start the client and wait_ready()")
        data = public_message(msg)
        if guild_id is not None:
            guild = self.guilds[guild_id]
            author = self.users[int(msg["author"]["id"])]
            if author.id in guild.members:
                data["member"] = guild.member(author).payload(with_user=False)
            data["mentions"] = [
                {**m, "member": guild.members[int(m["id"])].payload(with_user=False)}
                if int(m["id"]) in guild.members
                else m
                for m in data["mentions"]
            ]
        if self.enforce_intents:
            needed = INTENT_GUILD_MESSAGES if guild_id is not None else INTENT_DIRECT_MESSAGES
            if not session.has_intent(needed):
                self.dropped_events.append(("MESSAGE_CREATE", f"missing intent {needed}"))
                return
            mentioned = any(int(m["id"]) == self.bot_user.id for m in data["mentions"])
            if (
                guild_id is not None
                and not mentioned
                and not session.has_intent(INTENT_MESSAGE_CONTENT)
            ):
                data.update(content="", embeds=[], attachments=[], components=[])
                self.dropped_events.append(("MESSAGE_CREATE", "content blanked: no intent"))
        await session.dispatch("MESSAGE_CREATE", data)

    def _bot_message(
        self,
        channel: FakeChannel,
        payload: dict[str, Any],
        files: list[UploadedFile],
        **fields: Any,
    ) -> dict[str, Any]:
        """A message the bot posts: content, embeds, components and files from its payload."""
        return self._new_message(
            channel,
            author=self.bot_user,
            content=payload.get("content") or "",
            embeds=payload.get("embeds") or [],
            components=payload.get("components") or [],
            attachments=self._attachments_from_files(files, payload),
            **fields,
        )

    def _new_message(
        self,
        channel: FakeChannel,
        *,
        author: FakeUser,
        content: str = "",
        embeds: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        components: list[dict[str, Any]] | None = None,
        mention_ids: Iterable[int] = (),
        mention_roles: Iterable[int] = (),
        mention_everyone: bool = False,
        reference: dict[str, Any] | None = None,
        flags: int = 0,
        type: int = 0,
        extra: dict[str, Any] | None = None,
        store: bool = True,
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "id": str(snowflake()),
            "channel_id": str(channel.id),
            "author": author.payload(),
            "content": content,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": mention_everyone,
            "mentions": [self.users[u].payload() for u in mention_ids if u in self.users],
            "mention_roles": [str(r) for r in mention_roles],
            "attachments": attachments or [],
            "embeds": embeds or [],
            "pinned": False,
            "type": type,
            "flags": flags,
            "components": components or [],
            "created_monotonic": time.monotonic(),
        }
        if channel.guild_id is not None:
            msg["guild_id"] = str(channel.guild_id)
        if reference is not None:
            msg["type"] = 19 if type == 0 else type
            msg["message_reference"] = {
                "type": 0,
                "message_id": reference["id"],
                "channel_id": reference["channel_id"],
                "guild_id": reference.get("guild_id"),
            }
            ref = public_message(reference)
            ref.pop("referenced_message", None)
            msg["referenced_message"] = ref
        if extra:
            msg.update(extra)
        if store:
            channel.messages.append(msg)
            self._messages[int(msg["id"])] = msg
        return msg

    # ------------------------------------------------------------------ interactions
    def _find_command(
        self, name: str, guild: FakeGuild | None
    ) -> tuple[dict[str, Any] | None, bool]:
        if guild is not None:
            for cmd in self.registered_commands.get(guild.id, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, True
        for cmd in self.registered_commands.get(None, []):
            if cmd["name"] == name and cmd.get("type", 1) == 1:
                return cmd, False
        return None, False

    def _interaction_payload(
        self,
        type_: int,
        guild: FakeGuild | None,
        user: FakeUser,
        channel: FakeChannel,
        data: dict[str, Any],
        locale: str,
    ) -> tuple[dict[str, Any], int, str]:
        iid = snowflake()
        token = interaction_token()
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": self.attachment_size_limit,
            "channel_id": str(channel.id),
            "channel": channel.payload(),
        }
        if guild is not None:
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "member": self._member_payload(guild, user, with_user=True),
                    "app_permissions": str(guild.bot_permissions),
                    "authorizing_integration_owners": {"0": str(guild.id)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "user": user.payload(),
                    "app_permissions": str(DEFAULT_BOT_PERMISSIONS),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        return payload, iid, token

    def _build_options(
        self,
        values: Mapping[str, Any],
        schema: list[dict[str, Any]] | None,
        guild: FakeGuild | None,
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        types = {o["name"]: o.get("type") for o in schema or []}
        out: list[dict[str, Any]] = []
        for name, value in values.items():
            out.append(
                self._convert_option(name, value, types.get(name), guild, resolved, name == focused)
            )
        return out

    def _convert_option(
        self,
        name: str,
        value: Any,
        otype: int | None,
        guild: FakeGuild | None,
        resolved: dict[str, dict[str, Any]],
        focused: bool,
    ) -> dict[str, Any]:
        opt: dict[str, Any] = {"name": name}
        if focused:
            opt["focused"] = True
        if isinstance(value, (bytes, Path)) and otype in (None, 11):
            value = self.attachment(value)
        if isinstance(value, FakeAttachment):
            opt.update(type=11, value=str(value.id))
            resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
        elif isinstance(value, FakeUser):
            opt.update(type=otype if otype in (6, 9) else 6, value=str(value.id))
            resolved.setdefault("users", {})[str(value.id)] = value.payload()
            if guild is not None and value.id in guild.members:
                resolved.setdefault("members", {})[str(value.id)] = self._member_payload(
                    guild, value, with_user=False
                )
        elif isinstance(value, FakeRole):
            opt.update(type=otype if otype in (8, 9) else 8, value=str(value.id))
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
        elif isinstance(value, FakeChannel) or otype == 7:
            channel = value if isinstance(value, FakeChannel) else self._channels[int(value)]
            opt.update(type=7, value=str(channel.id))
            cdata = channel.payload()
            cdata["permissions"] = str(guild.permissions_of(self.bot_user) if guild else 0)
            resolved.setdefault("channels", {})[str(channel.id)] = cdata
        elif focused:
            opt.update(type=otype or 3, value=value if isinstance(value, str) else str(value))
        elif otype == 3 or (otype is None and isinstance(value, str)):
            opt.update(type=3, value=str(value))
        elif otype == 5 or (otype is None and isinstance(value, bool)):
            opt.update(type=5, value=bool(value))
        elif otype == 4 or (otype is None and isinstance(value, int)):
            opt.update(type=4, value=int(value))
        elif otype == 10 or (otype is None and isinstance(value, float)):
            opt.update(type=10, value=float(value))
        else:
            raise TypeError(f"cannot encode option {name}={value!r} (type {otype})")
        return opt

    def _command_data(
        self,
        name: str,
        options: Mapping[str, Any] | None,
        guild: FakeGuild | None,
        focused: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        parts = name.split()
        cmd, is_guild_cmd = self._find_command(parts[0], guild)
        resolved: dict[str, dict[str, Any]] = {}
        schema = cmd.get("options") if cmd else None
        # Walk "group sub" paths down the registered schema.
        chain: list[tuple[str, int]] = []
        for part in parts[1:]:
            sub = next((o for o in schema or [] if o["name"] == part), None)
            chain.append((part, sub["type"] if sub else (1 if part == parts[-1] else 2)))
            schema = sub.get("options") if sub else None
        leaf = self._build_options(options or {}, schema, guild, resolved, focused)
        for part, otype in reversed(chain):
            leaf = [{"type": otype, "name": part, "options": leaf}]
        data: dict[str, Any] = {
            "id": cmd["id"] if cmd else str(snowflake()),
            "name": parts[0],
            "type": 1,
            "options": leaf,
        }
        if resolved:
            data["resolved"] = resolved
        if is_guild_cmd and guild is not None:
            data["guild_id"] = str(guild.id)
        return data, name

    async def _start_interaction(
        self,
        type_: int,
        guild: FakeGuild | None,
        user: FakeUser,
        data: dict[str, Any],
        name: str,
        channel_id: int | None,
        locale: str,
        target_message: dict[str, Any] | None = None,
    ) -> FakeInteraction:
        await self._flush()
        channel = self._channel_for(guild, user, channel_id)
        payload, iid, token = self._interaction_payload(type_, guild, user, channel, data, locale)
        if target_message is not None:
            payload["message"] = public_message(target_message)
        inter = FakeInteraction(
            self,
            interaction_id=iid,
            token=token,
            type=type_,
            name=name,
            guild=guild,
            user=user,
            channel_id=channel.id,
            payload=payload,
            target_message=target_message,
        )
        self.interactions.append(inter)
        self._interactions_by_id[iid] = inter
        self._interactions_by_token[token] = inter
        inter.dispatched_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=guild.id if guild else None)
        return inter

    async def slash(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Dispatch a chat-input command (INTERACTION_CREATE type 2). ``name`` may be
        ``"group sub"``. Option types come from the registered command (else from the Python
        value): str, int, float, bool, FakeUser, FakeRole, FakeChannel/channel id,
        FakeAttachment / bytes / Path (attachment, put into ``data.resolved``).
        ``guild=None`` runs it in the bot's DM."""
        data, full = self._command_data(name, options, guild)
        return await self._start_interaction(2, guild, user, data, full, channel_id, locale)

    async def autocomplete(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        channel_id: int | None = None,
        timeout: float = 3.0,
    ) -> list[dict[str, Any]]:
        """Dispatch an autocomplete interaction (type 4) with ``focused`` option; return the
        choices the bot answered with (callback type 8)."""
        inter = await self.start_autocomplete(
            guild, user, name, options, focused=focused, channel_id=channel_id
        )
        return await inter.wait_choices(timeout)

    async def start_autocomplete(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        channel_id: int | None = None,
    ) -> FakeInteraction:
        if focused not in options:
            raise KeyError(f"focused option {focused!r} not in options")
        data, full = self._command_data(name, options, guild, focused=focused)
        return await self._start_interaction(4, guild, user, data, full, channel_id, "en-US")

    async def component(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        message_id: int,
        custom_id: str,
        *,
        component_type: int = 2,
        values: list[str] | None = None,
    ) -> FakeInteraction:
        """A user clicks a button / picks from a select on a bot message (type 3)."""
        msg = self._messages[int(message_id)]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        return await self._start_interaction(
            3, guild, user, data, custom_id, int(msg["channel_id"]), "en-US", target_message=msg
        )

    async def modal_submit(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        modal: dict[str, Any],
        values: Mapping[str, str],
        *,
        channel_id: int | None = None,
    ) -> FakeInteraction:
        """A user submits a modal the bot opened (``inter.modal``, callback type 9): one
        MODAL_SUBMIT interaction (type 5) with ``values`` by text input custom id; inputs
        not named are submitted empty."""
        inputs = []
        for row in modal.get("components") or []:
            for item in row.get("components") or ([row["component"]] if "component" in row
                                                  else []):
                if item.get("type") == 4:
                    inputs.append({"type": 1, "components": [{
                        "type": 4, "custom_id": item["custom_id"],
                        "value": values.get(item["custom_id"], "")}]})
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": inputs}
        return await self._start_interaction(
            5, guild, user, data, modal["custom_id"], channel_id, "en-US"
        )
