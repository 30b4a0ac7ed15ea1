"""Measuring the engine, for the shipped ``articlebot eval`` and ``articlebot bench``
commands: pure metrics (``metrics``), the data sets (``datasets``), the question-answering
run over ``Engine.ask`` (``answer_eval``), the summary run over ``Engine.summarize``
(``summary_eval``) and the benchmark with its cold-start child process (``benchmark``,
``python -m retrieval.evaluation.benchmark cold DATA_DIR``).

Layer 6, the top: may import everything in ``retrieval``. Nothing on the engine's import
path imports it; of the adapters only the CLI's measure commands (``bot.measure``) do.
"""
