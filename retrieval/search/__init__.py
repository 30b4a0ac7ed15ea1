"""Query time, before any answer: hybrid search (``hybrid``: dense and BM25 candidates, fused,
looked up in the store) and the support gate that decides whether the passages are about the
question at all (``gate``, a cheap first line against off-topic questions).

Layer 3, beside ``retrieval.ingest`` (never imported from here): may import
``retrieval.models``, ``retrieval.store``, ``retrieval.llm`` and layer 0
(``retrieval.errors``, ``retrieval.types``, ``retrieval.questions``, ``retrieval.text``).
"""
