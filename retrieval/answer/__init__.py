"""Query time, from passages to an answer: the ask pipeline (``answerer``: fit the context,
ask the support gate, then generate or choose a phrase), the prompts (``prompts``), where in
the passages an answer can be (``spans``: sentence ranking, typed candidate phrases), the
base model's choice of a phrase copied from the passages (``phrase_choice``), and the checks
and citations that keep an answer grounded (``grounding``).

Layer 4, beside ``retrieval.summary`` (never imported from here): may import
``retrieval.ingest``, ``retrieval.search``, ``retrieval.models``, ``retrieval.store``,
``retrieval.llm`` and layer 0 (``retrieval.errors``, ``retrieval.types``,
``retrieval.questions``, ``retrieval.text``).
"""
