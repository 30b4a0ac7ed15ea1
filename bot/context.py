"""What every ``articlebot`` command shares: the lazily built settings and engine
(``Context``) and the group that turns known errors into one sentence (``Group``).

Its own module so that the commands in ``bot.cli``, ``bot.measure`` and ``bot.run`` import it
without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from bot.logs import DependencyFilter
    from config import Settings
    from retrieval.engine import Engine


class Context:
    """Lazily built settings and engine: ``--help`` and usage errors load no model."""

    def __init__(self, config_file: str | None, overrides: dict[str, Any]):
        self.config_file = config_file
        self.overrides = overrides
        self._settings: Settings | None = None
        self._engine: Engine | None = None
        self.logs: DependencyFilter | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from config import load_settings

            self._settings = load_settings(self.config_file, self.overrides)
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from retrieval.engine import Engine

            self._engine = Engine(self.settings)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


pass_context = click.make_pass_decorator(Context)


def _user_errors() -> tuple[type[Exception], ...]:
    from config import ConfigError
    from retrieval.errors import ArticlebotError

    return (ArticlebotError, ConfigError)


class Group(click.Group):
    """Turns known errors into one sentence and exit code 1, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _user_errors() as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            obj = ctx.find_object(Context)
            if obj is not None:
                obj.close()
