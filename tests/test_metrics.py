"""Prometheus metrics and the health check serve real numbers over HTTP."""

from __future__ import annotations

import re

import aiohttp

from bot.metrics import Metrics, start_http
from retrieval.engine import Engine


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, f"{series} missing"
    return float(match.group(1))


async def test_metrics_endpoint_reports_a_real_question_and_health(engine: Engine) -> None:
    metrics = Metrics()
    ready = {"value": False}
    runner = await start_http(metrics, lambda: ready["value"], "127.0.0.1", 0)
    port = runner.addresses[0][1]
    try:
        answer = engine.ask("Who is China's lead trade negotiator?")
        metrics.observe_answer(answer)
        metrics.observe_answer(engine.ask("What is the capital of France?"))
        metrics.count_ingest("added")
        metrics.set_queue_depth(3)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 503
            ready["value"] = True
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200 and (await response.json()) == {"ready": True}
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
    finally:
        await runner.cleanup()
    assert _value(text, 'articlebot_questions_total{abstained="false"}') == 1
    assert _value(text, 'articlebot_questions_total{abstained="true"}') == 1
    assert _value(text, "articlebot_answer_seconds_count") == 2
    assert _value(text, "articlebot_answer_seconds_sum") >= answer.timings["total_s"]
    assert _value(text, "articlebot_first_token_seconds_count") == 1
    assert _value(text, 'articlebot_answer_seconds_bucket{le="+Inf"}') == 2
    assert _value(text, "articlebot_queue_depth") == 3
    assert _value(text, 'articlebot_ingests_total{status="added"}') == 1
