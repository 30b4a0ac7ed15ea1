"""The models the engine loads once and shares: the sentence-transformers embedder
(``embedder``) and the cache that builds both models from the settings (``cache``).

Layer 2, beside ``retrieval.store`` (never imported from here): may import ``retrieval.llm``
and layer 0 (``retrieval.errors``, ``retrieval.types``, ``retrieval.questions``,
``retrieval.text``).
"""
