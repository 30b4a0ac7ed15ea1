"""👍/👎 under every answer in a server, and the optional reason after a 👎.

When an answer (slash command, mention, thread follow-up, reply) is ready, it is written to
the server's question log (``Engine.feedback``; nothing when the log is off, and nothing in
DMs) and its last message is delivered with two buttons whose custom ids carry the log
entry's id. They are
``DynamicItem``s registered on the client: no view object is kept per message, they never time
out, and a click on an answer posted before a restart is routed by its custom id alone. A vote
is one per member per answer (changeable); a 👎 opens a modal for an optional reason of at most
300 characters. Every reply to a click is private.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

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


class ReasonModal(discord.ui.Modal):
    """What was wrong with the answer (optional)."""

    reason: discord.ui.TextInput[ReasonModal] = discord.ui.TextInput(
        label="What was wrong or missing? (optional)", style=discord.TextStyle.paragraph,
        required=False, max_length=MAX_REASON_CHARS)

    def __init__(self, handler: AnswerFeedback, entry_id: int, nonce: int) -> None:
        # One modal per click: two members' open modals must not share a custom id.
        super().__init__(title="Thanks for the 👎", timeout=900,
                         custom_id=f"articlebot:reason:{entry_id}:{nonce}")
        self.handler = handler
        self.entry_id = entry_id

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self.handler.give_reason(interaction, self.entry_id, self.reason.value or "")


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
        except ArticlebotError as exc:
            await _ack(interaction, str(exc))
            return
        if outcome in ("recorded", "changed"):
            self.metrics.count_vote(up)
        if outcome == "missing" or outcome == "off":
            await _ack(interaction, MISSING if outcome == "missing" else OFF)
        elif up:
            await _ack(interaction, ACKS[(True, outcome)])
        else:
            try:
                await interaction.response.send_modal(
                    ReasonModal(self, entry_id, interaction.id))
            except discord.HTTPException:
                log.warning("could not open the reason form (guild=%s)", interaction.guild_id)

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
        except ArticlebotError as exc:
            await _ack(interaction, str(exc))
            return
        if kept:
            self.metrics.count_vote_reason()
        await _ack(interaction, "Thanks: your 👎 and its reason are recorded." if kept
                   else MISSING)


async def _ack(interaction: discord.Interaction[Any], text: str) -> None:
    try:
        await interaction.response.send_message(text, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.warning("could not acknowledge a vote (guild=%s)", interaction.guild_id)
