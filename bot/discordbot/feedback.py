"""👍/👎 under every answer in a server, and the optional reason after a 👎.

When an answer (slash command, mention, thread follow-up, reply) is ready, it is written to
the server's question log (``Engine.feedback``; nothing when the log is off, and nothing in
DMs) and its last message is delivered with two buttons whose custom ids carry the log
entry's id. They are ``DynamicItem``s registered on the client: no view object is kept per
message, they never time out, and a click on an answer posted before a restart is routed by
its custom id alone. A vote is one per member per answer (changeable); a 👎 opens a form for
an optional reason of at most 300 characters (the log's limit,
``retrieval.insight.feedback.MAX_REASON_CHARS``), routed by custom id too. Every reply to a
click is private.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.discordbot import format as fmt
from bot.discordbot.dispatch import Attach, Dispatcher
from bot.discordbot.guards import collection_for
from bot.discordbot.stream import NO_MENTIONS
from config import Settings
from retrieval.engine import Engine
from retrieval.errors import ArticlebotError
from retrieval.types import Answer

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger("articlebot.discord")

MAX_REASON_CHARS = 300
_VOTE_ID = r"articlebot:vote:(?P<kind>up|down):(?P<entry>[0-9]{1,18})"
_REASON_ID = r"articlebot:reason:(?P<entry>[0-9]{1,18})"

ACKS = {
    (True, "recorded"): "Thanks: your 👍 is recorded.",
    (True, "changed"): "Changed your vote to 👍.",
    (True, "unchanged"): "You already gave this answer a 👍.",
    (False, "recorded"): "Thanks: your 👎 is recorded.",
    (False, "changed"): "Changed your vote to 👎.",
    (False, "unchanged"): "You already gave this answer a 👎.",
}
MISSING = ("That answer is no longer in this server's question log (it expired or was erased); "
           "nothing was recorded.")
OFF = "This server's question log is off, so votes are not kept."
NOT_HERE = "Votes are kept only for answers in a server."


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=_VOTE_ID):
    """👍 or 👎 on the log entry ``entry_id`` of the server the click comes from."""

    def __init__(self, entry_id: int, up: bool) -> None:
        kind = "up" if up else "down"
        super().__init__(discord.ui.Button(
            style=discord.ButtonStyle.secondary, emoji="👍" if up else "👎",
            custom_id=f"articlebot:vote:{kind}:{entry_id}"))
        self.entry_id = entry_id
        self.up = up

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any],
                             item: discord.ui.Item[Any], match: re.Match[str], /
                             ) -> VoteButton:
        return cls(int(match["entry"]), match["kind"] == "up")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = getattr(interaction.client, "answer_feedback", None)
        if isinstance(handler, AnswerFeedback):
            await handler.vote(interaction, self.entry_id, self.up)


def reason_form(entry_id: int) -> discord.ui.Modal:
    """The optional reason after a 👎. Stopped before it is sent, so discord.py keeps no
    object for it: its submission is routed by custom id (``AnswerFeedback.on_interaction``)
    and still lands after a restart or however long the member takes to type."""
    form = discord.ui.Modal(title="Thanks for the 👎", custom_id=f"articlebot:reason:{entry_id}")
    form.add_item(discord.ui.TextInput(
        label="What was wrong or missing? (optional)", style=discord.TextStyle.paragraph,
        required=False, max_length=MAX_REASON_CHARS, custom_id="reason"))
    form.stop()
    return form


def submitted_text(data: Any) -> str:
    """The text typed into a submitted form (one text input)."""
    for row in (data or {}).get("components") or []:
        for item in row.get("components") or ([row["component"]] if "component" in row else []):
            if item.get("custom_id") == "reason":
                return str(item.get("value") or "")
    return ""


def vote_view(entry_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(entry_id, True))
    view.add_item(VoteButton(entry_id, False))
    return view


class AnswerFeedback:
    """Logs delivered answers, puts the buttons under them, and takes the votes."""

    def __init__(self, engine: Engine, dispatcher: Dispatcher, settings: Settings) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.settings = settings

    @property
    def metrics(self) -> Metrics:
        return self.dispatcher.metrics

    def _collection(self, guild_id: int | None) -> str:
        return collection_for(guild_id, self.settings.default_collection)

    # -- with an answer ---------------------------------------------------------------
    def buttons(self, question: str, guild_id: int | None) -> Attach[Any] | None:
        """For ``Dispatcher.deliver``: log the answer and give the buttons its last message
        gets (in the same request as the final text); None in DMs."""
        if guild_id is None:
            return None

        async def attach(result: Any, seconds: float) -> discord.ui.View | None:
            entry = await self.record(question, result, guild_id, seconds)
            return None if entry is None else vote_view(entry)

        return attach

    async def record(self, question: str, answer: Any, guild_id: int,
                     seconds: float) -> int | None:
        """The answer's log entry, or None (not an answer, the log off, or the log failing:
        that never reaches the member)."""
        if not isinstance(answer, Answer):
            return None
        try:
            return await self.dispatcher.lookup(
                self.engine.feedback.record, question, answer,
                collection=self._collection(guild_id), latency_s=seconds)
        except Exception:
            log.warning("could not log an answer (guild=%s)", guild_id, exc_info=True)
            return None

    # -- clicks ---------------------------------------------------------------------------
    async def vote(self, interaction: discord.Interaction[Any], entry_id: int, up: bool) -> None:
        if interaction.guild_id is None:
            await _ack(interaction, NOT_HERE)
            return
        try:
            outcome = await self.dispatcher.lookup(
                self.engine.feedback.vote, entry_id, str(interaction.user.id), up,
                collection=self._collection(interaction.guild_id))
        except Exception as exc:
            await _failed(interaction, exc)
            return
        if outcome in ("recorded", "changed"):
            self.metrics.count_vote(up)
        if outcome == "missing" or outcome == "off":
            await _ack(interaction, MISSING if outcome == "missing" else OFF)
        elif up:
            await _ack(interaction, ACKS[(True, outcome)])
        else:
            try:
                await interaction.response.send_modal(reason_form(entry_id))
            except discord.HTTPException:
                log.warning("could not open the reason form (guild=%s)", interaction.guild_id)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """A submitted reason form (any other interaction is not ours to answer here)."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: Any = interaction.data or {}
        match = re.fullmatch(_REASON_ID, str(data.get("custom_id", "")))
        if match is not None:
            await self.give_reason(interaction, int(match["entry"]), submitted_text(data))

    async def give_reason(self, interaction: discord.Interaction[Any], entry_id: int,
                          reason: str) -> None:
        reason = reason.strip()
        if not reason:
            await _ack(interaction, ACKS[(False, "recorded")])
            return
        try:
            kept = await self.dispatcher.lookup(
                self.engine.feedback.give_reason, entry_id, str(interaction.user.id), reason,
                collection=self._collection(interaction.guild_id))
        except Exception as exc:
            await _failed(interaction, exc)
            return
        if kept:
            self.metrics.count_vote_reason()
        await _ack(interaction, "Thanks: your 👎 and its reason are recorded." if kept
                   else MISSING)


async def _failed(interaction: discord.Interaction[Any], exc: Exception) -> None:
    """A known error is its one sentence (a damaged store, a full disk); anything else is
    logged and apologised for."""
    if isinstance(exc, ArticlebotError):
        await _ack(interaction, fmt.member_sentence(exc))
        return
    log.error("a vote failed (guild=%s)", interaction.guild_id, exc_info=exc)
    await _ack(interaction, fmt.APOLOGY)


async def _ack(interaction: discord.Interaction[Any], text: str) -> None:
    try:
        await interaction.response.send_message(text, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.warning("could not acknowledge a vote (guild=%s)", interaction.guild_id)
