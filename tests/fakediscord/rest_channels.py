"""REST routes for channels, messages, threads and guilds."""


from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from .payloads import (
    CHANNEL_PRIVATE_THREAD,
    CHANNEL_PUBLIC_THREAD,
    FLAG_HAS_THREAD,
    FakeChannel,
    FakeGuild,
    error_response,
    iso_now,
    json_response,
    no_content,
    public_message,
    snowflake,
)
from .state import (
    _Req,
)


class ChannelRoutes:
    """Mixed into :class:`FakeDiscord`; uses its state."""

    # ------------------------------------------------------------------ REST: channels
    def _get_channel(self, cid: str) -> FakeChannel | web.Response:
        channel = self._channels.get(int(cid))
        if channel is None:
            return error_response(404, 10003, "Unknown Channel")
        return channel

    async def _h_get_channel(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        return channel if isinstance(channel, web.Response) else json_response(channel.payload())

    async def _h_history(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        if isinstance(channel, web.Response):
            return channel
        limit = int(req.query.get("limit", 50))
        msgs = [m for m in channel.messages if not m.get("deleted")]
        if "before" in req.query:
            msgs = [m for m in msgs if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            msgs = [m for m in msgs if int(m["id"]) > int(req.query["after"])]
            # Discord returns newest first; discord.py reverses 'after' pages itself.
        msgs = list(reversed(msgs))[:limit]
        return json_response([public_message(m) for m in msgs])

    async def _h_get_message(self, req: _Req, cid: str, mid: str) -> web.StreamResponse:
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid or msg.get("deleted"):
            return error_response(404, 10008, "Unknown Message")
        return json_response(public_message(msg))

    async def _h_create_message(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        if isinstance(channel, web.Response):
            return channel
        payload = req.json if isinstance(req.json, dict) else {}
        bad = self._check_message_payload(payload, req.files)
        if bad:
            return bad
        ref_info = payload.get("message_reference")
        reference = None
        if ref_info:
            reference = self._messages.get(int(ref_info.get("message_id", 0)))
            if reference is None and ref_info.get("fail_if_not_exists", True):
                return error_response(
                    400,
                    50035,
                    "Invalid Form Body",
                    {
                        "message_reference": {
                            "_errors": [
                                {"code": "REPLIES_UNKNOWN_MESSAGE", "message": "Unknown message"}
                            ]
                        }
                    },
                )
        msg = self._bot_message(channel, payload, req.files,
                                flags=int(payload.get("flags") or 0), reference=reference)
        msg["tts"] = bool(payload.get("tts"))
        if "allowed_mentions" in payload:
            msg["allowed_mentions"] = payload["allowed_mentions"]
        msg.update(self._mentions_for(msg["content"], payload.get("allowed_mentions"), reference))
        self._pulse.notify()
        if self.echo_bot_messages:
            await self._try_dispatch(
                "MESSAGE_CREATE", public_message(msg), guild_id=channel.guild_id
            )
        return json_response(public_message(msg))

    async def _h_edit_message(self, req: _Req, cid: str, mid: str) -> web.StreamResponse:
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid or msg.get("deleted"):
            return error_response(404, 10008, "Unknown Message")
        if int(msg["author"]["id"]) != self.bot_user.id:
            return error_response(403, 50005, "Cannot edit a message authored by another user")
        payload = req.json if isinstance(req.json, dict) else {}
        bad = self._check_message_payload(payload, req.files, base=msg)
        if bad:
            return bad
        self._apply_edit(msg, payload, req.files)
        msg["edited_timestamp"] = iso_now()
        self._pulse.notify()
        if self.echo_bot_messages:
            await self._try_dispatch(
                "MESSAGE_UPDATE", public_message(msg), guild_id=self._channels[int(cid)].guild_id
            )
        return json_response(public_message(msg))

    async def _h_delete_message(self, req: _Req, cid: str, mid: str) -> web.StreamResponse:
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid or msg.get("deleted"):
            return error_response(404, 10008, "Unknown Message")
        msg["deleted"] = True
        return no_content()

    async def _h_typing(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        if isinstance(channel, web.Response):
            return channel
        self.typing.append((time.monotonic(), channel.id))
        return no_content()

    async def _reaction(self, op: str, cid: str, mid: str, emoji: str) -> web.StreamResponse:
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid:
            return error_response(404, 10008, "Unknown Message")
        self.reactions.append((time.monotonic(), op, int(cid), int(mid), unquote(emoji)))
        return no_content()

    async def _h_add_reaction(
        self, req: _Req, cid: str, mid: str, emoji: str
    ) -> web.StreamResponse:
        return await self._reaction("add", cid, mid, emoji)

    async def _h_remove_reaction(
        self, req: _Req, cid: str, mid: str, emoji: str
    ) -> web.StreamResponse:
        return await self._reaction("remove", cid, mid, emoji)

    async def _make_thread(
        self, parent: FakeChannel, payload: dict[str, Any], *, thread_id: int | None, ttype: int
    ) -> web.StreamResponse:
        if parent.guild_id is None or parent.is_thread:
            return error_response(400, 50024, "Cannot execute action on this channel type")
        name = (payload.get("name") or "").strip()
        if not 1 <= len(name) <= 100:
            return self._invalid_form([f"name: must be 1-100 in length (got {len(name)})"])
        thread = FakeChannel(
            id=thread_id or snowflake(),
            type=ttype,
            name=name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_user.id,
            auto_archive_duration=int(payload.get("auto_archive_duration") or 1440),
        )
        guild = self.guilds[parent.guild_id]
        guild.threads[thread.id] = thread
        self._channels[thread.id] = thread
        self.created_threads.append(thread)
        self._pulse.notify()
        data = thread.payload()
        await self._try_dispatch(
            "THREAD_CREATE", {**data, "newly_created": True}, guild_id=parent.guild_id
        )
        data["member"] = {
            "id": str(thread.id),
            "user_id": str(self.bot_user.id),
            "join_timestamp": iso_now(),
            "flags": 0,
        }
        return json_response(data, status=201)

    async def _h_thread_from_message(self, req: _Req, cid: str, mid: str) -> web.StreamResponse:
        parent = self._get_channel(cid)
        if isinstance(parent, web.Response):
            return parent
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid:
            return error_response(404, 10008, "Unknown Message")
        if int(mid) in self._channels:
            return error_response(400, 160004, "A thread has already been created for this message")
        payload = req.json if isinstance(req.json, dict) else {}
        response = await self._make_thread(
            parent, payload, thread_id=int(mid), ttype=CHANNEL_PUBLIC_THREAD
        )
        if response.status == 201:
            msg["flags"] = msg.get("flags", 0) | FLAG_HAS_THREAD
            msg["thread"] = self._channels[int(mid)].payload()
        return response

    async def _h_thread(self, req: _Req, cid: str) -> web.StreamResponse:
        parent = self._get_channel(cid)
        if isinstance(parent, web.Response):
            return parent
        payload = req.json if isinstance(req.json, dict) else {}
        ttype = int(payload.get("type") or CHANNEL_PRIVATE_THREAD)
        return await self._make_thread(parent, payload, thread_id=None, ttype=ttype)

    async def _h_thread_join(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        return channel if isinstance(channel, web.Response) else no_content()

    # ------------------------------------------------------------------ REST: guilds
    def _get_guild(self, guild_id: str) -> FakeGuild | web.Response:
        guild = self.guilds.get(int(guild_id))
        if guild is None:
            return error_response(404, 10004, "Unknown Guild")
        return guild

    async def _h_get_guild(self, req: _Req, guild_id: str) -> web.StreamResponse:
        guild = self._get_guild(guild_id)
        return guild if isinstance(guild, web.Response) else json_response(guild.payload())

    async def _h_guild_channels(self, req: _Req, guild_id: str) -> web.StreamResponse:
        guild = self._get_guild(guild_id)
        if isinstance(guild, web.Response):
            return guild
        return json_response([c.payload() for c in guild.channels.values()])

    async def _h_guild_roles(self, req: _Req, guild_id: str) -> web.StreamResponse:
        guild = self._get_guild(guild_id)
        if isinstance(guild, web.Response):
            return guild
        return json_response([r.payload() for r in guild.roles.values()])

    async def _h_guild_member(self, req: _Req, guild_id: str, user_id: str) -> web.StreamResponse:
        guild = self._get_guild(guild_id)
        if isinstance(guild, web.Response):
            return guild
        member = guild.members.get(int(user_id))
        if member is None:
            return error_response(404, 10007, "Unknown Member")
        return json_response(member.payload())
