"""Settings: default.toml documents exactly the defaults; precedence TOML < env < flags."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from config import ConfigError, Settings, load_settings

DEFAULT_TOML = Path(__file__).resolve().parents[1] / "config" / "default.toml"


def test_default_toml_matches_the_built_in_defaults() -> None:
    documented = tomllib.loads(DEFAULT_TOML.read_text())
    defaults = Settings().model_dump(mode="json")
    for key, value in documented.items():
        if isinstance(value, dict):
            assert value == {k: defaults[key][k] for k in value}, key
            assert set(defaults[key]) - set(value) <= {"shard_count", "shard_ids"}, key
        else:
            assert value == defaults[key], key


def test_every_setting_is_documented_in_default_toml() -> None:
    text = DEFAULT_TOML.read_text()
    for section, value in Settings().model_dump().items():
        keys = value.keys() if isinstance(value, dict) else [section]
        for key in keys:
            assert f"{key} =" in text, f"{section}.{key} is not documented"


def test_precedence_is_toml_then_environment_then_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "articlebot.toml"
    config.write_text("[search]\ntop_k = 7\nmin_score = 0.4\n[llm]\nn_threads = 3\n")
    monkeypatch.setenv("ARTICLEBOT_SEARCH__TOP_K", "9")
    settings = load_settings(config, {"llm.n_threads": 1})
    assert settings.search.top_k == 9  # env beats TOML
    assert settings.search.min_score == 0.4  # TOML beats default
    assert settings.llm.n_threads == 1  # flag beats TOML


def test_invalid_values_and_missing_files_are_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[search]\ntop_k = 0\n")
    with pytest.raises(ConfigError, match=r"search\.top_k"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[llm]\nmodel_pth = 'x'\n")
    with pytest.raises(ConfigError):
        load_settings(unknown)
