"""Follow-up memory: the turns of each conversation, kept in process memory.

A conversation is found by a key: the id of one of the bot's answer messages (reply chains,
including replies to /ask responses) or the id of a thread the bot started or a DM channel.
Keeping the exact ``Turn``s here costs no REST round trip and no re-parsing of the bot's own
messages; the price is that a restart forgets earlier conversations (a follow-up is then
answered on its own). Bounded LRU, so memory use stays flat.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

from retrieval.types import Turn


class ConversationMemory:
    def __init__(self, max_keys: int = 20_000, max_turns: int = 10) -> None:
        self.max_keys = max_keys
        self.max_turns = max_turns
        self._turns: OrderedDict[int, tuple[Turn, ...]] = OrderedDict()

    def get(self, key: int | None) -> tuple[Turn, ...]:
        if key is None or key not in self._turns:
            return ()
        self._turns.move_to_end(key)
        return self._turns[key]

    def remember(self, keys: Iterable[int], history: Sequence[Turn], turn: Turn) -> None:
        """Store ``history + turn`` under every key (answer message ids, thread id)."""
        turns = (*history, turn)[-self.max_turns :]
        for key in keys:
            self._turns[key] = turns
            self._turns.move_to_end(key)
        while len(self._turns) > self.max_keys:
            self._turns.popitem(last=False)

    def __len__(self) -> int:
        return len(self._turns)
