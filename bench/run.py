"""`make bench`: Kiln's render paths against baselines measured in the same run.

Prints Markdown tables (medians, p95, ratios). The machine is shared and noisy, so only
ratios within one run mean much; absolute times drift.

1. Inline SVG, in-process: Kiln's engine (checks + rasterise + encode) vs a bare
   `cairosvg.svg2png` of the same SVG.
2. Over HTTP through the farm (gunicorn 2 workers + one svg worker with 2 processes +
   Redis + PostgreSQL), 16 concurrent clients: cache miss, cache hit, and `/healthz` as
   the floor of the web stack.
3. The template pool (bench/templates.py): built-in `blog-post`, in-process and farm.
4. The render path (bench/render_path.py): the `/og` cache hit vs a constant view and
   its database work per hit, the `POST /v1/images` cache hit vs `/healthz`, the cache
   miss vs the engine alone, and miss throughput at 4 and 16 clients.
5. Placeholders (bench/placeholders.py), when present.
6. The browser pool (bench/browser.py), when present.
7. Tree templates (bench/tree.py): the reference's `hero` tree, Kiln's `tree` engine vs
   Satori + resvg-js (Node, tools/tailwind/satori), and where Kiln's time goes.

Each section is printed as soon as it finishes; a section that fails prints its
traceback in its place and the others still run.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cairosvg  # noqa: E402
import requests  # noqa: E402

from bench.common import (  # noqa: E402
    BENCH_ENV,
    CONCURRENCY,
    bench_account_key,
    concurrent,
    farm_env,
    plain_cairosvg,
    stats,
    timed,
)
from tests.support.processes import STARTED, free_port, start_web, start_worker  # noqa: E402
from workers.rasterise import inspect_svg, render_svg  # noqa: E402

__all__ = ["BENCH_ENV", "CONCURRENCY", "concurrent", "stats", "timed"]


def card_svg(fill: str = "#1d3557") -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630">'
        f'<rect width="1200" height="630" fill="{fill}"/>'
        '<rect x="60" y="60" width="1080" height="510" rx="32" fill="#f1faee"/>'
        '<circle cx="1040" cy="160" r="60" fill="#e63946"/>'
        '<text x="110" y="300" font-family="DejaVu Sans" font-size="72" fill="#1d3557">'
        "Shipping images, fast</text>"
        '<text x="110" y="390" font-family="DejaVu Sans" font-size="36" fill="#457b9d">'
        "kiln · a render farm you run yourself</text></svg>"
    )


def bench_in_process(n: int = 100) -> str:
    svg = card_svg().encode()

    def kiln() -> None:
        inspect_svg(svg)
        render_svg(svg, format="png", width=1200, height=630)

    def baseline() -> None:
        with plain_cairosvg():
            cairosvg.svg2png(bytestring=svg)

    kiln_ms, base_ms = [], []
    for _ in range(n // 10):  # interleave to cancel drift
        kiln_ms += timed(kiln, 10)
        base_ms += timed(baseline, 10)
    k50, k95 = stats(kiln_ms)
    b50, b95 = stats(base_ms)
    kiln_size = len(render_svg(svg, format="png", width=1200, height=630).data)
    base_size = len(cairosvg.svg2png(bytestring=svg))
    return "\n".join(
        [
            f"### Inline SVG 1200×630 PNG, in-process ({n} renders each)",
            "",
            "| path | median ms | p95 ms | PNG bytes |",
            "|---|---|---|---|",
            f"| Kiln engine (inspect + rasterise + encode) | {k50:.1f} | {k95:.1f} | {kiln_size} |",
            f"| baseline: `cairosvg.svg2png` | {b50:.1f} | {b95:.1f} | {base_size} |",
            f"| ratio baseline / Kiln (> 1 = Kiln faster) | {b50 / k50:.2f}× | | |",
        ]
    )


def bench_http(misses: int = 160, hits: int = 800) -> str:
    key = bench_account_key()
    env = farm_env()
    port = free_port()
    web = start_web({**env, "WEB_CONCURRENCY": "2"}, name="bench-web", port=port)
    web_args_note = "gunicorn 2×4 threads"
    try:
        worker = start_worker(env, name="bench-svg", queues="svg", concurrency=2)
    except BaseException:
        web.stop()
        raise
    session = requests.Session()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}", "Accept": "image/png"}
    run_id = time.time_ns() % 0xFFFFFF

    def miss(i: int) -> None:
        fill = f"#{(run_id + i * 7919) % 0xFFFFFF:06x}"
        r = requests.post(f"{base}/v1/images", json={"svg": card_svg(fill)}, headers=headers)
        assert r.status_code == 200, r.text

    hot = {"svg": card_svg("#2a9d8f")}

    def hit(i: int) -> None:
        r = requests.post(f"{base}/v1/images", json=hot, headers=headers)
        assert r.status_code == 200, r.text

    def health(i: int) -> None:
        requests.get(f"{base}/healthz").raise_for_status()

    try:
        session.post(f"{base}/v1/images", json=hot, headers=headers).raise_for_status()
        concurrent(health, 64)  # warm up
        floor = concurrent(health, hits)
        hit_ms = concurrent(hit, hits)
        started = time.perf_counter()
        miss_ms = concurrent(miss, misses)
        miss_rate = misses / (time.perf_counter() - started)
    finally:
        worker.stop()
        web.stop()
    rows = [
        f"### Over HTTP through the farm ({web_args_note}, 1 svg worker × 2 processes, "
        f"{CONCURRENCY} concurrent clients)",
        "",
        "| request | n | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for name, samples in (
        ("`GET /healthz` (floor of the web stack)", floor),
        ("`POST /v1/images` cache hit, bytes", hit_ms),
        ("`POST /v1/images` cache miss, bytes", miss_ms),
    ):
        p50, p95 = stats(samples)
        rows.append(f"| {name} | {len(samples)} | {p50:.1f} | {p95:.1f} |")
    rows += ["", f"Cache-miss renders per second: {miss_rate:.1f}"]
    rows.append(
        f"Cache hit p50 / healthz p50: {stats(hit_ms)[0] / stats(floor)[0]:.2f}× "
        "(what auth, the cache lookup and reading the bytes cost over the bare stack)"
    )
    return "\n".join(rows)


def _module_main(name: str) -> Callable[[], str] | None:
    """`bench.<name>.main`, or None when the module is not there (an optional section).
    The import happens when the section runs, so an import error is that section's
    failure, not a silent skip."""
    if importlib.util.find_spec(f"bench.{name}") is None:
        return None
    return lambda: importlib.import_module(f"bench.{name}").main()


def run_section(name: str, section: Callable[[], str]) -> None:
    """Print one section as soon as it is done; a failure prints its traceback."""
    started = time.perf_counter()
    try:
        text = section()
    except Exception:
        text = f"### {name}: FAILED\n\n```\n{traceback.format_exc().rstrip()}\n```"
    finally:
        for process in STARTED:  # whatever a failed section left running
            process.stop_quietly()
    print(f"{text}\n\n<!-- {name}: {time.perf_counter() - started:.0f} s -->\n", flush=True)


def main() -> None:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"Kiln bench, {when}, {os.cpu_count()} cores\n", flush=True)
    sections: list[tuple[str, Callable[[], str] | None]] = [
        ("Inline SVG, in-process", bench_in_process),
        ("Inline SVG over HTTP", bench_http),
        ("Template pool", _module_main("templates")),
        ("Render path", _module_main("render_path")),
        ("Placeholders", _module_main("placeholders")),
        ("Browser pool", _module_main("browser")),
        ("Tree templates", _module_main("tree")),
    ]
    for name, section in sections:
        if section is not None:
            run_section(name, section)


if __name__ == "__main__":
    main()
