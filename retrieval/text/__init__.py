"""Word and sentence rules shared by index time, query time and summaries: the sentence
splitter (``sentences``), the BM25 tokenizer and the stemmer (``words``).

Layer 0, with ``retrieval.errors``, ``retrieval.types`` and ``retrieval.questions``: it may
import those and nothing else of ``retrieval``.
"""
