"""Log records on stderr: ours at the chosen level, dependencies' from WARNING unless asked.

Some libraries set their own logger's level (bm25s sets DEBUG), so the root logger's level
alone does not keep them quiet; a filter on our handler does, whatever level they set.
"""

from __future__ import annotations

import logging
import sys

OWN_LOGGERS = frozenset({"articlebot", "bot", "retrieval", "config", "__main__"})
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class DependencyFilter(logging.Filter):
    """Passes our records; a dependency's from ``threshold`` (discord.py's from
    ``discord_threshold``: its connection log is part of running the bot)."""

    def __init__(self, *, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose
        self.threshold = self.discord_threshold = logging.WARNING
        # A record marked ``told_user`` (a damaged collection, say) is also the command's
        # one-sentence error: the terminal shows the sentence alone unless -v asks for more.
        self.hide_told = False

    def filter(self, record: logging.LogRecord) -> bool:
        top = record.name.partition(".")[0]
        if top in OWN_LOGGERS:
            return not (self.hide_told and getattr(record, "told_user", False))
        limit = self.discord_threshold if top == "discord" else self.threshold
        return record.levelno >= limit

    def apply(self, level: int | str) -> None:
        """Log ours from ``level``, discord.py's too; other dependencies' from WARNING, or
        from ``level`` as well with ``-v`` or at DEBUG."""
        number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
        logging.getLogger().setLevel(number)
        self.hide_told = False  # a long-running process: the log is where the path is read
        self.discord_threshold = number
        self.threshold = number if self.verbose or number <= logging.DEBUG else \
            max(number, logging.WARNING)


def setup_logging(verbosity: int) -> DependencyFilter:
    """Stderr logging for the command line: WARNING, ``-v`` INFO, ``-vv`` DEBUG.

    Like ``logging.basicConfig``, it adds no handler when the root logger has some already
    (an application embedding the CLI, or pytest's capture)."""
    only = DependencyFilter(verbose=verbosity > 0)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(only)
        root.addHandler(handler)
    only.apply(logging.DEBUG if verbosity > 1 else logging.INFO if verbosity else logging.WARNING)
    only.hide_told = verbosity == 0
    return only
