"""``articlebot bench``: ingestion throughput, search and ask latency, cold start, memory.

Everything runs in temporary data directories (the assembled GGUF is linked, not copied).
The cold-start and memory figures come from a child process (``python -m
retrieval.evaluation.benchmark cold DATA_DIR``) that loads both models as ``articlebot run``
does and answers one question, so this process's own warm caches do not flatter them.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from config import Settings
from retrieval.evaluation.datasets import EvalArticle, load_articles
from retrieval.evaluation.metrics import percentile
from retrieval.evaluation.search_bench import bench_search, time_generation_check
from retrieval.types import DataDir

if TYPE_CHECKING:
    from retrieval.engine import Engine

Progress = Callable[[Sequence[Any], str], Iterator[Any]]
BENCH = "bench"  # the collection (with PostgreSQL: its prefix)

BENCH_ROWS = [
    ("load_avg_1m", "1-minute load average when the bench started (2 cores)"),
    ("embedding_device", "device of the embedding model"),
    ("llm_device", "device of the language model"),
    ("ingest_articles", "articles ingested"),
    ("ingest_chunks", "chunks they made"),
    ("ingest_chunks_per_s", "ingestion: chunks/s (parse, chunk, embed, store, index)"),
    ("ingest_articles_per_s", "ingestion: articles/s"),
    ("encode_chunks_per_s", "bare SentenceTransformer.encode on the same chunks: chunks/s"),
    ("ingest_vs_encode", "ingestion throughput / bare encode throughput"),
    ("embed_query_p50_ms", "embedding one question, median (ms)"),
    ("search_1000_p50_ms", "hybrid search at 1k chunks, p50 (ms; dense+BM25+fusion+store)"),
    ("search_1000_p95_ms", "... p95 (ms)"),
    ("search_10000_p50_ms", "hybrid search at 10k chunks, p50 (ms)"),
    ("search_10000_p95_ms", "... p95 (ms)"),
    ("search_100000_p50_ms", "hybrid search at 100k chunks, p50 (ms)"),
    ("search_100000_p95_ms", "... p95 (ms)"),
    ("generation_check_p50_ms", "the store's generation check before each search, p50 (ms)"),
    *[row for size, label in ((1000, "1k"), (10000, "10k"), (100000, "100k")) for row in (
        (f"pgvector_{size}_p50_ms", f"PostgreSQL only: design (b), pgvector exact + full text "
                                    f"at {label}, p50 (ms)"),
        (f"pgvector_hnsw_{size}_p50_ms", "... with an HNSW index, p50 (ms)"),
        (f"pgvector_hnsw_{size}_recall", "... HNSW's share of the exact dense candidates "
                                         "(random vectors: its worst case)"),
        (f"hnsw_build_{size}_s", "... building that HNSW index (s)"))],
    ("ask_p50_s", "ask latency, median (s)"),
    ("ask_p95_s", "ask latency, 95th percentile (s)"),
    ("ask_first_token_p50_s", "time to the first answer token, median (s)"),
    ("ask_prompt_tokens", "prompt tokens per question, mean"),
    ("reader_p50_ms", "the trained reader, per question, median (ms)"),
    ("reader_rss_mb", "resident memory the reader adds (MB)"),
    ("prompt_tokens_per_s", "prompt reading speed (tokens/s)"),
    ("decode_tokens_per_s", "generation speed, 64 tokens (tokens/s)"),
    ("concurrent_asks_per_s", "asks/s while another thread re-uploads into the same collection"),
    ("concurrent_ask_p95_s", "ask latency during those uploads, 95th percentile (s)"),
    ("concurrent_uploads_per_s", "uploads (replacing an article) completed meanwhile, per s"),
    ("concurrent_errors", "errors in asks or uploads meanwhile (must be 0)"),
    ("cold_start_s", "new process to first answer, both models loaded (s)"),
    ("cold_import_s", "... of which imports (s)"),
    ("cold_load_s", "... of which loading both models (s)"),
    ("peak_rss_mb", "peak resident memory of that process (MB)"),
]


def settings_for(settings: Settings, data_dir: Path,
                  backend: Literal["sqlite", "postgres"] = "sqlite") -> Settings:
    """The same settings in a fresh data dir that links the assembled model files, on
    ``backend``."""
    from retrieval.llm import resolve_gguf

    models = DataDir(settings.data_dir).models
    if settings.llm.backend == "llamacpp":
        resolve_gguf(settings.llm.model, models)  # assemble once, outside the timings
    data_dir.mkdir(parents=True, exist_ok=True)
    if models.is_dir():
        DataDir(data_dir).models.symlink_to(models.resolve(), target_is_directory=True)
    # SQLite unless PostgreSQL is asked for by name: the configured backend may be the bot's
    # shared database.
    storage = settings.storage.model_copy(update={"backend": backend})
    return settings.model_copy(update={"data_dir": data_dir, "preload_sample": False,
                                       "storage": storage})


# -- ingestion ---------------------------------------------------------------------------------
def bench_ingest(engine: Engine, articles: Sequence[EvalArticle], progress: Progress,
                 blocks: int = 4, collection: str = BENCH) -> dict[str, Any]:
    """Ingestion against a bare ``encode`` of the same chunks, block by block.

    Alternating the two (ingest a block, then encode its chunks) exposes both to the same
    background load, which on a shared 2-core machine otherwise decides the ratio.
    """
    engine.embedder.embed(["warm up"] * 8)
    model = engine.embedder.load()
    store = engine.collection(collection).store
    size = max(1, -(-len(articles) // blocks))
    ingest_s = encode_s = 0.0
    chunks = 0
    for first in progress(list(range(0, len(articles), size)), "ingest"):
        # The path `articlebot ingest FOLDER` takes: read, parse, chunk, embed, store, index.
        with tempfile.TemporaryDirectory() as folder:
            paths = []
            for n, a in enumerate(articles[first:first + size]):
                path = Path(folder) / f"{first + n:05d}.txt"
                path.write_text(f"{a.title}\n\n{a.text}\n")
                paths.append(path)
            started = time.perf_counter()
            engine.ingest_paths(paths, collection=collection, on_result=lambda *_: None)
            ingest_s += time.perf_counter() - started
        _, _, texts, titles = store.all_chunks()  # in id order: this block's chunks are last
        prefixed = [f"{t}\n{x}" if engine.settings.embedding.title_prefix else x
                    for t, x in zip(titles[chunks:], texts[chunks:])]
        chunks = len(texts)
        started = time.perf_counter()
        model.encode(prefixed, batch_size=engine.settings.embedding.batch_size,
                     normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        encode_s += time.perf_counter() - started
    return {
        "ingest_articles": len(articles), "ingest_chunks": chunks,
        "ingest_s": round(ingest_s, 2), "encode_s": round(encode_s, 2),
        "ingest_chunks_per_s": round(chunks / ingest_s, 1),
        "ingest_articles_per_s": round(len(articles) / ingest_s, 2),
        "encode_chunks_per_s": round(chunks / encode_s, 1),
        "ingest_vs_encode": round(encode_s / ingest_s, 3),
    }


# -- answers -----------------------------------------------------------------------------------
def bench_ask(engine: Engine, questions: Sequence[str], progress: Progress,
              collection: str = BENCH) -> dict[str, Any]:
    before = _rss_mb("VmRSS:")
    has_reader = engine.reader is not None  # loads it: its resident memory on its own
    reader_mb = _rss_mb("VmRSS:") - before
    engine.ask(questions[0], collection=collection)  # load and warm the model
    latencies, first, prompt_tokens, prompt_speed, reading = [], [], [], [], []
    for question in progress(list(questions), "ask"):
        started = time.perf_counter()
        answer = engine.ask(question, collection=collection)
        latencies.append(time.perf_counter() - started)
        if "reader_s" in answer.timings:
            reading.append(answer.timings["reader_s"])
        if "first_token_s" in answer.timings:
            first.append(answer.timings["first_token_s"])
            tokens = answer.context_tokens + 80  # passages + the prompt's fixed words
            prompt_tokens.append(tokens)
            prompt_speed.append(tokens / max(1e-6, answer.timings["first_token_s"] -
                                             answer.timings["retrieval_s"]))
    completion = engine.llm.complete("The history of the city begins", max_tokens=64)
    decode = (completion.tokens - 1) / max(1e-6, completion.seconds -
                                           (completion.first_token_s or 0.0))
    return {
        "ask_p50_s": round(percentile(latencies, 50), 3),
        "ask_p95_s": round(percentile(latencies, 95), 3),
        "ask_first_token_p50_s": round(percentile(first, 50), 3),
        "ask_answered_by_model": len(first),
        "ask_prompt_tokens": round(float(np.mean(prompt_tokens)), 1) if prompt_tokens else None,
        "prompt_tokens_per_s": round(percentile(prompt_speed, 50), 1),
        "decode_tokens_per_s": round(decode, 1),
        **({"reader_p50_ms": round(1000 * percentile(reading, 50), 1) if reading else None,
            "reader_rss_mb": round(reader_mb, 1)} if has_reader else {}),
    }


# -- concurrent use ----------------------------------------------------------------------------
def bench_concurrent(engine: Engine, articles: Sequence[EvalArticle], questions: Sequence[str],
                     progress: Progress, collection: str = BENCH) -> dict[str, Any]:
    """Asks in this thread while another re-uploads articles into the same collection (each
    upload replaces one, so searches meet index swaps), as a guild does when its admin
    uploads while members ask."""
    import threading

    bodies = [a.text for a in articles[:5]]
    stop = threading.Event()
    uploads = [0]
    errors: list[str] = []

    def upload() -> None:
        n = 0
        while not stop.is_set():
            text = f"Concurrent Upload\n\n{bodies[n % len(bodies)]}\n\nRevision {n}."
            try:
                engine.ingest_bytes(text.encode(), "concurrent.txt",
                                    collection=collection)
                uploads[0] += 1
            except Exception as exc:  # counted: the figure must show zero
                errors.append(repr(exc))
            n += 1

    uploader = threading.Thread(target=upload, name="bench-uploader", daemon=True)
    latencies: list[float] = []
    started = time.perf_counter()
    uploader.start()
    try:
        for question in progress(list(questions), "ask while uploading"):
            asked = time.perf_counter()
            try:
                engine.ask(question, collection=collection)
            except Exception as exc:
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - asked)
    finally:
        elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 60
        while not uploads[0] and not errors and time.monotonic() < deadline:
            time.sleep(0.05)  # a toy run may ask faster than one upload takes
        stop.set()
        uploader.join()
        upload_s = time.perf_counter() - started
    return {
        "concurrent_asks_per_s": round(len(latencies) / elapsed, 3),
        "concurrent_ask_p95_s": round(percentile(latencies, 95), 3),
        "concurrent_uploads_per_s": round(uploads[0] / upload_s, 3),
        "concurrent_errors": len(errors),
        **({"concurrent_first_error": errors[0]} if errors else {}),
    }


# -- cold start (child process) ----------------------------------------------------------------
def _rss_mb(field: str = "VmHWM:") -> float:
    """This process's peak (``VmHWM:``) or current (``VmRSS:``) resident memory.

    Not ``getrusage``: Linux carries ``ru_maxrss`` across ``execve``, so a child started by
    a large parent would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _peak_rss_mb() -> float:
    return _rss_mb("VmHWM:")


def bench_cold_start(data_dir: Path) -> dict[str, Any]:
    """The second start in ``data_dir`` (the first one stores the sample article)."""
    command = [sys.executable, "-m", "retrieval.evaluation.benchmark", "cold", str(data_dir)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run(command, capture_output=True, check=False, env=env)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        return {"cold_start_error": result.stderr.strip().splitlines()[-1:]}
    child = json.loads(result.stdout.strip().splitlines()[-1])
    return {"cold_start_s": round(wall, 2), **child}


def _cold_child(data_dir: Path) -> None:
    started = time.perf_counter()
    from config import load_settings
    from retrieval.engine import Engine

    imported = time.perf_counter()
    # SQLite whatever the environment says: ARTICLEBOT_STORAGE__BACKEND=postgres would have
    # stored the sample article into the shared database's default collection.
    engine = Engine(load_settings(None, {"data_dir": data_dir, "storage.backend": "sqlite"}))
    engine.warm_up()  # both models and the default collection, as `articlebot run` does
    loaded = time.perf_counter()
    answer = engine.ask("Who is China's lead trade negotiator?")
    done = time.perf_counter()
    print(json.dumps({
        "cold_import_s": round(imported - started, 2), "cold_load_s": round(loaded - imported, 2),
        "cold_first_ask_s": round(done - loaded, 2),
        "peak_rss_mb": _peak_rss_mb(),
        "cold_answer": answer.text,
    }))


# -- data it can make itself -------------------------------------------------------------------
_SYLLABLES = ("ka", "lo", "mer", "ta", "vin", "so", "ran", "de", "pul", "ni", "zo", "bar")


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def made_up_articles(count: int, seed: int = 0) -> list[EvalArticle]:
    """The bundled sample article, then news-shaped articles made from its sentences.

    Each made-up article reshuffles the sample's sentences into 4–8 paragraphs around its
    own invented names, so every one is distinct text with a vocabulary of its own: enough to
    size a machine where no BBC News set is at hand (the figures are not comparable to it).
    """
    from retrieval.engine import SAMPLE_NAME, sample_article_bytes
    from retrieval.ingest.documents import parse_document
    from retrieval.text.sentences import split_sentences

    sample = parse_document(sample_article_bytes(), SAMPLE_NAME)
    articles = [EvalArticle("sample", sample.title, "\n\n".join(sample.paragraphs))]
    sentences = [p[a:b] for p in sample.paragraphs for a, b in split_sentences(p)]
    rng = random.Random(seed)
    for n in range(1, count):
        place, person = _name(rng), f"{_name(rng)} {_name(rng)}"
        paragraphs = [f"{person} spoke in {place} on day {rng.randint(1, 28)}. " +
                      " ".join(rng.sample(sentences, rng.randint(2, 4)))
                      for _ in range(rng.randint(4, 8))]
        articles.append(EvalArticle(f"made-up/{n}", f"{person} in {place}",
                                    "\n\n".join(paragraphs)))
    return articles[:count]


# -- everything --------------------------------------------------------------------------------
def _questions(articles: Sequence[EvalArticle]) -> list[str]:
    """Questions whose answer is in the ingested articles: one per article title."""
    return [f"What happened in the story {a.title!r}?" for a in articles]


def reach_postgres(settings: Settings) -> None:
    """Connect to ``ARTICLEBOT_DATABASE_URL`` (setting the schema up), or raise its one
    sentence."""
    from retrieval.store.postgres import postgres_backend

    postgres_backend(settings.storage.pool_size)


def run_bench(settings: Settings, articles_path: Path | None, *, ingest_articles: int,
              sizes: Sequence[int], queries: int, asks: int, progress: Progress,
              backend: Literal["sqlite", "postgres"] = "sqlite") -> dict[str, Any]:
    """Time everything on ``articles_path`` (JSONL), or on ``made_up_articles`` without it.

    ``backend`` "postgres" stores into the database in ``ARTICLEBOT_DATABASE_URL``, in
    collections of its own (``bench-<random>``) that it drops at the end; the cold start,
    which measures the models, is SQLite's only."""
    from retrieval.engine import Engine
    from retrieval.store.postgres import postgres_backend

    report: dict[str, Any] = {"load_avg_1m": round(os.getloadavg()[0], 2),
                              "data": str(articles_path) if articles_path else "made-up",
                              "backend": backend}
    articles = (load_articles(articles_path)[:ingest_articles] if articles_path
                else made_up_articles(ingest_articles))
    name = BENCH if backend == "sqlite" else f"{BENCH}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="articlebot-bench-") as tmp:
        engine = Engine(settings_for(settings, Path(tmp) / "data", backend))
        try:
            pg = postgres_backend(settings.storage.pool_size) if backend == "postgres" else None
            report.update(bench_ingest(engine, articles, progress, collection=name))
            store = engine.collection(name).store
            report["generation_check_p50_ms"] = time_generation_check(store)
            question_pool = _questions(articles)
            report.update(bench_search(engine, store.all_chunks()[2], question_pool[:queries],
                                       sizes, progress, backend=pg, prefix=name))
            step = max(1, len(question_pool) // asks)
            report.update(bench_ask(engine, question_pool[::step][:asks], progress, name))
            report.update(bench_concurrent(engine, articles, question_pool[::step][:asks],
                                           progress, name))
            report["embedding_device"] = engine.embedder.device
            report["llm_device"] = "gpu" if getattr(engine.llm, "gpu_offload", False) else "cpu"
        finally:
            if backend == "postgres":
                engine.drop_collection(name)
            engine.close()
        if backend == "sqlite":
            cold_dir = Path(tmp) / "cold"
            settings_for(settings, cold_dir)
            report.update(bench_cold_start(cold_dir))
    report["bench_peak_rss_mb"] = _peak_rss_mb()
    report["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    return report


if __name__ == "__main__" and sys.argv[1:2] == ["cold"]:
    _cold_child(Path(sys.argv[2]))
