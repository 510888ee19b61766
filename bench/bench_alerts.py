"""Alerts benchmark on PostgreSQL: a large alerts table, its list, statistics and export, and live push
to many WebSocket clients on one server process.

It creates its own database (``aim_bench_alerts_<pid>``) on the PostgreSQL of ``BENCH_PG`` (default
``postgres://postgres@127.0.0.1:5432``), migrates it, bulk-loads N alerts (one INSERT ... SELECT per
100,000 rows, generated inside PostgreSQL), and drops it at the end. Every figure is compared with a
baseline measured in the same run:

1. list page (API, filtered and unfiltered) with the bounded-count paginator, against DRF's page-number
   pagination that runs a full COUNT(*) on every page: p50/p95 ms;
2. statistics for 30 days (API, aggregates in the database) against the same figures computed by a
   Python loop over the rows: median ms;
3. CSV export of ~100,000 rows through the API's streamed response against building the whole file in
   memory: peak growth of resident memory in MB (and for 10x fewer rows, to show it stays flat);
4. broadcast: one uvicorn process serving /ws/alerts/ with the Redis channel layer (the list-based
   default, then ``CHANNEL_LAYER_KIND=pubsub``); K clients (admins, so no per-message database look-up)
   receive M pushes; delivery latency p50/p99 ms against the same pushes to 10 clients.

    .venv/bin/python bench/bench_alerts.py --quick            # 100k alerts, 200 clients (about 2 minutes)
    .venv/bin/python bench/bench_alerts.py                    # 1,000,000 alerts, 1,000 clients
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-alerts"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def header(title: str) -> None:
    print(f"\n== {title}", flush=True)


# --- database --------------------------------------------------------------------------------------

def admin_connection(base: str):
    import psycopg

    return psycopg.connect(f"{base}/postgres", autocommit=True)


def create_database(base: str, name: str) -> None:
    with admin_connection(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(base: str, name: str) -> None:
    from django.db import connections

    connections.close_all()
    with admin_connection(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(database_url: str, redis_url: str, prefix: str) -> None:
    var = Path(tempfile.mkdtemp(prefix="aimonitor-bench-alerts-"))
    os.environ.update({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "CHANNELS_PREFIX": prefix,
        "CACHE_KEY_PREFIX": prefix, "SECRET_KEY": SECRET, "AIMONITOR_VAR_DIR": str(var), "LOG_TO_FILES": "0",
        "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "aimonitor.settings", "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver", "DB_CONN_MAX_AGE": "0",
        "AIMONITOR_TEST_FAST_HASHER": "1",
    })
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load_alerts(count: int, span_days: int, now: datetime) -> dict:
    """Streams, groups and ``count`` alerts spread over ``span_days`` days, bulk-inserted."""
    from django.db import connection

    from accounts.models import User
    from accounts.services import seed_roles
    from alerts.models import Alert
    from algorithms.models import Algorithm
    from streams.models import MonitorTask, StreamGroup, VideoStream

    seed_roles()
    admin = User.objects.create_superuser("bench-admin", "bench@example.com", "bench-password-42")
    groups = [StreamGroup.objects.create(name=f"Site {i}") for i in range(5)]
    streams = []
    for i in range(50):
        stream = VideoStream.objects.create(name=f"Camera {i:02d}", url=f"rtsp://127.0.0.1/cam{i}")
        stream.groups.add(groups[i % 5])
        streams.append(stream)
    algorithm = Algorithm.objects.create(name="Person detector")
    tasks = [MonitorTask.objects.create(name=f"Watch {s.name}", stream=s, algorithm=algorithm) for s in streams]
    # Generated inside PostgreSQL (INSERT ... SELECT over generate_series) in chunks: a bulk insert
    # that does not spend the benchmark's time in Python.
    sql = """
        INSERT INTO alerts_alert (type, level, stream_id, algorithm_id, task_id, detection_time, snapshot,
                                  extra_images, metadata, status, processed_by_id, processed_at, notes, created_at)
        SELECT r.type, r.level, (%(streams)s::bigint[])[r.i], %(algorithm)s, (%(tasks)s::bigint[])[r.i], r.at,
               'snapshots/' || to_char(r.at, 'YYYY/MM/DD') || '/' || md5(r.g::text) || '.jpg', '{}'::jsonb,
               jsonb_build_object('detections', jsonb_build_array(jsonb_build_object(
                   'class', 'person', 'class_id', 0, 'confidence', round((0.5 + random() / 2)::numeric, 3),
                   'bbox', jsonb_build_array(floor(random() * 600), floor(random() * 400),
                                             600 + floor(random() * 680), 400 + floor(random() * 320))))),
               r.status, CASE WHEN r.status <> 'new' THEN %(admin)s END,
               CASE WHEN r.status <> 'new' THEN r.at + interval '5 minutes' END, '', r.at
        FROM (
            SELECT g, 1 + floor(random() * 50)::int AS i,
                   %(now)s::timestamptz - random() * %(span)s * interval '1 day' AS at,
                   (ARRAY['info','info','info','info','info','warning','warning','warning','warning','critical'])
                       [1 + floor(random() * 10)::int] AS level,
                   (ARRAY['intrusion_detection','intrusion_detection','intrusion_detection','intrusion_detection',
                          'intrusion_detection','intrusion_detection','intrusion_detection','face_recognition',
                          'fall','stranger'])[1 + floor(random() * 10)::int] AS type,
                   (ARRAY['new','new','new','new','new','new','processed','processed','processed',
                          'false_positive'])[1 + floor(random() * 10)::int] AS status
            FROM generate_series(%(first)s, %(last)s) AS g
        ) AS r
    """
    started = time.perf_counter()
    params = {"streams": [s.pk for s in streams], "tasks": [t.pk for t in tasks], "algorithm": algorithm.pk,
              "admin": admin.pk, "now": now, "span": span_days}
    indexes = [(index.name, index) for index in Alert._meta.indexes]
    with connection.cursor() as cursor:
        # The usual bulk-load recipe: no per-row foreign-key triggers (the ids are valid by construction)
        # and the secondary indexes built once at the end.
        cursor.execute("SET session_replication_role = replica")
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for first in range(1, count + 1, 100_000):
            cursor.execute(sql, {**params, "first": first, "last": min(count, first + 99_999)})
        cursor.execute("SET session_replication_role = DEFAULT")
    with connection.schema_editor() as editor:
        for _, index in indexes:
            editor.add_index(Alert, index)
    with connection.cursor() as cursor:
        # A long-lived table has been vacuumed: the visibility map lets counts use index-only scans.
        cursor.execute("VACUUM ANALYZE alerts_alert")
    seconds = time.perf_counter() - started
    print(f"loaded {count:,} alerts in {seconds:.1f} s ({count / seconds:,.0f} rows/s)", flush=True)
    return {"admin": admin, "streams": streams, "load_s": seconds}


# --- 1. list -----------------------------------------------------------------------------------------

def timed_get(client, url: str, params: dict, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, params)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
    return times


def bench_list(client, streams, runs: int) -> dict:
    from aimonitor.api.pagination import StandardPagination
    from alerts.api.views import AlertViewSet

    cases = {
        "unfiltered": {},
        "level=critical": {"level": "critical"},
        "stream+status": {"stream": streams[3].pk, "status": "new"},
        "page 50, level=warning": {"level": "warning", "page": 50},
    }
    results = {}
    for name, params in cases.items():
        timed_get(client, "/api/alerts/", params, 3)  # warm caches
        ours = timed_get(client, "/api/alerts/", params, runs)
        original = AlertViewSet.pagination_class
        AlertViewSet.pagination_class = StandardPagination  # the baseline: a full COUNT(*) per page
        try:
            timed_get(client, "/api/alerts/", params, 2)
            baseline = timed_get(client, "/api/alerts/", params, max(5, runs // 4))
        finally:
            AlertViewSet.pagination_class = original
        results[name] = {"p50": statistics.median(ours), "p95": pct(ours, 95),
                         "baseline_p50": statistics.median(baseline), "baseline_p95": pct(baseline, 95)}
        r = results[name]
        print(f"list {name:24s} p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms | full-count baseline "
              f"p50 {r['baseline_p50']:7.1f} ms  p95 {r['baseline_p95']:7.1f} ms | x{r['baseline_p50'] / r['p50']:.1f}",
              flush=True)
    return results


# --- 2. statistics -------------------------------------------------------------------------------

def python_statistics(queryset) -> dict:
    """The baseline: the same figures from a loop over the rows."""
    from django.utils import timezone

    zone = timezone.get_default_timezone()
    total = unprocessed = false_positive = 0
    by_level, by_type, by_stream, by_date = {}, {}, {}, {}
    for level, kind, stream, status, when in queryset.values_list(
            "level", "type", "stream_id", "status", "detection_time").iterator(chunk_size=5000):
        total += 1
        unprocessed += status == "new"
        false_positive += status == "false_positive"
        by_level[level] = by_level.get(level, 0) + 1
        by_type[kind] = by_type.get(kind, 0) + 1
        by_stream[stream] = by_stream.get(stream, 0) + 1
        day = when.astimezone(zone).date()
        by_date[day] = by_date.get(day, 0) + 1
    return {"total": total, "unprocessed": unprocessed, "by_level": by_level, "by_date": by_date}


def bench_statistics(client, now: datetime, runs: int) -> dict:
    from alerts.models import Alert

    start = (now - timedelta(days=29)).date().isoformat()
    end = now.date().isoformat()
    params = {"start_date": start, "end_date": end}
    timed_get(client, "/api/alerts/statistics", params, 2)
    ours = timed_get(client, "/api/alerts/statistics", params, runs)
    body = client.get("/api/alerts/statistics", params).json()
    since = datetime.fromisoformat(start).replace(tzinfo=UTC)
    baseline_times = []
    for _ in range(max(2, runs // 5)):
        started = time.perf_counter()
        loop = python_statistics(Alert.objects.filter(detection_time__gte=since,
                                                      detection_time__lt=since + timedelta(days=30)))
        baseline_times.append((time.perf_counter() - started) * 1000)
    assert loop["total"] == body["total"], (loop["total"], body["total"])
    result = {"rows": body["total"], "median": statistics.median(ours), "p95": pct(ours, 95),
              "baseline_median": statistics.median(baseline_times)}
    ratio = result["baseline_median"] / result["median"]
    print(f"statistics 30 days ({body['total']:,} alerts): median {result['median']:.1f} ms, "
          f"p95 {result['p95']:.1f} ms | Python-loop baseline {result['baseline_median']:.1f} ms | x{ratio:.1f}",
          flush=True)
    return result


# --- 3. export ---------------------------------------------------------------------------------------

def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_peak(fn) -> tuple[float, float, object]:
    """(peak resident memory growth in MB while ``fn`` runs, seconds, its value). RSS is sampled every
    20 ms by a thread: unlike tracemalloc it does not slow the code it measures."""
    import gc
    import threading

    gc.collect()
    base = rss_mb()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        value = fn()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return max(peak[0], rss_mb()) - base, seconds, value


def bench_export(client, now: datetime, total: int, span_days: int, rows_wanted: int) -> dict:
    import csv
    import io

    from django.conf import settings

    from alerts import services
    from alerts.models import Alert

    settings.ALERT_EXPORT_MAX_ROWS = max(settings.ALERT_EXPORT_MAX_ROWS, rows_wanted + rows_wanted // 10)
    per_day = total / span_days
    results = {}
    for label, wanted in (("small", rows_wanted // 10), ("large", rows_wanted)):
        days = max(1, int(wanted / per_day))
        start = (now - timedelta(days=days - 1)).date().isoformat()

        def streamed(start=start):
            response = client.get("/api/alerts/export", {"format": "csv", "start_date": start})
            assert response.status_code == 200, response.content[:300]
            lines = size = 0
            for chunk in response.streaming_content:
                size += len(chunk)
                lines += chunk.count(b"\n")
            return lines - 1, size

        peak, seconds, (rows, size) = measure_peak(streamed)
        results[label] = {"rows": rows, "peak_mb": peak, "seconds": seconds, "bytes": size}
        print(f"export CSV {rows:>7,} rows streamed: peak {peak:6.1f} MB, {seconds:5.1f} s, {size / 2**20:.1f} MB file",
              flush=True)

    start = (now - timedelta(days=max(1, int(rows_wanted / per_day)) - 1)).date().isoformat()

    def in_memory():
        queryset = Alert.objects.filter(detection_time__gte=datetime.fromisoformat(start).replace(tzinfo=UTC))
        rows = list(services.export_rows(queryset.select_related(*services.RELATED)))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(services.EXPORT_COLUMNS)
        writer.writerows(rows)
        return len(rows)

    peak, seconds, rows = measure_peak(in_memory)
    results["baseline"] = {"rows": rows, "peak_mb": peak, "seconds": seconds}
    print(f"export CSV {rows:>7,} rows built in memory (baseline): peak {peak:6.1f} MB, {seconds:5.1f} s | "
          f"streamed uses x{peak / max(results['large']['peak_mb'], 0.5):.0f} less", flush=True)
    return results


# --- 4. broadcast ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, layer_kind: str) -> subprocess.Popen:
    env = {**os.environ, "CHANNEL_LAYER_KIND": layer_kind}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "aimonitor.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--ws", "websockets-sansio", "--log-level", "warning", "--lifespan", "off", "--no-access-log"],
        cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        if server.poll() is not None:
            raise RuntimeError("uvicorn exited")
        time.sleep(0.2)
    server.kill()
    raise RuntimeError("uvicorn did not start")


def make_layer(kind: str):
    """A channel layer like the server's (same Redis, prefix and kind) for the bench to push through."""
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer
    from django.conf import settings

    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    cls = RedisPubSubChannelLayer if kind == "pubsub" else RedisChannelLayer
    return cls(hosts=config["hosts"], prefix=config["prefix"])


async def broadcast_round(port: int, token: str, clients: int, messages: int, interval: float, kind: str) -> dict:
    from websockets.asyncio.client import connect

    from aimonitor.live import ALERTS_GROUP

    url = f"ws://127.0.0.1:{port}/ws/alerts/?token={token}"
    latencies: list[float] = []
    received = [0] * messages
    sockets = []
    started = time.perf_counter()
    for start in range(0, clients, 50):  # connect in waves, like browsers arriving
        sockets += await asyncio.gather(*(connect(url, origin="http://127.0.0.1", max_queue=None)
                                          for _ in range(start, min(clients, start + 50))))
    connect_s = time.perf_counter() - started

    async def listen(ws):
        async for raw in ws:
            now = time.time()
            message = json.loads(raw)
            if message.get("type") == "alert.created":
                alert = message["alert"]
                latencies.append((now - alert["metadata"]["sent_at"]) * 1000)
                received[alert["id"]] += 1

    listeners = [asyncio.ensure_future(listen(ws)) for ws in sockets]
    await asyncio.sleep(0.5)
    layer = make_layer(kind)
    for index in range(messages):
        alert = {"id": index, "type": "intrusion_detection", "level": "warning", "stream": None,
                 "metadata": {"sent_at": time.time()}}
        await layer.group_send(ALERTS_GROUP, {"type": "live.message",
                                              "payload": {"type": "alert.created", "alert": alert}})
        await asyncio.sleep(interval)
    deadline = time.monotonic() + 15
    while sum(received) < clients * messages and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {"clients": clients, "delivered": sum(received), "expected": clients * messages,
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": pct(latencies, 99) if latencies else float("nan"), "connect_s": connect_s}


def bench_broadcast(admin, clients: int, messages: int) -> dict:
    from rest_framework_simplejwt.tokens import AccessToken

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * clients + 256)), hard))
    token = str(AccessToken.for_user(admin))
    results = {}
    for kind in ("lists", "pubsub"):
        port = free_port()
        server = start_server(port, kind)
        try:
            for label, count in (("baseline", 10), ("many", clients)):
                result = asyncio.run(broadcast_round(port, token, count, messages, 0.25, kind))
                results[f"{kind}-{label}"] = result
                print(f"{kind:6s} layer, {count:>5} clients: delivered {result['delivered']}/{result['expected']}, "
                      f"p50 {result['p50']:7.1f} ms, p99 {result['p99']:7.1f} ms (connecting took "
                      f"{result['connect_s']:.1f} s)", flush=True)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k alerts and 200 clients")
    parser.add_argument("--alerts", type=int, help="alerts to load (default 1,000,000; --quick 100,000)")
    parser.add_argument("--clients", type=int, help="WebSocket clients (default 1,000; --quick 200)")
    parser.add_argument("--messages", type=int, default=20, help="pushes per broadcast round")
    parser.add_argument("--runs", type=int, default=40, help="requests per list/statistics case")
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--span-days", type=int, default=365, help="days the alerts are spread over")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/4"))
    parser.add_argument("--keep", action="store_true", help="keep the database (for a second look)")
    parser.add_argument("--only", default="list,statistics,export,broadcast",
                        help="comma-separated parts to run (default: all)")
    args = parser.parse_args()
    count = args.alerts or (100_000 if args.quick else 1_000_000)
    clients = args.clients or (200 if args.quick else 1_000)
    export_rows = min(args.export_rows, count)
    name = f"aim_bench_alerts_{os.getpid()}"

    create_database(args.pg, name)
    try:
        setup_django(f"{args.pg}/{name}", args.redis, f"bench-alerts-{os.getpid()}")
        from django.utils import timezone

        from tests.conftest import client_for

        now = timezone.now()
        header(f"load ({count:,} alerts over {args.span_days} days, 50 streams)")
        data = load_alerts(count, args.span_days, now)
        client = client_for(data["admin"])
        parts = set(args.only.split(","))
        results = {"alerts": count, "load_s": data["load_s"]}
        if "list" in parts:
            header("list (API, 20 per page)")
            results["list"] = bench_list(client, data["streams"], args.runs)
        if "statistics" in parts:
            header("statistics (API)")
            results["statistics"] = bench_statistics(client, now, args.runs)
        if "export" in parts:
            header("export (API, CSV)")
            results["export"] = bench_export(client, now, count, args.span_days, export_rows)
        if "broadcast" in parts:
            header(f"broadcast (one uvicorn process, Redis channel layers, {args.messages} pushes, 4 per second)")
            results["broadcast"] = bench_broadcast(data["admin"], clients, args.messages)
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench_alerts.json").write_text(json.dumps(results, indent=2, default=str))
        print(f"\nresults written to {out / 'bench_alerts.json'}")
    finally:
        if not args.keep:
            drop_database(args.pg, name)


if __name__ == "__main__":
    main()
