"""Word and sentence rules shared by index time, query time and summaries, each in one place:
the sentence splitter and its abbreviations (``sentences``), the stop-word list, the BM25
tokenizer and the stemmer (``words``), and the name and number detector with the number
words and the calendar (``names``).

Layer 0, with ``retrieval.errors``, ``retrieval.types`` and ``retrieval.questions``: it may
import those and nothing else of ``retrieval``.
"""
