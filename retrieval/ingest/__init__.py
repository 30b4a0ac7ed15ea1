"""Index time: an upload, a file or a URL becomes stored, searchable chunks.

``documents/`` turns bytes into a title and paragraphs (one module a format), ``fetch``
downloads a URL without reaching private addresses (``addresses``), ``chunking`` cuts
sentence-aligned chunks with offsets for citations, and ``pipeline`` parses, chunks, embeds
and commits an article per transaction; ``sample`` stores the bundled sample article in the
default collection when it is first opened.

Layer 3, beside ``retrieval.search`` (never imported from here): may import
``retrieval.models``, ``retrieval.store``, ``retrieval.llm`` and layer 0
(``retrieval.errors``, ``retrieval.types``, ``retrieval.questions``, ``retrieval.text``).
"""
