"""Errors a user can cause. Their message is one clear sentence, shown as is."""

from __future__ import annotations


class ArticlebotError(Exception):
    """Base class: a known failure whose message is meant for the user."""


class InputError(ArticlebotError):
    """Bad input: a file, URL, title or question that cannot be accepted."""


class NotFoundError(ArticlebotError):
    """An article or collection that does not exist (in this collection)."""


class ModelError(ArticlebotError):
    """The language model or embedder could not be loaded or reached."""


class StorageError(ArticlebotError):
    """The data directory could not be written (disk full, read-only, ...)."""
