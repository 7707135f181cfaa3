"""The browser pool (workers/browser/): a 1200×630 PNG of a local inline HTML card.

Imported by bench/run.py (`main() -> str`, Markdown); also runnable alone:
`.venv/bin/python bench/browser.py`.

1. PNG capture alternatives on one warm page: Playwright's `page.screenshot`, CDP
   `Page.captureScreenshot` as PNG (Chromium's encoder), with `optimizeForSpeed`, and
   that fast capture re-encoded by `workers.rasterise.encode_png`; WebP lossless
   re-encoded, JPEG for scale.
2. Warm pool vs the usual naive service pattern (warm browser, a new page per request,
   `page.set_content`, `page.screenshot(type="png")`), interleaved in one run: median,
   p95, PNG bytes, ratio.
3. Cold start (first render in a fresh process), renders/s with 1 and 2 processes, and
   RSS of a process (Python + Playwright's driver + Chromium) over 500 renders.
4. A URL screenshot of a local fixture page (fresh context per job, PNG and JPEG).
"""

from __future__ import annotations

import base64
import io
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import stats  # noqa: E402  (sets up the bench environment and Django)

CARD = """<!doctype html><html><head><meta charset="utf-8"><style>
html, body { margin: 0; width: 1200px; height: 630px; }
body { display: flex; align-items: center; justify-content: center;
       background: linear-gradient(135deg, #1d3557, #457b9d);
       font-family: Inter, "DejaVu Sans", sans-serif; }
.card { position: relative; box-sizing: border-box; width: 1080px; height: 510px;
        padding: 64px; border-radius: 32px; background: #f1faee;
        box-shadow: 0 24px 48px rgba(0, 0, 0, .25); }
h1 { margin: 72px 0 24px; font-size: 72px; line-height: 1.1; color: #1d3557; }
p { margin: 0; font-size: 34px; color: #457b9d; }
.dot { position: absolute; top: 48px; right: 64px; width: 120px; height: 120px;
       border-radius: 50%; background: #e63946; }
.tag { display: inline-block; margin-top: 40px; padding: 10px 22px; border-radius: 999px;
       background: #a8dadc; color: #1d3557; font-size: 26px; }
</style></head><body><div class="card"><div class="dot"></div>
<h1>Shipping images, fast</h1><p>kiln · a render farm you run yourself</p>
<span class="tag">render #{n}</span></div></body></html>"""

WIDTH, HEIGHT = 1200, 630


def card(n: int) -> str:
    return CARD.replace("{n}", str(n))


def render_card(n: int):
    """Card `n` through the pool: `render_html` with an HtmlSpec, as the worker does."""
    from workers.browser import render_html
    from workers.specs import HtmlSpec

    html = card(n)
    return render_html(html, HtmlSpec(html=html, width=WIDTH, height=HEIGHT, format="png"))


def _chromium() -> str:
    from workers.browser import config_from_settings

    path = config_from_settings().chromium_path
    if not path:
        raise SystemExit("no Chromium: apt-get install chromium")
    return path


# --- 1. capture alternatives ------------------------------------------------------------


def bench_capture_alternatives(n: int = 40) -> str:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from workers.rasterise import encode_png

    def reencode(data: bytes) -> bytes:
        return encode_png(Image.open(io.BytesIO(data)))

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium())
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        page.set_content(card(0))

        def cdp_shot(**params) -> bytes:
            return base64.b64decode(cdp.send("Page.captureScreenshot", params)["data"])

        variants = [
            ('Playwright `page.screenshot(type="png")`', lambda: page.screenshot(type="png")),
            ("CDP `captureScreenshot` png (Chromium's encoder)", lambda: cdp_shot(format="png")),
            (
                "CDP png `optimizeForSpeed`, as is",
                lambda: cdp_shot(format="png", optimizeForSpeed=True),
            ),
            (
                "CDP png `optimizeForSpeed` + `encode_png` (Kiln)",
                lambda: reencode(cdp_shot(format="png", optimizeForSpeed=True)),
            ),
            (
                "CDP webp lossless + `encode_png`",
                lambda: reencode(cdp_shot(format="webp", quality=100)),
            ),
            ("CDP jpeg q90 (not PNG; for scale)", lambda: cdp_shot(format="jpeg", quality=90)),
        ]
        results = []
        for name, fn in variants:
            fn()
            samples = []
            for _ in range(n):
                start = time.perf_counter()
                data = fn()
                samples.append((time.perf_counter() - start) * 1000)
            results.append((name, stats(samples), len(data)))
        browser.close()
    base_bytes = results[1][2]
    rows = [
        f"### PNG capture alternatives, one warm page, {WIDTH}×{HEIGHT} card ({n} each)",
        "",
        "| capture | median ms | p95 ms | bytes | bytes vs Chromium PNG |",
        "|---|---|---|---|---|",
    ]
    for name, (p50, p95), size in results:
        rows.append(f"| {name} | {p50:.1f} | {p95:.1f} | {size} | {size / base_bytes:.2f}× |")
    return "\n".join(rows)


# --- 2. warm pool vs naive ----------------------------------------------------------------


def bench_pool_vs_naive(blocks: int = 12, per_block: int = 10) -> tuple[str, dict]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium())
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})

        def naive(n: int) -> bytes:
            page = context.new_page()
            page.set_content(card(n))
            data = page.screenshot(type="png")
            page.close()
            return data

        def kiln(n: int) -> bytes:
            return render_card(n).data

        for i in range(5):  # both warm
            naive(i)
            kiln(i)
        kiln_ms: list[float] = []
        naive_ms: list[float] = []
        counter = 0
        for _ in range(blocks):  # interleaved blocks cancel the machine's drift
            for samples, fn in ((kiln_ms, kiln), (naive_ms, naive)):
                for _ in range(per_block):
                    counter += 1
                    start = time.perf_counter()
                    fn(counter)
                    samples.append((time.perf_counter() - start) * 1000)
        kiln_bytes, naive_bytes = len(kiln(0)), len(naive(0))
        browser.close()
    k50, k95 = stats(kiln_ms)
    b50, b95 = stats(naive_ms)
    n = len(kiln_ms)
    text = "\n".join(
        [
            f"### Inline HTML {WIDTH}×{HEIGHT} PNG, warm ({n} renders each, interleaved)",
            "",
            "| path | median ms | p95 ms | PNG bytes |",
            "|---|---|---|---|",
            f"| Kiln pool `render_html` | {k50:.1f} | {k95:.1f} | {kiln_bytes} |",
            '| naive: warm browser, new page, `set_content`, `page.screenshot(type="png")` | '
            f"{b50:.1f} | {b95:.1f} | {naive_bytes} |",
            f"| ratio naive / Kiln (> 1 = Kiln faster) | {b50 / k50:.2f}× | {b95 / k95:.2f}× | "
            f"{kiln_bytes / naive_bytes:.2f}× the bytes |",
        ]
    )
    return text, {"kiln_p50": k50, "naive_p50": b50}


# --- 3. processes: cold start, throughput, memory -------------------------------------------


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


_COLD = """
import json, time
t0 = time.perf_counter()
from workers.browser import render_html, get_pool
from workers.specs import HtmlSpec
t1 = time.perf_counter()
render_html(CARD, HtmlSpec(html=CARD, width=1200, height=630, format="png"))
t2 = time.perf_counter()
render_html(CARD, HtmlSpec(html=CARD, width=1200, height=630, format="png"))
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}))
get_pool().close()
"""


def bench_cold_start(runs: int = 3) -> str:
    results = []
    for _ in range(runs):
        code = f"CARD = {card(0)!r}\n" + _COLD
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    first = statistics.median(r["first"] for r in results) * 1000
    second = statistics.median(r["second"] for r in results) * 1000
    imported = statistics.median(r["import"] for r in results) * 1000
    return "\n".join(
        [
            f"### Cold start (a fresh process, median of {runs})",
            "",
            "| step | ms |",
            "|---|---|",
            f"| import `workers.browser` | {imported:.0f} |",
            f"| first render (Playwright driver + Chromium launch + page + render) | {first:.0f} |",
            f"| second render | {second:.0f} |",
        ]
    )


def _throughput_child(barrier, results, renders: int) -> None:
    from workers.browser import get_pool

    for i in range(5):
        render_card(i)
    barrier.wait()
    start = time.perf_counter()
    for i in range(renders):
        render_card(1000 + i)
    results.put((renders, time.perf_counter() - start))
    get_pool().close()


def bench_throughput(seconds_each: int = 40) -> str:
    ctx = multiprocessing.get_context("spawn")
    rows = [
        "### Renders per second, each process with its own pool (inline HTML card PNG)",
        "",
        "| processes | renders/s |",
        "|---|---|",
    ]
    base = None
    for processes in (1, 2):
        renders = max(20, seconds_each * 12 // processes)
        barrier = ctx.Barrier(processes + 1)
        results = ctx.Queue()
        children = [
            ctx.Process(target=_throughput_child, args=(barrier, results, renders))
            for _ in range(processes)
        ]
        for child in children:
            child.start()
        barrier.wait()
        start = time.perf_counter()
        done = [results.get(timeout=600) for _ in children]
        wall = time.perf_counter() - start
        for child in children:
            child.join(30)
        rate = sum(n for n, _ in done) / wall
        base = base or rate
        note = "" if processes == 1 else f" ({rate / base:.2f}×)"
        rows.append(f"| {processes} | {rate:.1f}{note} |")
    return "\n".join(rows)


def _memory_child(results, renders: int) -> None:
    from workers.browser import get_pool, process_tree_rss_mb

    samples = []
    for i in range(renders + 1):
        render_card(i)
        if i in (10, 100, 250, renders):
            pool = get_pool()
            pid = pool.browser_pid()
            chromium = process_tree_rss_mb(pid) if pid else 0.0
            samples.append((i, pool.rss_mb(), chromium, pool.launches))
    results.put(samples)
    get_pool().close()


def bench_memory(renders: int = 500) -> str:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_memory_child, args=(results, renders))
    child.start()
    samples = results.get(timeout=900)
    child.join(30)
    rows = [
        f"### Memory over {renders} renders in one process (resident anonymous + shared "
        "memory, summed over the process tree)",
        "",
        "| after renders | whole worker MB (Python + driver + Chromium) | Chromium tree MB "
        "| launches |",
        "|---|---|---|---|",
    ]
    for i, total, chromium, launches in samples:
        rows.append(f"| {i} | {total:.0f} | {chromium:.0f} | {launches} |")
    return "\n".join(rows)


# --- 4. URL screenshots -------------------------------------------------------------------


def bench_url(n: int = 20) -> str:
    from django.test import override_settings

    from tests.support.fixture_http import FixtureServer
    from workers.browser import screenshot
    from workers.specs import ScreenshotSpec

    server = FixtureServer().start()
    server.add("/", card(0))
    rows = [
        f"### URL screenshot of a local fixture page, {WIDTH}×{HEIGHT} ({n} each, fresh "
        "context per job, every request through the guarded fetcher)",
        "",
        "| format | dpr | median ms | p95 ms | bytes |",
        "|---|---|---|---|---|",
    ]
    try:
        with override_settings(KILN_GUARD_TEST_ENDPOINTS=[server.endpoint]):
            for format, dpr in (("png", 1), ("jpeg", 2)):
                samples, size = [], 0
                for i in range(n + 2):
                    start = time.perf_counter()
                    spec = ScreenshotSpec(
                        url=server.url("/"), width=WIDTH, height=HEIGHT, dpr=dpr, format=format
                    )
                    image = screenshot(spec)
                    if i >= 2:
                        samples.append((time.perf_counter() - start) * 1000)
                    size = len(image.data)
                p50, p95 = stats(samples)
                rows.append(f"| {format} | {dpr} | {p50:.1f} | {p95:.1f} | {size} |")
    finally:
        server.stop()
    return "\n".join(rows)


def main() -> str:
    from workers.browser import get_pool

    pool_vs_naive, _ = bench_pool_vs_naive()
    sections = [
        bench_capture_alternatives(),
        pool_vs_naive,
        bench_url(),
    ]
    get_pool().close()  # the process benches below each bring their own
    sections += [bench_cold_start(), bench_throughput(), bench_memory()]
    return "\n\n".join(sections)


if __name__ == "__main__":
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"Kiln browser bench, {when}, {os.cpu_count()} cores\n")
    print(main())
