"""Typed settings for articlebot; see ``default.toml`` for every key, documented."""

from config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
