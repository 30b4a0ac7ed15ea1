"""Shared fixtures: the real packaged models, loaded once per test session; data dirs in tmp.

Every engine a test builds gets its own data directory but shares the two loaded models
(engines in one process share them by design), so the suite pays for model loading once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from config import Settings, load_settings
from retrieval.engine import Engine
from retrieval.models.cache import ModelCache
from retrieval.types import DataDir

pytest_plugins = ["fakediscord.pytest_plugin", "discordkit", "postgres_fixture"]

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One assembled copy of the packaged GGUF for the whole session."""
    from retrieval.llm import resolve_gguf

    directory = tmp_path_factory.mktemp("models")
    resolve_gguf("packaged", directory)
    return directory


@pytest.fixture(scope="session")
def model_cache() -> ModelCache:
    """The session's loaded models: every engine on real models shares them."""
    return ModelCache()


@pytest.fixture()
def make_settings(tmp_path: Path, models_dir: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        data_dir = overrides.pop("data_dir", tmp_path / "data")
        data_dir.mkdir(parents=True, exist_ok=True)
        # Link the session's model instead of assembling 253 MB again.
        link = DataDir(data_dir).models
        if not link.exists():
            link.symlink_to(models_dir, target_is_directory=True)
        return load_settings(None, {"data_dir": data_dir, **overrides})

    return build


@pytest.fixture()
def make_engine(make_settings: Callable[..., Settings],
                model_cache: ModelCache) -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def build(wrap_llm: Callable[[Any], Any] | None = None, **overrides: Any) -> Engine:
        """``wrap_llm(real)`` puts a test double (e.g. ``QueuedLLM(real=real)``) around the
        real packaged model, injected through ``Engine(llm=...)``."""
        settings = make_settings(**overrides)
        llm = None
        if wrap_llm is not None:
            llm = wrap_llm(model_cache.llm(settings))
        engine = Engine(settings, llm=llm, models=model_cache)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()


@pytest.fixture()
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


# -- the fast tier: deterministic doubles instead of the real models ---------------------------
@pytest.fixture()
def fast_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for an engine on the test doubles: no model file is linked or assembled."""

    def build(**overrides: Any) -> Settings:
        data_dir = overrides.pop("data_dir", tmp_path / "fast-data")
        data_dir.mkdir(parents=True, exist_ok=True)
        # The trained reader is a real model: the fast tier answers without it unless a test
        # passes a scripted one (``fast_engine(reader=...)``).
        return load_settings(None, {"data_dir": data_dir, "reader.model": "off", **overrides})

    return build


@pytest.fixture()
def fast_engine(fast_settings: Callable[..., Settings]) -> Iterator[Callable[..., Engine]]:
    """``fast_engine(llm=QueuedLLM(...), **settings)``: an Engine on HashingEmbedder and a
    queued fake LLM, built in milliseconds."""
    from fakes import HashingEmbedder, QueuedLLM

    engines: list[Engine] = []

    def build(llm: Any = None, reader: Any = None, **overrides: Any) -> Engine:
        engine = Engine(fast_settings(**overrides), embedder=HashingEmbedder(),
                        llm=llm if llm is not None else QueuedLLM(), reader=reader)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()


MODEL_FIXTURES = {"models_dir", "model_cache", "make_settings", "make_engine", "engine"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the real models is marked ``models``: ``pytest -m "not models"``
    is the fast tier, ``make test`` runs both."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.models)
