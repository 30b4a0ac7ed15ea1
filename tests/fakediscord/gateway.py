"""The gateway websocket: HELLO, IDENTIFY, RESUME, heartbeats, member requests."""


from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import WSMsgType, web

from .payloads import (
    INTENT_GUILD_MEMBERS,
)
from .state import (
    GatewaySession,
    log,
)


class GatewayRoutes:
    """Mixed into :class:`FakeDiscord`; uses its state."""

    # ------------------------------------------------------------------ gateway
    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        session = GatewaySession(self, ws)
        self.sessions.append(session)
        try:
            await session.send(
                {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": []}}
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_gateway_message(session, json.loads(msg.data))
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            session.closed = True
            if self._live.get(session.shard_id) is session:
                del self._live[session.shard_id]
            self._pulse.notify()
        return ws

    async def _on_gateway_message(self, session: GatewaySession, payload: dict[str, Any]) -> None:
        now = time.monotonic()
        session.received.append((now, payload))
        op = payload.get("op")
        d = payload.get("d")
        if op == 1:
            session.heartbeats.append(now)
            self._pulse.notify()
            if self.ack_heartbeats:
                await session.send({"op": 11})
        elif op == 2:
            await self._on_identify(session, d or {})
        elif op == 6:
            await self._on_resume(session, d or {})
        elif op == 8:
            await self._on_request_members(session, d or {})
        elif op == 3:
            self.presence_updates.append(d or {})
        else:
            log.debug("fakediscord: ignoring gateway op %s", op)

    async def _on_identify(self, session: GatewaySession, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        if int(d.get("intents") or 0) & self.refused_intents:
            await session.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = d.get("shard")
        session.shard_id, session.shard_count = (int(shard[0]), int(shard[1])) if shard else (0, 1)
        session.intents = int(d.get("intents") or 0)
        session.identify = d
        self._live[session.shard_id] = session
        self._by_session_id[session.session_id] = session
        guilds = [
            g
            for g in self.guilds.values()
            if (g.id >> 22) % session.shard_count == session.shard_id
        ]
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ["fakediscord"],
        }
        if shard:
            ready["shard"] = [session.shard_id, session.shard_count]
        await session.dispatch("READY", ready)
        include_members = session.has_intent(INTENT_GUILD_MEMBERS)
        for g in guilds:
            await session.dispatch(
                "GUILD_CREATE", g.create_payload(include_all_members=include_members)
            )
        session.ready = True
        self._pulse.notify()

    async def _on_resume(self, session: GatewaySession, d: dict[str, Any]) -> None:
        old = self._by_session_id.get(str(d.get("session_id")))
        if old is None or d.get("token") != self.token:
            await session.send({"op": 9, "d": False})
            return
        session.session_id = old.session_id
        session.seq = old.seq
        session.shard_id, session.shard_count = old.shard_id, old.shard_count
        session.intents = old.intents
        session.identify = old.identify
        session.resumed = True
        self._live[session.shard_id] = session
        self._by_session_id[session.session_id] = session
        await session.dispatch("RESUMED", {"_trace": ["fakediscord"]})
        session.ready = True
        self._pulse.notify()

    async def _on_request_members(self, session: GatewaySession, d: dict[str, Any]) -> None:
        guild = self.guilds.get(int(d.get("guild_id", 0)))
        if guild is None:
            return
        query = (d.get("query") or "").lower()
        user_ids = {int(u) for u in d.get("user_ids") or []}
        members = [
            m.payload()
            for m in guild.members.values()
            if (not user_ids or m.user.id in user_ids) and m.user.name.lower().startswith(query)
        ]
        limit = int(d.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
