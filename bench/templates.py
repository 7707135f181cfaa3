"""The template pool: built-in `blog-post` at 1200×630 PNG (imported by bench/run.py,
which has set Django up for the bench database).

1. In-process: Kiln's whole path (Jinja + text engine + rasterise + encode), a new title
   every render so no layout cache helps, vs plain `cairosvg.svg2png` of the same final
   SVG, interleaved in one run.
2. Over HTTP through the farm: cache miss and cache hit p50/p95 with 16 concurrent
   clients, and cache-miss renders per second with 1 and with 2 worker processes.
"""

from __future__ import annotations

import time

import cairosvg
import requests

from bench.common import (
    CONCURRENCY,
    bench_account_key,
    concurrent,
    farm_env,
    plain_cairosvg,
    stats,
)
from renders.management.commands.kiln_gallery import builtins, render_svg_source
from tests.support.processes import free_port, start_web, start_worker
from workers.rasterise import render_svg

SLUG = "blog-post"


def _blog_post():
    return next(template for template in builtins() if template.slug == SLUG)


def bench_in_process(n: int = 240) -> str:
    template = _blog_post()
    titles = [f"How we render ten thousand social cards a minute, take {i}" for i in range(n)]
    kiln_ms: list[float] = []
    base_ms: list[float] = []
    kiln_size = base_size = 0
    render_svg_source(template, template.params(), 1200, 630)  # fonts loaded, not timed
    for index, title in enumerate(titles):
        params = template.params(title=title)
        start = time.perf_counter()
        svg = render_svg_source(template, params, 1200, 630)
        png = render_svg(svg.encode(), format="png", width=1200, height=630).data
        kiln_ms.append((time.perf_counter() - start) * 1000)
        with plain_cairosvg():
            start = time.perf_counter()
            baseline = cairosvg.svg2png(bytestring=svg.encode())
            base_ms.append((time.perf_counter() - start) * 1000)
        if index == 0:
            kiln_size, base_size = len(png), len(baseline)
    k50, k95 = stats(kiln_ms)
    b50, b95 = stats(base_ms)
    return "\n".join(
        [
            f"### Template `{SLUG}` 1200×630 PNG, in-process ({n} renders each, a new title "
            "every render)",
            "",
            "| path | median ms | p95 ms | PNG bytes |",
            "|---|---|---|---|",
            f"| Kiln: Jinja + text engine + rasterise + encode | {k50:.1f} | {k95:.1f} | "
            f"{kiln_size} |",
            f"| baseline: `cairosvg.svg2png` of the same final SVG | {b50:.1f} | {b95:.1f} | "
            f"{base_size} |",
            f"| ratio baseline / Kiln (> 1 = Kiln faster) | {b50 / k50:.2f}× | | |",
            "",
            f"PNG bytes: {kiln_size / base_size:.2f}× the baseline's.",
        ]
    )


def _miss_rate(base: str, key: str, processes: int, env: dict, n: int, run_id: str) -> float:
    worker = start_worker(env, name=f"bench-tpl-{processes}", queues="svg", concurrency=processes)
    headers = {"Authorization": f"Bearer {key}", "Accept": "image/png"}

    def miss(i: int) -> None:
        body = {"template": SLUG, "params": {"title": f"Rate {run_id} {processes} {i}"}}
        response = requests.post(f"{base}/v1/images", json=body, headers=headers, timeout=60)
        assert response.status_code == 200, response.text[:300]

    try:
        concurrent(miss, 8)  # warm: fonts and templates loaded in every process
        started = time.perf_counter()
        concurrent(miss, n)
        return n / (time.perf_counter() - started)
    finally:
        worker.stop()


def bench_http(misses: int = 160, hits: int = 800) -> str:
    key = bench_account_key()
    env = farm_env()
    port = free_port()
    web = start_web({**env, "WEB_CONCURRENCY": "2"}, name="bench-tpl-web", port=port)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}", "Accept": "image/png"}
    run_id = str(time.time_ns() % 10**8)
    try:
        worker = start_worker(env, name="bench-tpl", queues="svg", concurrency=2)
        try:

            def miss(i: int) -> None:
                body = {"template": SLUG, "params": {"title": f"Miss {run_id} number {i}"}}
                r = requests.post(f"{base}/v1/images", json=body, headers=headers, timeout=60)
                assert r.status_code == 200, r.text[:300]

            hot = {"template": SLUG, "params": {"title": f"Hot {run_id}"}}
            requests.post(f"{base}/v1/images", json=hot, headers=headers).raise_for_status()

            def hit(i: int) -> None:
                r = requests.post(f"{base}/v1/images", json=hot, headers=headers, timeout=60)
                assert r.status_code == 200, r.text[:300]

            concurrent(miss, 16)  # warm up every process
            miss_ms = concurrent(miss, misses)
            hit_ms = concurrent(hit, hits)
        finally:
            worker.stop()
        rate_1 = _miss_rate(base, key, 1, env, misses, run_id)
        rate_2 = _miss_rate(base, key, 2, env, misses, run_id)
    finally:
        web.stop()
    rows = [
        f"### Template `{SLUG}` over HTTP through the farm (gunicorn 2×4 threads, svg worker "
        f"× 2 processes, {CONCURRENCY} concurrent clients)",
        "",
        "| request | n | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for name, samples in (
        ("`POST /v1/images` template, cache miss", miss_ms),
        ("`POST /v1/images` template, cache hit", hit_ms),
    ):
        p50, p95 = stats(samples)
        rows.append(f"| {name} | {len(samples)} | {p50:.1f} | {p95:.1f} |")
    rows += [
        "",
        "| svg worker processes | cache-miss renders/s |",
        "|---|---|",
        f"| 1 | {rate_1:.1f} |",
        f"| 2 | {rate_2:.1f} ({rate_2 / rate_1:.2f}×) |",
    ]
    return "\n".join(rows)


def main() -> str:
    return "\n\n".join([bench_in_process(), bench_http()])
