"""Where a collection lives: SQLite, the source of truth (``sqlite``, tables in ``schema``),
the rebuildable FAISS and BM25 indexes (``indexes``), the writers' file lock (``filelock``),
one collection kept in step with its indexes (``collection``) and the open collections of an
Engine, least recently used closed first (``open_collections``); the PostgreSQL backend
(``postgres``, ``pgconnect``, ``migrate``), the question log in either backend
(``question_log``) and the key that hashes its voters (``voter_key``).

Layer 2, beside ``retrieval.models`` (never imported from here): may import ``retrieval.llm``
and layer 0 (``retrieval.errors``, ``retrieval.types``, ``retrieval.questions``,
``retrieval.text``).
"""
