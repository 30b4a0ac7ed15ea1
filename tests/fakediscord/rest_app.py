"""REST routes for the bot user, the application and its commands."""


from __future__ import annotations

from typing import Any

from aiohttp import web

from .payloads import (
    error_response,
    json_response,
    snowflake,
    validate_commands,
)
from .state import (
    _Req,
)


class AppRoutes:
    """Mixed into :class:`FakeDiscord`; uses its state."""

    # ------------------------------------------------------------------ REST: identity
    async def _h_me(self, req: _Req) -> web.StreamResponse:
        data = self.bot_user.payload()
        data.update(verified=True, mfa_enabled=False, email=None, locale="en-US")
        return json_response(data)

    async def _h_user(self, req: _Req, user_id: str) -> web.StreamResponse:
        user = self.users.get(int(user_id))
        if user is None:
            return error_response(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def _h_create_dm(self, req: _Req) -> web.StreamResponse:
        uid = int((req.json or {}).get("recipient_id", 0))
        if uid not in self.users:
            return error_response(400, 50035, "Invalid Form Body")
        return json_response(self._channels[self.dm_channel(uid)].payload())

    async def _h_app_info(self, req: _Req) -> web.StreamResponse:
        return json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_user.name,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner_user.payload(),
                "verify_key": "0" * 64,
                "team": None,
                "flags": 0,
                "bot": self.bot_user.payload(),
                "summary": "",
                "rpc_origins": [],
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
            }
        )

    async def _h_gateway(self, req: _Req) -> web.StreamResponse:
        return json_response({"url": self.gateway_url})

    async def _h_gateway_bot(self, req: _Req) -> web.StreamResponse:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": self.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    # ------------------------------------------------------------------ REST: commands
    def _check_app(self, app: str) -> web.Response | None:
        if int(app) != self.application_id:
            return error_response(403, 50001, "Missing Access")
        return None

    async def _h_get_commands(
        self, req: _Req, app: str, guild_id: str | None = None
    ) -> web.StreamResponse:
        key = int(guild_id) if guild_id else None
        return self._check_app(app) or json_response(self.registered_commands.get(key, []))

    def _echo_command(
        self, cmd: dict[str, Any], key: int | None, old: list[dict[str, Any]]
    ) -> dict[str, Any]:
        prev = next(
            (c for c in old if c["name"] == cmd["name"] and c.get("type", 1) == cmd.get("type", 1)),
            None,
        )
        out = dict(cmd)
        out.setdefault("type", 1)
        out.setdefault("description", "")
        out.setdefault("options", [])
        out.setdefault("default_member_permissions", None)
        out.setdefault("nsfw", False)
        out.update(
            id=prev["id"] if prev else str(snowflake()),
            application_id=str(self.application_id),
            version=str(snowflake()),
        )
        if key is not None:
            out["guild_id"] = str(key)
        return out

    async def _h_put_commands(
        self, req: _Req, app: str, guild_id: str | None = None
    ) -> web.StreamResponse:
        bad = self._check_app(app)
        if bad:
            return bad
        key = int(guild_id) if guild_id else None
        if key is not None and key not in self.guilds:
            return error_response(403, 50001, "Missing Access")
        commands = req.json if isinstance(req.json, list) else []
        if self.strict:
            problems = validate_commands(commands)
            if problems:
                return self._invalid_form(problems)
        old = self.registered_commands.get(key, [])
        self.registered_commands[key] = [self._echo_command(c, key, old) for c in commands]
        return json_response(self.registered_commands[key])

    async def _h_post_command(
        self, req: _Req, app: str, guild_id: str | None = None
    ) -> web.StreamResponse:
        bad = self._check_app(app)
        if bad:
            return bad
        key = int(guild_id) if guild_id else None
        cmd = req.json or {}
        if self.strict:
            problems = validate_commands([cmd])
            if problems:
                return self._invalid_form(problems)
        old = self.registered_commands.get(key, [])
        new = self._echo_command(cmd, key, old)
        self.registered_commands[key] = [c for c in old if c["id"] != new["id"]] + [new]
        return json_response(new, status=201)

    @staticmethod
    def _invalid_form(problems: list[str]) -> web.Response:
        errors = {
            p.split(":", 1)[0]: {"_errors": [{"code": "FAKEDISCORD_INVALID", "message": p}]}
            for p in problems
        }
        return error_response(400, 50035, "Invalid Form Body", errors)
