"""articlebot's retrieval engine: documents, chunks, embeddings, indexes, search, LLM, answers.

Discord-free by design: the bot and the CLI are thin adapters over ``retrieval.engine.Engine``.
One package a stage, lowest layer first; a module imports only its own package and lower
layers (``tests/test_retrieval_layout.py``):

0. ``errors``, ``types``, ``questions``, ``text/``: shared by all (may import each other)
1. ``llm/``: the language models
2. ``models/`` (the embedder, the model cache) and ``store/`` (SQLite, indexes, locks)
3. ``ingest/`` (index time) and ``search/`` (query time: hybrid search, the support gate)
4. ``answer/`` and ``summary/``
5. ``engine``: the facade
6. ``evaluation/``: ``articlebot eval`` and ``bench``; only the CLI imports it
"""
