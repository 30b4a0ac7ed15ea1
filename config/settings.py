"""The one typed settings object.

Precedence, lowest first: the defaults below (mirrored, with comments, in ``default.toml``),
a TOML file (``--config`` / ``ARTICLEBOT_CONFIG``), ``ARTICLEBOT_*`` environment variables
(nested keys joined by ``__``, e.g. ``ARTICLEBOT_LLM__N_GPU_LAYERS=-1``), then CLI flags.
Secrets (the Discord token, API keys) are never fields here: they are read from the
environment at the point of use, so they cannot end up in a dump of the settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "articlebot"


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class EmbeddingSettings(_Section):
    model: str = "packaged"
    device: str = "auto"
    batch_size: int = Field(64, ge=1)
    title_prefix: bool = True


class ChunkingSettings(_Section):
    max_tokens: int = Field(128, ge=16, le=256)
    overlap_sentences: int = Field(0, ge=0, le=3)


class SearchSettings(_Section):
    top_k: int = Field(2, ge=1, le=50)
    candidates: int = Field(30, ge=1, le=500)
    fusion: Literal["rrf", "weighted"] = "weighted"
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(0.7, ge=0.0, le=1.0)
    min_score: float = Field(0.25, ge=-1.0, le=1.0)
    min_support: float = Field(0.52, ge=-10.0, le=10.0)
    coverage_weight: float = Field(0.25, ge=0.0, le=10.0)
    name_weight: float = Field(0.2, ge=0.0, le=10.0)
    cover_bonus: float = Field(0.1, ge=0.0, le=10.0)
    faiss_threads: int = Field(1, ge=1)


class LLMSettings(_Section):
    backend: Literal["llamacpp", "openai"] = "llamacpp"
    model: str = "packaged"
    n_ctx: int = Field(2048, ge=256)
    n_threads: int = Field(0, ge=0)
    n_gpu_layers: int = -1
    repack_weights: Literal["auto"] | bool = "auto"
    max_tokens: int = Field(16, ge=1)
    chat_max_tokens: int = Field(192, ge=1)
    summary_max_tokens: int = Field(160, ge=16)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    prompt_style: Literal["auto", "completion", "chat"] = "auto"
    base_url: str = "http://127.0.0.1:8080/v1"
    api_key_env: str = "ARTICLEBOT_OPENAI_API_KEY"
    timeout_s: float = Field(60.0, gt=0)
    retries: int = Field(2, ge=0)


class SummarySettings(_Section):
    method: Literal["centrality", "lexrank", "lead"] = "lexrank"
    lead_weight: float = Field(1.0, ge=0.0, le=10.0)
    redundancy: float = Field(0.5, ge=0.0, le=10.0)
    fact_weight: float = Field(0.2, ge=0.0, le=10.0)
    min_points: int = Field(3, ge=1, le=20)
    max_points: int = Field(6, ge=1, le=20)
    words_per_point: int = Field(70, ge=10)
    compress: Literal["auto", "on", "off"] = "auto"
    compress_min_words: int = Field(25, ge=1)
    max_words: int = Field(40, ge=8)
    min_content_share: float = Field(0.8, ge=0.0, le=1.0)
    max_sentences: int = Field(300, ge=10)

    @model_validator(mode="after")
    def _points_in_order(self) -> SummarySettings:
        if self.max_points < self.min_points:
            raise ValueError("max_points must be at least min_points")
        return self


class AnswerSettings(_Section):
    max_context_tokens: int = Field(600, ge=64)
    history_turns: int = Field(3, ge=0, le=20)
    require_grounded_answer: bool = True
    min_grounding: float = Field(0.5, ge=0.0, le=1.0)
    quote_chars: int = Field(160, ge=20)
    reader: Literal["extract", "generate"] = "generate"
    extract_fallback: bool = True
    reader_sentences: int = Field(0, ge=0, le=20)
    context_sentences: int = Field(4, ge=0, le=20)
    type_match: bool = True
    max_answer_words: int = Field(8, ge=1, le=40)


class ReaderSettings(_Section):
    model: str = "packaged"
    passages: int = Field(6, ge=1, le=50)
    context_chars: int = Field(1000, ge=0, le=20000)
    top_spans: int = Field(3, ge=1, le=10)
    min_margin: float = -9.0
    passage_weight: float = Field(10.0, ge=0.0)
    check: bool = False
    check_weight: float = Field(1.0, ge=0.0)
    calibration: bool = True
    min_answerable: float = -100.0
    answer_by: Literal["reader", "llm"] = "reader"
    max_answer_tokens: int = Field(30, ge=1, le=64)


class LimitsSettings(_Section):
    max_file_bytes: int = Field(10 * 1024 * 1024, ge=1)
    max_question_chars: int = Field(1000, ge=1)
    max_title_chars: int = Field(200, ge=1)
    url_timeout_s: float = Field(15.0, gt=0)
    allow_private_urls: bool = False


class DiscordSettings(_Section):
    admin_role: str = ""
    cooldown_s: float = Field(5.0, ge=0)
    queue_size: int = Field(16, ge=1)
    edit_interval_s: float = Field(1.0, ge=0.2)
    shard_count: int | Literal["auto"] | None = None
    shard_ids: list[int] | None = None
    search_cooldown_s: float = Field(2.0, ge=0)
    search_queue_size: int = Field(8, ge=1)
    upload_queue_size: int = Field(4, ge=1)
    memory_keys_per_guild: int = Field(2000, ge=1)
    interaction_lifetime_s: float = Field(900.0, gt=0)
    queue_margin_s: float = Field(120.0, ge=0)

    @model_validator(mode="after")
    def _margin_fits(self) -> DiscordSettings:
        if self.queue_margin_s >= self.interaction_lifetime_s:
            raise ValueError("queue_margin_s must be shorter than interaction_lifetime_s")
        return self

    @model_validator(mode="after")
    def _shards_fit(self) -> DiscordSettings:
        if self.shard_ids is None:
            return self
        if not isinstance(self.shard_count, int):
            raise ValueError("shard_ids needs a numeric shard_count (the total over every "
                             "process)")
        if not self.shard_ids or any(not 0 <= i < self.shard_count for i in self.shard_ids):
            raise ValueError(f"shard_ids must be between 0 and {self.shard_count - 1}")
        return self


class StorageSettings(_Section):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    pool_size: int = Field(4, ge=1, le=100)
    lock_timeout_s: float = Field(30.0, gt=0)
    max_open_collections: int = Field(64, ge=1)


class BackupSettings(_Section):
    interval_hours: float = Field(24.0, ge=0.0)
    keep: int = Field(7, ge=1)
    directory: str = ""


class LogSettings(_Section):
    questions: bool = True
    retention_days: int = Field(30, ge=1, le=3650)
    cli: bool = False
    group_similarity: float = Field(0.75, ge=0.0, le=1.0)


class MetricsSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ARTICLEBOT_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    default_collection: str = "default"
    preload_sample: bool = True
    log_level: str = "INFO"
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    search: SearchSettings = SearchSettings()
    llm: LLMSettings = LLMSettings()
    summary: SummarySettings = SummarySettings()
    answer: AnswerSettings = AnswerSettings()
    reader: ReaderSettings = ReaderSettings()
    limits: LimitsSettings = LimitsSettings()
    discord: DiscordSettings = DiscordSettings()
    storage: StorageSettings = StorageSettings()
    backup: BackupSettings = BackupSettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()

    # The file ``load_settings`` reads, bound into a subclass per load (``_reading``):
    # pydantic-settings takes its sources from the class.
    toml_file: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_file))
        return tuple(sources)


def _reading(path: Path | None) -> type[Settings]:
    """``Settings`` that also read the TOML file at ``path``, below the environment."""
    if path is None:
        return Settings

    class FileSettings(Settings):
        toml_file = path

    return FileSettings


class ConfigError(ValueError):
    """The configuration file or an override is invalid; the message is for the user."""


def _deep_set(target: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = target
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def load_settings(
    config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build the settings: defaults < TOML file < environment < ``overrides`` (CLI flags).

    ``overrides`` keys may be dotted (``"llm.n_threads"``).
    """
    from pydantic import ValidationError

    path = config_file or os.environ.get("ARTICLEBOT_CONFIG") or None
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist.")
    init: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is not None:
            _deep_set(init, key, value)
    try:
        return _reading(path)(**init)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"Invalid setting {where}: {first['msg']}.") from None
    except Exception as exc:  # malformed TOML surfaces as a decode error
        raise ConfigError(f"Could not read config file {path}: {exc}.") from None
