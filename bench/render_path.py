"""The render path through the farm, each part against a baseline taken in the same run.

One farm for the whole section: gunicorn as the farm runs it (config/gunicorn.py, 2
workers × 4 threads, `bench.settings` so bench/urls.py's constant views are there) and one
svg worker (2 processes), on the bench's Redis database and PostgreSQL database.

1. `GET /og/blog-post.png?title=…&api_key=<publishable>` answered from the cache vs
   `/bench/constant.png` (a Django view returning the very same bytes), `wrk -t2 -c16` in
   interleaved rounds: requests/s, p99, ratio (target ≥ 0.8×). Around those rounds,
   PostgreSQL's own counters (pg_stat_database, pg_stat_user_tables) give the database
   work per hit, net of what the idle farm does in a window of the same length (target:
   0 writes per hit).
2. `POST /v1/images` template cache hit (`Accept: image/png`, secret key), 16 clients,
   vs `GET /healthz`, interleaved: p50/p95 and ratio (target ≤ 2×).
3. Template cache miss: one client, sequential, a new title every request, vs the
   in-process engine (Jinja + text engine + rasterise + encode) on the same params,
   interleaved: "miss p50 − engine p50" (target ≤ 10 ms). Then cache-miss throughput
   with 4 and with 16 clients, interleaved rounds: ratio 16/4 (target ≥ 1.0).

`bench/run.py` calls `main()`; `python bench/render_path.py` runs this section alone.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402

from bench.common import (  # noqa: E402
    BENCH_ENV,
    CONCURRENCY,
    FARM_APP_NAME,
    bench_account_key,
    concurrent,
    farm_env,
    stats,
    timed,
)
from bench.placeholders import start_farm_web  # noqa: E402
from bench.templates import SLUG, _blog_post  # noqa: E402
from renders.management.commands.kiln_gallery import render_svg_source  # noqa: E402
from renders.params import params_validate  # noqa: E402
from tests.support.processes import Process, free_port, start_worker  # noqa: E402
from workers.rasterise import render_svg  # noqa: E402

WIDTH, HEIGHT = 1200, 630
CONSTANT = "/bench/constant.png"
CONSTANT_ENV = "KILN_BENCH_CONSTANT_PNG"  # bench/urls.py reads the bytes from this file
WRK_CONNECTIONS = 16
WRK_ROUNDS = 7
WRK_SECONDS = 3
# Backends flush their statistics lazily (at most once a second, and an idle backend may
# keep its last counts for good: PostgreSQL 15 was seen holding them > 30 s). Before each
# reading the farm's connections are ended, which flushes them, after a short settle.
STATS_SETTLE = 2.0
HIT_ROUNDS, HIT_PER_ROUND = 5, 160
MISS_SEQUENTIAL, MISS_BLOCK = 100, 10
RATE_ROUNDS, RATE_PER_ROUND = 2, 64
TIMEOUT = 60
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _log(message: str) -> None:
    print(f"[render_path] {message}", file=sys.stderr, flush=True)


def _failure(title: str) -> str:
    return f"### {title}: FAILED\n\n```\n{traceback.format_exc().rstrip()}\n```"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# --- the farm -------------------------------------------------------------------------


@dataclass
class Farm:
    base: str
    web: Process
    worker: Process
    secret_key: str
    publishable_key: str
    constant_file: Path
    run_id: str

    @classmethod
    def start(cls) -> Farm:
        from django.db import connections

        from accounts.models import Account, ApiKey
        from accounts.services import api_key_create

        secret = bench_account_key()
        account = Account.objects.get(slug="bench")
        _, publishable = api_key_create(
            account=account, kind=ApiKey.Kind.PUBLISHABLE, name="bench-publishable"
        )
        connections.close_all()  # this process stays out of the database counters
        constant_file = Path(tempfile.mkstemp(prefix="kiln-bench-constant-", suffix=".png")[1])
        os.environ[CONSTANT_ENV] = str(constant_file)  # farm_env() copies os.environ
        port = free_port()
        web = start_farm_web(port)
        try:
            worker = start_worker(farm_env(), name="bench-path-svg", queues="svg", concurrency=2)
        except BaseException:
            web.stop()
            raise
        return cls(
            base=f"http://127.0.0.1:{port}",
            web=web,
            worker=worker,
            secret_key=secret,
            publishable_key=publishable,
            constant_file=constant_file,
            run_id=str(time.time_ns() % 10**8),
        )

    def stop(self) -> None:
        self.worker.stop()
        self.web.stop()
        self.constant_file.unlink(missing_ok=True)

    def post_image(self, title: str, session: requests.Session | None = None) -> bytes:
        """`POST /v1/images` of blog-post with `title`, as PNG bytes; anything but a 200
        PNG is an error."""
        response = (session or requests).post(
            f"{self.base}/v1/images",
            json={"template": SLUG, "params": {"title": title}},
            headers={"Authorization": f"Bearer {self.secret_key}", "Accept": "image/png"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, f"{response.status_code}: {response.text[:300]}"
        assert response.headers["Content-Type"] == "image/png", response.headers
        return response.content


# --- wrk ------------------------------------------------------------------------------


@dataclass
class WrkRun:
    rate: float  # requests/s
    p99_ms: float
    requests: int
    lopsided: bool = False  # one gunicorn worker served (nearly) every request


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wrk_per_worker(url: str, seconds: int, master: int) -> WrkRun:
    """`wrk` on `url`, noting whether the gunicorn workers of `master` shared the work.

    wrk opens its 16 keep-alive connections at once, and a gunicorn worker accepts as
    many as it can: in some rounds one worker takes all 16 and the other idles, which
    halves the throughput of that round whatever the route. Such rounds are marked."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        before = {int(pid): _cpu_ticks(int(pid)) for pid in children}
    except OSError:
        before = {}
    run = wrk(url, seconds)
    try:
        used = [_cpu_ticks(pid) - ticks for pid, ticks in before.items()]
    except OSError:
        used = []
    if len(used) > 1 and sum(used) > 0:
        run.lopsided = min(used) < 0.1 * sum(used)
    return run


def wrk(url: str, seconds: int) -> WrkRun:
    """`wrk -t2 -c16` on `url`; every answer must be a 2xx (a 304 is an error too).
    bench/placeholders.py's `wrk` does not give the request count, hence this one."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors on {url}:\n{out}")
    value, unit = re.search(r"99%\s+([0-9.]+)(us|ms|s)", out).groups()
    return WrkRun(
        rate=float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),
        p99_ms=float(value) * _UNITS[unit],
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
    )


# --- PostgreSQL's counters ------------------------------------------------------------

DB_COUNTERS = (
    "sessions",
    "xact_commit",
    "xact_rollback",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "tup_fetched",
    "tup_returned",
)
TABLE_COUNTERS = (
    "n_tup_ins",
    "n_tup_upd",
    "n_tup_del",
    "seq_scan",
    "idx_scan",
    "seq_tup_read",
    "idx_tup_fetch",
)


@dataclass
class PgReading:
    at: float  # time.monotonic() of the reading
    values: dict[str, int]
    others: int  # backends on the bench database that are neither the farm's nor ours
    by_table: dict[str, tuple[int, int, int, int]]  # relname: (ins, upd, del, scans)


def pg_reading() -> PgReading:
    """The bench database's counters, with every farm backend's pending counts in.

    A backend flushes its counts to shared memory at most once a second and may sit on
    the rest while idle; at exit it flushes them all. So the farm's connections are
    ended (the web checks its connection before each request, the worker before each
    task, and both reconnect), and the counters read once they are gone."""
    time.sleep(STATS_SETTLE)
    with psycopg.connect(BENCH_ENV["DATABASE_URL"], autocommit=True) as conn:
        farm = "SELECT {} FROM pg_stat_activity WHERE application_name = %s"
        conn.execute(farm.format("pg_terminate_backend(pid)"), (FARM_APP_NAME,))
        deadline = time.monotonic() + 10
        while conn.execute(farm.format("count(*)"), (FARM_APP_NAME,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise TimeoutError("the farm's database connections did not end")
            time.sleep(0.05)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        with conn.transaction():
            database = conn.execute(
                f"SELECT {', '.join(DB_COUNTERS)} FROM pg_stat_database "
                "WHERE datname = current_database()"
            ).fetchone()
            tables = conn.execute(
                "SELECT "
                + ", ".join(f"coalesce(sum({name}), 0)" for name in TABLE_COUNTERS)
                + " FROM pg_stat_user_tables"
            ).fetchone()
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND application_name <> %s",
                (FARM_APP_NAME,),
            ).fetchone()[0]
            by_table = conn.execute(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, "
                "seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables"
            ).fetchall()
    values = dict(zip(DB_COUNTERS, database, strict=True))
    values.update({f"tables.{k}": int(v) for k, v in zip(TABLE_COUNTERS, tables, strict=True)})
    return PgReading(
        at=time.monotonic(),
        values=values,
        others=others,
        by_table={name: tuple(counts) for name, *counts in by_table},
    )


def _table_activity(before: PgReading, after: PgReading) -> str:
    """Which tables were written or scanned between two readings, e.g.
    `renders_renderjob +1 ins +2 upd, 3 scans`; `none` when nothing was."""
    found = []
    for name, counts in sorted(after.by_table.items()):
        old = before.by_table.get(name, (0, 0, 0, 0))
        ins, upd, dele, scans = (new - was for new, was in zip(counts, old, strict=True))
        parts = [f"+{n} {label}" for n, label in ((ins, "ins"), (upd, "upd"), (dele, "del")) if n]
        if scans:
            parts.append(f"{scans} scans")
        if parts:
            found.append(f"`{name}` {' '.join(parts)}")
    return "; ".join(found) or "none"


def _delta(before: PgReading, after: PgReading) -> dict[str, int]:
    return {name: after.values[name] - before.values[name] for name in before.values}


def db_work_table(
    before: PgReading, after: PgReading, idle_end: PgReading, hits: int, constant_hits: int
) -> str:
    busy, idle = _delta(before, after), _delta(after, idle_end)
    busy_s, idle_s = after.at - before.at, idle_end.at - after.at
    scale = busy_s / idle_s
    net = {name: busy[name] - idle[name] * scale for name in busy}
    per_hit = {name: value / hits for name, value in net.items()}
    writes = sum(per_hit[f"tables.{k}"] for k in ("n_tup_ins", "n_tup_upd", "n_tup_del"))
    scans = per_hit["tables.seq_scan"] + per_hit["tables.idx_scan"]
    rows_read = per_hit["tables.seq_tup_read"] + per_hit["tables.idx_tup_fetch"]
    rows = [
        f"#### Database work per cache hit (PostgreSQL's counters for the bench database; "
        f"{hits} og hits and {constant_hits} constant-view hits in {busy_s:.0f} s, "
        f"idle farm over {idle_s:.0f} s scaled to the same length)",
        "",
        "| counter | during the rounds | idle farm, same length | per og hit (net) |",
        "|---|---|---|---|",
    ]
    labels = {
        "sessions": "database sessions opened",
        "xact_commit": "transactions committed",
        "xact_rollback": "transactions rolled back",
        "tup_inserted": "rows inserted (all tables)",
        "tup_updated": "rows updated (all tables)",
        "tup_deleted": "rows deleted (all tables)",
        "tup_fetched": "rows fetched (all tables, catalogs too)",
        "tup_returned": "rows returned (all tables, catalogs too)",
        "tables.n_tup_ins": "user tables: rows inserted",
        "tables.n_tup_upd": "user tables: rows updated",
        "tables.n_tup_del": "user tables: rows deleted",
        "tables.seq_scan": "user tables: sequential scans",
        "tables.idx_scan": "user tables: index scans",
        "tables.seq_tup_read": "user tables: rows read by sequential scans",
        "tables.idx_tup_fetch": "user tables: rows fetched by index scans",
    }
    for name, label in labels.items():
        rows.append(f"| {label} | {busy[name]} | {idle[name] * scale:.0f} | {per_hit[name]:.3f} |")
    verdict = "meets" if writes < 0.001 else "MISSES"  # < 1 write per 1000 hits
    rows += [
        "",
        f"Per og hit (net of the idle farm): **{writes:.4f} row writes** ({verdict} the "
        f"target of 0), **{per_hit['xact_commit']:.3f} transactions**, **{scans:.3f} table "
        f"scans reading {rows_read:.3f} rows**.",
        "",
        "The rounds' counts include the constant view's requests (they touch no table) and "
        f"the {busy['sessions']} sessions the farm opened again after the reading before "
        "them ended its connections (that is how the counts get flushed); a new session "
        "reads a few hundred catalog rows, which is most of the database-wide rows "
        "fetched/returned.",
    ]
    rows += [
        "",
        f"Tables touched during the rounds: {_table_activity(before, after)}.",
        f"Tables touched by the idle farm: {_table_activity(after, idle_end)}.",
    ]
    if before.others or after.others or idle_end.others:
        rows.append(
            f"Other clients were connected to the database ({before.others}/{after.others}/"
            f"{idle_end.others} backends at the three readings): their work is in the counts."
        )
    return "\n".join(rows)


# --- 1. the public image route vs a constant view --------------------------------------


def bench_og(farm: Farm) -> str:
    if shutil.which("wrk") is None:
        return "### `/og` cache hit vs a constant view\n\n`wrk` is missing: bin/system-deps bench"
    og = f"/og/{SLUG}.png?title=Shipping+images+fast+{farm.run_id}&api_key={farm.publishable_key}"
    started = time.perf_counter()
    first = requests.get(farm.base + og, timeout=TIMEOUT)
    render_ms = (time.perf_counter() - started) * 1000
    assert first.status_code == 200, f"{first.status_code}: {first.text[:300]}"
    assert first.headers["Content-Type"] == "image/png", first.headers
    assert _png_size(first.content) == (WIDTH, HEIGHT)
    farm.constant_file.write_bytes(first.content)
    again = requests.get(farm.base + og, timeout=TIMEOUT)  # no If-None-Match: 200, not 304
    constant = requests.get(farm.base + CONSTANT, timeout=TIMEOUT)
    assert again.status_code == constant.status_code == 200, (again.status_code, constant)
    assert again.content == constant.content == first.content  # the same bytes on both
    for url in (CONSTANT, og):
        wrk(farm.base + url, 2)  # warm: both workers, the caches, the connections
    results: dict[str, list[WrkRun]] = {CONSTANT: [], og: []}
    db_error = ""
    try:
        before = pg_reading()
    except Exception:
        before, db_error = None, traceback.format_exc()
    for _ in range(WRK_ROUNDS):  # interleaved, so drift hits both alike
        for url in (CONSTANT, og):
            # A lopsided round measures gunicorn's accept, not the route: run it again
            # (wrk reconnects), up to twice.
            for _attempt in range(3):
                run = wrk_per_worker(farm.base + url, WRK_SECONDS, farm.web.popen.pid)
                if not run.lopsided:
                    break
            results[url].append(run)

    def median(url: str, field: str, balanced: bool = False) -> float:
        values = sorted(
            getattr(run, field) for run in results[url] if not (balanced and run.lopsided)
        )
        return values[len(values) // 2] if values else float("nan")

    def rounds(url: str) -> str:
        return ", ".join(f"{run.rate:.0f}{'†' if run.lopsided else ''}" for run in results[url])

    balanced = median(og, "rate", True) / median(CONSTANT, "rate", True)
    ratio = balanced if balanced == balanced else median(og, "rate") / median(CONSTANT, "rate")
    per_round = sorted(o.rate / c.rate for c, o in zip(results[CONSTANT], results[og], strict=True))
    lopsided = sum(run.lopsided for runs in results.values() for run in runs)
    verdict = "meets" if ratio >= 0.8 else "MISSES"
    table = "\n".join(
        [
            f"### `GET /og/{SLUG}.png` cache hit vs a constant view (gunicorn 2 workers × 4 "
            f"threads, wrk -t2 -c{WRK_CONNECTIONS}, {WRK_ROUNDS} interleaved rounds of "
            f"{WRK_SECONDS} s, medians)",
            "",
            "| route | requests/s | p99 ms | requests/s of each round |",
            "|---|---|---|---|",
            f"| `GET {CONSTANT}` (constant view, the same {len(first.content)} bytes) | "
            f"{median(CONSTANT, 'rate'):.0f} | {median(CONSTANT, 'p99_ms'):.1f} | "
            f"{rounds(CONSTANT)} |",
            f"| `GET /og/{SLUG}.png?title=…&api_key=kiln_pk_…` (cache hit, 200) | "
            f"{median(og, 'rate'):.0f} | {median(og, 'p99_ms'):.1f} | {rounds(og)} |",
            "",
            f"og / constant throughput (balanced rounds): **{ratio:.2f}×** ({verdict} the 0.8× "
            "target; "
            f"per round {per_round[0]:.2f}–{per_round[-1]:.2f}×). "
            f"The first request (a render on the worker) took {render_ms:.0f} ms.",
            "",
            f"† a round where one gunicorn worker served nearly every request (wrk's 16 "
            f"keep-alive connections all landed on it; {lopsided} of {2 * WRK_ROUNDS} rounds). "
            f"Over the other rounds only: og / constant = {balanced:.2f}×.",
        ]
    )
    _log("og vs constant: rounds done")
    if before is not None:
        try:
            after = pg_reading()
            # The idle farm, over a window as long as the rounds' (reading to reading).
            time.sleep(max(0.0, after.at + (after.at - before.at) - time.monotonic() - 2.5))
            idle_end = pg_reading()
            hits = sum(run.requests for run in results[og])
            constant_hits = sum(run.requests for run in results[CONSTANT])
            return table + "\n\n" + db_work_table(before, after, idle_end, hits, constant_hits)
        except Exception:
            db_error = traceback.format_exc()
    return f"{table}\n\n#### Database work per cache hit: FAILED\n\n```\n{db_error.rstrip()}\n```"


# --- 2. POST /v1/images template cache hit vs /healthz ---------------------------------


def bench_post_hit(farm: Farm) -> str:
    title = f"Hot {farm.run_id}: shipping images, fast"
    farm.post_image(title)  # rendered once; every request below is a cache hit

    def hit(i: int) -> None:
        farm.post_image(title)

    def health(i: int) -> None:
        response = requests.get(f"{farm.base}/healthz", timeout=TIMEOUT)
        assert response.status_code == 200, response.status_code

    concurrent(health, 64)  # warm up
    concurrent(hit, 64)
    floor: list[float] = []
    hit_ms: list[float] = []
    for _ in range(HIT_ROUNDS):  # interleaved
        floor += concurrent(health, HIT_PER_ROUND)
        hit_ms += concurrent(hit, HIT_PER_ROUND)
    f50, f95 = stats(floor)
    h50, h95 = stats(hit_ms)
    verdict = "meets" if h50 / f50 <= 2 else "MISSES"
    return "\n".join(
        [
            f"### `POST /v1/images` template cache hit vs `GET /healthz` ({CONCURRENCY} "
            f"concurrent clients, {HIT_ROUNDS} interleaved rounds)",
            "",
            "| request | n | p50 ms | p95 ms |",
            "|---|---|---|---|",
            f"| `GET /healthz` (floor of the web stack) | {len(floor)} | {f50:.1f} | {f95:.1f} |",
            f"| `POST /v1/images` `{SLUG}`, `Accept: image/png`, cache hit | {len(hit_ms)} | "
            f"{h50:.1f} | {h95:.1f} |",
            f"| ratio hit / healthz | | {h50 / f50:.2f}× | {h95 / f95:.2f}× |",
            "",
            f"Cache hit p50 / healthz p50: **{h50 / f50:.2f}×** ({verdict} the ≤ 2× target).",
        ]
    )


# --- 3. template cache miss vs the engine; miss throughput ------------------------------


def _title(kind: str, run_id: str, i: int) -> str:
    """A new title every render, all of the same length."""
    return f"How we render ten thousand social cards a minute ({kind} {run_id} {i:05d})"


def bench_miss(farm: Farm) -> str:
    template = _blog_post()

    def engine(title: str) -> None:
        params = params_validate(
            slug=SLUG, schema=template.schema, given={"title": title}, from_query=False
        )
        svg = render_svg_source(template, params, WIDTH, HEIGHT)
        render_svg(svg.encode(), format="png", width=WIDTH, height=HEIGHT)

    session = requests.Session()  # one client, one connection
    count = itertools.count()

    def miss() -> None:
        data = farm.post_image(_title("miss", farm.run_id, next(count)), session)
        assert _png_size(data) == (WIDTH, HEIGHT)

    engine_count = itertools.count()

    def engine_once() -> None:
        engine(_title("engn", farm.run_id, next(engine_count)))

    timed(miss, MISS_BLOCK)  # warm: fonts and template loaded in the worker's processes
    timed(engine_once, MISS_BLOCK)  # and here
    miss_ms: list[float] = []
    engine_ms: list[float] = []
    for _ in range(MISS_SEQUENTIAL // MISS_BLOCK):  # interleaved
        miss_ms += timed(miss, MISS_BLOCK)
        engine_ms += timed(engine_once, MISS_BLOCK)
    m50, m95 = stats(miss_ms)
    e50, e95 = stats(engine_ms)
    overhead = m50 - e50
    verdict = "meets" if overhead <= 10 else "MISSES"
    latency = "\n".join(
        [
            f"### Template `{SLUG}` cache miss, one client, sequential ({len(miss_ms)} requests, "
            f"a new title each, interleaved with the engine in blocks of {MISS_BLOCK})",
            "",
            "| path | n | p50 ms | p95 ms |",
            "|---|---|---|---|",
            f"| `POST /v1/images` cache miss, end to end (PNG {WIDTH}×{HEIGHT}) | "
            f"{len(miss_ms)} | {m50:.1f} | {m95:.1f} |",
            f"| engine in-process: Jinja + text engine + rasterise + encode | "
            f"{len(engine_ms)} | {e50:.1f} | {e95:.1f} |",
            "",
            f"miss p50 − engine p50 = **{overhead:.1f} ms** ({verdict} the ≤ 10 ms target); "
            f"p95 − p95 = {m95 - e95:.1f} ms.",
        ]
    )
    _log("miss latency done")
    try:
        return latency + "\n\n" + _miss_rates(farm)
    except Exception:
        return latency + "\n\n" + _failure("Cache-miss throughput")


def _miss_rates(farm: Farm) -> str:
    count = itertools.count()

    def miss(i: int) -> None:
        farm.post_image(_title("rate", farm.run_id, next(count)))

    concurrent(miss, 16, clients=16)  # warm
    elapsed = {4: 0.0, 16: 0.0}
    latencies: dict[int, list[float]] = {4: [], 16: []}
    for _ in range(RATE_ROUNDS):  # interleaved
        for clients in (4, 16):
            started = time.perf_counter()
            latencies[clients] += concurrent(miss, RATE_PER_ROUND, clients=clients)
            elapsed[clients] += time.perf_counter() - started
    n = RATE_ROUNDS * RATE_PER_ROUND
    rate = {clients: n / seconds for clients, seconds in elapsed.items()}
    ratio = rate[16] / rate[4]
    verdict = "meets" if ratio >= 1.0 else "MISSES"
    rows = [
        f"#### Cache-miss throughput (1 svg worker × 2 processes, {n} requests per level, "
        f"new titles, {RATE_ROUNDS} interleaved rounds)",
        "",
        "| concurrent clients | renders/s | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for clients in (4, 16):
        p50, p95 = stats(latencies[clients])
        rows.append(f"| {clients} | {rate[clients]:.1f} | {p50:.0f} | {p95:.0f} |")
    rows += ["", f"16 / 4 clients: **{ratio:.2f}×** ({verdict} the ≥ 1.0 target)."]
    return "\n".join(rows)


# --- the section ----------------------------------------------------------------------


def main() -> str:
    started = time.perf_counter()
    farm = Farm.start()
    _log(f"farm up in {time.perf_counter() - started:.0f} s")
    parts: list[str] = []
    measurements: list[tuple[str, Callable[[Farm], str]]] = [
        ("`/og` cache hit vs a constant view", bench_og),
        ("`POST /v1/images` cache hit vs `/healthz`", bench_post_hit),
        ("Template cache miss", bench_miss),
    ]
    try:
        for title, measure in measurements:
            try:
                parts.append(measure(farm))
            except Exception:
                parts.append(_failure(title))
            _log(f"{title}: done at {time.perf_counter() - started:.0f} s")
    finally:
        farm.stop()
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(main())
