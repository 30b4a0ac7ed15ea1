"""articlebot's retrieval engine: documents, chunks, embeddings, indexes, search, LLM, answers.

Discord-free by design: the bot and the CLI are thin adapters over ``retrieval.engine.Engine``.
"""
