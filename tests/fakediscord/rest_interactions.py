"""REST routes for interaction callbacks and their webhooks."""


from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from .payloads import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FakeAttachment,
    error_response,
    iso_now,
    json_response,
    no_content,
    public_message,
    resolve_mentions,
    snowflake,
    validate_message,
)
from .state import (
    FakeInteraction,
    UploadedFile,
    _Req,
)


class InteractionRoutes:
    """Mixed into :class:`FakeDiscord`; uses its state."""

    # ------------------------------------------------------------------ REST: interactions
    def _lookup_token(self, app: str, token: str) -> FakeInteraction | web.Response:
        inter = self._interactions_by_token.get(token)
        if inter is None or int(app) != self.application_id:
            return error_response(404, 10015, "Unknown Webhook")
        if time.monotonic() - inter.dispatched_at > self.token_ttl:
            inter.rejected.append((time.monotonic(), "token expired", None))
            inter._changed()
            return error_response(401, 50027, "Invalid Webhook Token")
        return inter

    def _check_message_payload(
        self,
        payload: dict[str, Any],
        files: list[UploadedFile],
        *,
        base: dict[str, Any] | None = None,
    ) -> web.Response | None:
        too_big = [f.filename for f in files if len(f.data) > self.attachment_size_limit]
        if too_big:
            return error_response(413, 40005, f"Request entity too large: {too_big}")
        if not self.strict:
            return None
        merged = {
            **(base or {}),
            **{k: v for k, v in payload.items() if k in ("content", "embeds")},
        }
        problems = validate_message(merged)
        if problems:
            return self._invalid_form(problems)
        has_body = (
            merged.get("content")
            or merged.get("embeds")
            or files
            or payload.get("components")
            or payload.get("sticker_ids")
            or payload.get("poll")
            or (base or {}).get("attachments")
        )
        if not has_body:
            return error_response(400, 50006, "Cannot send an empty message")
        return None

    def _attachments_from_files(
        self, files: list[UploadedFile], payload: dict[str, Any]
    ) -> list[dict[str, Any]]:
        meta = {str(a.get("id")): a for a in payload.get("attachments") or []}
        out = []
        for i, f in enumerate(files):
            index = re.sub(r"\D", "", f.field) or str(i)
            info = meta.get(index, {})
            filename = info.get("filename") or f.filename
            ctype = (
                f.content_type if f.content_type not in (None, "application/octet-stream") else None
            )
            url = self.serve_file(f.data, filename, ctype or "application/octet-stream")
            att = FakeAttachment(
                id=snowflake(),
                filename=filename,
                data=f.data,
                url=url,
                content_type=ctype,
                description=info.get("description"),
            )
            out.append(att.payload())
        return out

    def _mentions_for(
        self, content: str, allowed: dict[str, Any] | None, reference: dict[str, Any] | None
    ) -> dict[str, Any]:
        replied = int(reference["author"]["id"]) if reference else None
        users, roles, everyone = resolve_mentions(content, allowed, replied_user_id=replied)
        return {
            "mentions": [self.users[u].payload() for u in users if u in self.users],
            "mention_roles": [str(r) for r in roles],
            "mention_everyone": everyone,
        }

    def _apply_edit(
        self, msg: dict[str, Any], payload: dict[str, Any], files: list[UploadedFile]
    ) -> None:
        if "content" in payload:
            msg["content"] = payload["content"] or ""
        for key in ("embeds", "components"):
            if key in payload:
                msg[key] = payload[key] or []
        if "flags" in payload and payload["flags"] is not None:
            msg["flags"] = (msg.get("flags", 0) & FLAG_EPHEMERAL) | int(payload["flags"])
        if "attachments" in payload:
            keep_ids = {str(a.get("id")) for a in payload["attachments"] or []}
            msg["attachments"] = [a for a in msg["attachments"] if a["id"] in keep_ids]
        msg["attachments"] = msg["attachments"] + self._attachments_from_files(files, payload)
        if "allowed_mentions" in payload:
            msg["allowed_mentions"] = payload["allowed_mentions"]
        ref = msg.get("referenced_message")
        msg.update(self._mentions_for(msg["content"], msg.get("allowed_mentions"), ref))
        msg.setdefault("edit_history", []).append((time.monotonic(), payload))

    def _interaction_message(
        self,
        inter: FakeInteraction,
        payload: dict[str, Any],
        files: list[UploadedFile],
        *,
        flags: int,
    ) -> dict[str, Any]:
        channel = self._channels[inter.channel_id]
        ephemeral = bool(flags & FLAG_EPHEMERAL)
        msg = self._bot_message(
            channel,
            payload,
            files,
            flags=flags,
            type=20 if inter.type == 2 else 0,
            extra={
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
                "interaction_metadata": {
                    "id": str(inter.id),
                    "type": inter.type,
                    "user": inter.user.payload(),
                    "authorizing_integration_owners": inter.payload.get(
                        "authorizing_integration_owners", {}
                    ),
                    "name": inter.name,
                },
            },
            store=False,
        )
        msg.update(self._mentions_for(msg["content"], payload.get("allowed_mentions"), None))
        if "allowed_mentions" in payload:
            msg["allowed_mentions"] = payload["allowed_mentions"]
        self._messages[int(msg["id"])] = msg
        if not ephemeral:
            channel.messages.append(msg)
        return msg

    async def _h_callback(self, req: _Req, iid: str, token: str) -> web.StreamResponse:
        inter = self._interactions_by_id.get(int(iid))
        if inter is None or inter.token != token:
            return error_response(404, 10062, "Unknown interaction")
        now = time.monotonic()
        body = req.json if isinstance(req.json, dict) else {}
        if self.ack_timeout is not None and now - inter.dispatched_at > self.ack_timeout:
            inter.rejected.append((now, f"late ack after {now - inter.dispatched_at:.2f}s", body))
            inter._changed()
            return error_response(404, 10062, "Unknown interaction")
        if inter.acked:
            inter.rejected.append((now, "already acknowledged", body))
            inter._changed()
            return error_response(400, 40060, "Interaction has already been acknowledged.")
        cb_type = int(body.get("type", 0))
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        message: dict[str, Any] | None = None
        if cb_type == 4:
            bad = self._check_message_payload(data, req.files)
            if bad:
                inter.rejected.append((now, "invalid response message", body))
                inter._changed()
                return bad
            message = inter.original = self._interaction_message(
                inter, data, req.files, flags=flags
            )
        elif cb_type == 5:
            message = inter.original = self._interaction_message(
                inter, {}, [], flags=(flags & FLAG_EPHEMERAL) | FLAG_LOADING
            )
        elif cb_type in (6, 7):
            if inter.target_message is None:
                return error_response(400, 50035, "Invalid Form Body: no message to update")
            message = inter.original = inter.target_message
            if cb_type == 7:
                self._apply_edit(message, data, req.files)
                inter.edits.append((now, data))
        elif cb_type == 8:
            inter.choices = list(data.get("choices") or [])
        elif cb_type == 9:
            inter.modal = data
        else:
            return error_response(400, 50035, f"Invalid Form Body: callback type {cb_type}")
        inter.ack_type = cb_type
        inter.ack_at = now
        inter.ack_payload = body
        inter.ephemeral = bool(message and message["flags"] & FLAG_EPHEMERAL)
        inter._changed()
        if req.query.get("with_response") not in ("1", "true", "True"):
            return no_content()
        interaction_info: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "response_message_loading": cb_type == 5,
            "response_message_ephemeral": inter.ephemeral,
        }
        resource: dict[str, Any] = {"type": cb_type}
        if message is not None:
            interaction_info["response_message_id"] = message["id"]
            resource["message"] = public_message(message)
        return json_response({"interaction": interaction_info, "resource": resource})

    def _webhook_message(self, inter: FakeInteraction, mid: str) -> dict[str, Any] | web.Response:
        if mid == "@original":
            if inter.original is None or inter.original_deleted:
                return error_response(404, 10008, "Unknown Message")
            return inter.original
        for m in inter.followups:
            if m["id"] == mid and not m.get("deleted"):
                return m
        if inter.original is not None and inter.original["id"] == mid:
            return inter.original
        return error_response(404, 10008, "Unknown Message")

    def _webhook_target(
        self, app: str, token: str, mid: str
    ) -> tuple[FakeInteraction, dict[str, Any]] | web.Response:
        """The interaction behind ``token`` and its message ``mid``, or the error response."""
        inter = self._lookup_token(app, token)
        if isinstance(inter, web.Response):
            return inter
        msg = self._webhook_message(inter, mid)
        return msg if isinstance(msg, web.Response) else (inter, msg)

    async def _h_wh_get(self, req: _Req, app: str, token: str, mid: str) -> web.StreamResponse:
        target = self._webhook_target(app, token, mid)
        if isinstance(target, web.Response):
            return target
        return json_response(public_message(target[1]))

    async def _h_wh_edit(self, req: _Req, app: str, token: str, mid: str) -> web.StreamResponse:
        target = self._webhook_target(app, token, mid)
        if isinstance(target, web.Response):
            return target
        inter, msg = target
        payload = req.json if isinstance(req.json, dict) else {}
        bad = self._check_message_payload(payload, req.files, base=msg)
        if bad:
            inter.rejected.append((time.monotonic(), "invalid edit", payload))
            inter._changed()
            return bad
        was_loading = bool(msg.get("flags", 0) & FLAG_LOADING)
        self._apply_edit(msg, payload, req.files)
        if was_loading:
            msg["flags"] &= ~FLAG_LOADING
        else:
            msg["edited_timestamp"] = iso_now()
        if msg is inter.original:
            inter.edits.append((time.monotonic(), payload))
        inter._changed()
        return json_response(public_message(msg))

    async def _h_wh_delete(self, req: _Req, app: str, token: str, mid: str) -> web.StreamResponse:
        target = self._webhook_target(app, token, mid)
        if isinstance(target, web.Response):
            return target
        inter, msg = target
        msg["deleted"] = True
        if msg is inter.original:
            inter.original_deleted = True
        inter._changed()
        return no_content()

    async def _h_wh_followup(self, req: _Req, app: str, token: str) -> web.StreamResponse:
        inter = self._lookup_token(app, token)
        if isinstance(inter, web.Response):
            return inter
        if not inter.acked:
            inter.rejected.append((time.monotonic(), "followup before ack", req.json))
            inter._changed()
            return error_response(404, 10015, "Unknown Webhook")
        payload = req.json if isinstance(req.json, dict) else {}
        bad = self._check_message_payload(payload, req.files)
        if bad:
            inter.rejected.append((time.monotonic(), "invalid followup", payload))
            inter._changed()
            return bad
        if inter.loading and inter.original is not None and not inter.edits:
            # Discord: the first follow-up after a defer replaces the 'thinking…' message
            # (ephemerality was fixed by the defer).
            msg = inter.original
            self._apply_edit(msg, {**payload, "flags": None}, req.files)
            msg["flags"] &= ~FLAG_LOADING
        else:
            flags = int(payload.get("flags") or 0)
            msg = self._interaction_message(inter, payload, req.files, flags=flags)
        inter.followups.append(msg)
        inter._changed()
        if req.query.get("wait") in ("1", "true", "True"):
            return json_response(public_message(msg))
        return no_content()
