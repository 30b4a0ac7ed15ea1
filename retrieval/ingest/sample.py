"""The bundled sample article, so a fresh install has something to answer about.

The shared default collection (DMs and the CLI) receives it the first time it is opened,
once: a removed sample stays removed (``sample_loaded`` in the store's meta table).
``preload_sample = false`` turns this off.
"""

from __future__ import annotations

import logging
from importlib import resources

from retrieval.errors import StorageError
from retrieval.ingest.documents import parse_document
from retrieval.ingest.pipeline import Ingestion
from retrieval.store.collection import Collection

log = logging.getLogger(__name__)

SAMPLE_NAME = "china-us-trade-talks.txt"


def sample_article_bytes() -> bytes:
    return resources.files("retrieval").joinpath("sample", SAMPLE_NAME).read_bytes()


class SamplePreload:
    """Called with each collection an Engine opens; stores the sample in the default one."""

    def __init__(self, ingestion: Ingestion):
        self.ingestion = ingestion
        self.settings = ingestion.settings

    def __call__(self, collection: Collection) -> None:
        if collection.name == self.settings.default_collection:
            self._preload_sample(collection)

    def _preload_sample(self, collection: Collection) -> None:
        if not self.settings.preload_sample or collection.store.get_meta("sample_loaded"):
            return
        document = parse_document(sample_article_bytes(), SAMPLE_NAME)
        try:
            # Under the writer lock, asked again: another process starting at the same time
            # may have preloaded it, and a member removed it since.
            with collection.writing():
                if collection.store.get_meta("sample_loaded"):
                    return
                self.ingestion.store_document(collection, document, added_by="articlebot")
                collection.store.set_meta("sample_loaded", "1")
        except StorageError as exc:  # a read-only volume still serves what it has
            log.warning("could not preload the sample article: %s", exc)
            return
        log.info("preloaded the sample article into collection %s", collection.name)
