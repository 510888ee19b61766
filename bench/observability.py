"""Cost of the observability layer, each against a baseline measured in the same run:

- the request-metrics middleware (counter + histogram per request) vs. the bare handler;
- a log record through the credential-redacting filter vs. the same handler without it (JSON);
- a /metrics scrape (text exposition) with many labelled series.

Run: ``.venv/bin/python bench/observability.py [--quick]``. Prints medians (microseconds) and ratios.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimonitor.settings")
os.environ.setdefault("AIMONITOR_DEV", "1")
os.environ.setdefault("LOG_TO_FILES", "0")

import django  # noqa: E402

django.setup()

from django.http import HttpResponse  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.urls import resolve  # noqa: E402
from prometheus_client import REGISTRY, generate_latest  # noqa: E402

from aimonitor import metrics  # noqa: E402
from aimonitor.logging import JsonFormatter, RedactingFilter, RequestIdFilter  # noqa: E402


def per_call_us(fn, calls: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def bench_middleware(calls, rounds):
    request = RequestFactory().get("/api/health")
    request.resolver_match = resolve("/api/health")

    def handler(_request):
        return HttpResponse("ok")

    wrapped = metrics.RequestMetricsMiddleware(handler)
    base = per_call_us(lambda: handler(request), calls, rounds)
    timed = per_call_us(lambda: wrapped(request), calls, rounds)
    return base, timed


def _logger(redacting: bool) -> logging.Logger:
    handler = logging.StreamHandler(io.StringIO())
    if redacting:
        handler.addFilter(RedactingFilter())
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"bench.{redacting}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def bench_logging(calls, rounds):
    url = "rtsp://admin:secret@192.0.2.10:554/Streaming/Channels/101"
    plain, redacting = _logger(False), _logger(True)
    base = per_call_us(lambda: plain.info("Camera %s reconnected after %.1fs", url, 2.5), calls, rounds)
    timed = per_call_us(lambda: redacting.info("Camera %s reconnected after %.1fs", url, 2.5), calls, rounds)
    return base, timed


def bench_scrape(series, rounds):
    for task in range(series):
        metrics.count_frames(task, 10)
        metrics.observe_inference(task % 10, 0.02, 4)
    return per_call_us(lambda: generate_latest(REGISTRY), 1, rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds (about 10 s)")
    args = parser.parse_args()
    calls, rounds = (2000, 5) if args.quick else (10000, 9)
    print(f"observability bench: {calls} calls x {rounds} rounds, medians per call")
    base, timed = bench_middleware(calls, rounds)
    print(f"request metrics middleware: bare handler {base:.2f} us, with metrics {timed:.2f} us "
          f"(+{timed - base:.2f} us per request, {timed / base:.2f}x)")
    base, timed = bench_logging(calls, rounds)
    print(f"JSON log record: without redaction {base:.2f} us, with redaction {timed:.2f} us "
          f"(+{timed - base:.2f} us per record, {timed / base:.2f}x)")
    scrape = bench_scrape(200, rounds)
    print(f"/metrics exposition with 200 tasks' series: {scrape / 1000:.2f} ms per scrape")


if __name__ == "__main__":
    main()
