"""Whole-article summaries from the article's own sentences: the summarizer (``summarizer``),
the choice of central, distinct sentences (``selection``), the model's shortening of one
sentence, kept only when faithful (``shortening``), and the word-level checks that keep a
summary to what its article says (``faithfulness``).

Layer 4, beside ``retrieval.answer`` (never imported from here): may import
``retrieval.ingest``, ``retrieval.search``, ``retrieval.models``, ``retrieval.store``,
``retrieval.llm`` and layer 0 (``retrieval.errors``, ``retrieval.types``,
``retrieval.questions``, ``retrieval.text``).
"""
