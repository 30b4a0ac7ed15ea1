"""Prometheus metrics and a health check over HTTP, for the long-running bot.

A small registry written for the few series we export (no client library needed): the
text exposition format is simple and stable. Thread-safe: engine calls finish in worker
threads.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from retrieval.types import Answer

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        out, running = [], 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts):
            running += count
            label = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{name}_bucket{{le="{label}"}} {running}')
        out += [f"{name}_sum {self.total:.6f}", f"{name}_count {self.count}"]
        return out


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.questions: dict[str, int] = {"false": 0, "true": 0}
        self.answer_seconds = Histogram()
        self.first_token_seconds = Histogram()
        self.tokens_per_second = Histogram((5, 10, 20, 40, 60, 80, 120, 200, 400))
        self.ingests: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.queue_depth = 0
        # Feedback, never labelled by server: one series per value, whatever the guild count.
        self.votes: dict[str, int] = {"up": 0, "down": 0}
        self.vote_reasons = 0
        self.abstentions = 0

    def observe_answer(self, answer: Answer) -> None:
        timings = answer.timings
        with self._lock:
            self.questions["true" if answer.abstained else "false"] += 1
            self.abstentions += answer.abstained
            self.answer_seconds.observe(timings.get("total_s", 0.0))
            if "first_token_s" in timings:
                self.first_token_seconds.observe(timings["first_token_s"])
            tokens, seconds = timings.get("tokens", 0.0), timings.get("generation_s", 0.0)
            if tokens and seconds:
                self.tokens_per_second.observe(tokens / seconds)

    def count_ingest(self, status: str) -> None:
        with self._lock:
            self.ingests[status] = self.ingests.get(status, 0) + 1

    def count_error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def count_vote(self, up: bool) -> None:
        with self._lock:
            self.votes["up" if up else "down"] += 1

    def count_vote_reason(self) -> None:
        with self._lock:
            self.vote_reasons += 1

    def set_queue_depth(self, depth: int) -> None:
        with self._lock:
            self.queue_depth = depth

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP articlebot_questions_total Questions answered, by abstention.",
                "# TYPE articlebot_questions_total counter",
                *(f'articlebot_questions_total{{abstained="{k}"}} {v}'
                  for k, v in self.questions.items()),
                "# HELP articlebot_answer_seconds Time from question to finished answer.",
                "# TYPE articlebot_answer_seconds histogram",
                *self.answer_seconds.lines("articlebot_answer_seconds"),
                "# HELP articlebot_first_token_seconds Time from question to first token.",
                "# TYPE articlebot_first_token_seconds histogram",
                *self.first_token_seconds.lines("articlebot_first_token_seconds"),
                "# HELP articlebot_tokens_per_second Generation speed per answer.",
                "# TYPE articlebot_tokens_per_second histogram",
                *self.tokens_per_second.lines("articlebot_tokens_per_second"),
                "# HELP articlebot_queue_depth Questions waiting for the model.",
                "# TYPE articlebot_queue_depth gauge",
                f"articlebot_queue_depth {self.queue_depth}",
                "# HELP articlebot_ingests_total Articles ingested, by result.",
                "# TYPE articlebot_ingests_total counter",
                *(f'articlebot_ingests_total{{status="{k}"}} {v}'
                  for k, v in sorted(self.ingests.items())),
                "# HELP articlebot_errors_total Errors, by kind.",
                "# TYPE articlebot_errors_total counter",
                *(f'articlebot_errors_total{{kind="{k}"}} {v}'
                  for k, v in sorted(self.errors.items())),
                "# HELP articlebot_abstentions_total Answers that said the articles don't cover "
                "the question.",
                "# TYPE articlebot_abstentions_total counter",
                f"articlebot_abstentions_total {self.abstentions}",
                "# HELP articlebot_votes_total Members' votes on answers (a changed vote counts "
                "again).",
                "# TYPE articlebot_votes_total counter",
                *(f'articlebot_votes_total{{vote="{k}"}} {v}' for k, v in self.votes.items()),
                "# HELP articlebot_vote_reasons_total Reasons given after a thumbs-down.",
                "# TYPE articlebot_vote_reasons_total counter",
                f"articlebot_vote_reasons_total {self.vote_reasons}",
            ]
        return "\n".join(lines) + "\n"


async def start_http(metrics: Metrics, ready: Callable[[], bool], host: str, port: int
                     ) -> web.AppRunner:
    """Serve ``/metrics`` and ``/healthz`` (200 when ready, 503 otherwise) until cleaned up."""
    from aiohttp import web

    async def serve_metrics(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def serve_health(request: web.Request) -> web.Response:
        ok = ready()
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/healthz", serve_health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
