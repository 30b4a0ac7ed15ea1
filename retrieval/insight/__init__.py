"""What admins learn from their members' questions: the question log's policy (on or off per
collection, retention, the CLI's opt-in), votes from members known only by a keyed hash
(``member_key``), the unanswered questions grouped by meaning (``grouping``), the usage
figures and the CSV export (``figures``), all behind ``feedback.Feedback``.

Layer 4, beside ``retrieval.answer`` and ``retrieval.summary`` (never imported from here): may
import ``retrieval.store`` and layer 0; the embedder comes in as a function, so
``retrieval.models`` is not imported either.
"""
