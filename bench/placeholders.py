"""Placeholders (SPEC §7): the web stack's speed, and the render behind a new URL.

1. Over HTTP: the farm's web server (gunicorn with config/gunicorn.py: 2 workers × 4
   threads) under `wrk` on loopback, `/1200x630?text=hello` against `/bench/constant.svg`
   (bench/urls.py: a constant body of the same bytes), interleaved rounds in one run;
   requests/s and p99. The placeholder must reach ≥ 0.8× the constant view.
2. In-process: median time to draw and rasterise a 1200×630 placeholder nobody asked
   for before (a new text every render, so no cache answers): PNG and WebP.

`bench/run.py` calls `main()`; `python bench/placeholders.py` runs this section alone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.common import farm_env, stats  # noqa: E402
from tests.support.processes import VENV_BIN, Process, free_port, ready_or_stopped  # noqa: E402
from workers.placeholders import label_svg, seed_svg  # noqa: E402
from workers.rasterise import render_svg  # noqa: E402

PLACEHOLDER = "/1200x630?text=hello"
PLACEHOLDER_PNG = "/1200x630.png?text=hello"
CONSTANT = "/bench/constant.svg"
CONNECTIONS = 16
ROUNDS = 3
SECONDS = 6
TARGET = 0.8
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def start_farm_web(port: int) -> Process:
    """gunicorn exactly as the farm runs it (config/gunicorn.py), with the bench's URLs."""
    env = farm_env()
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        KILN_HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        WEB_THREADS="4",
        WEB_ACCESS_LOG="/dev/null",
    )
    web = Process(
        [str(VENV_BIN / "gunicorn"), "config.wsgi", "--config", "config/gunicorn.py"],
        env,
        log_name="bench-placeholders-web",
    )
    return ready_or_stopped(
        web,
        lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok,
        what="bench web server",
    )


def wrk(url: str, seconds: int) -> tuple[float, float]:
    """(requests/s, p99 ms) of `url` under wrk; every answer must be a 2xx."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors on {url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([0-9.]+)(us|ms|s)", out).groups()
    return rate, float(value) * _UNITS[unit]


def bench_http() -> str:
    if shutil.which("wrk") is None:
        return (
            "### Placeholders over HTTP\n\n`wrk` is missing: `bin/system-deps bench` installs it."
        )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_farm_web(port)
    results: dict[str, list[tuple[float, float]]] = {CONSTANT: [], PLACEHOLDER: []}
    try:
        placeholder = requests.get(base + PLACEHOLDER, timeout=10)
        constant = requests.get(base + CONSTANT, timeout=10)
        assert placeholder.status_code == constant.status_code == 200
        assert placeholder.content == constant.content  # the same payload on both routes
        png_bytes = len(requests.get(base + PLACEHOLDER_PNG, timeout=30).content)
        for url in (CONSTANT, PLACEHOLDER, PLACEHOLDER_PNG):
            wrk(base + url, 2)  # warm: both workers, the body cache, the connections
        for _ in range(ROUNDS):  # interleaved, so drift hits both alike
            for url in (CONSTANT, PLACEHOLDER):
                results[url].append(wrk(base + url, SECONDS))
        png_rate, png_p99 = wrk(base + PLACEHOLDER_PNG, SECONDS)
    finally:
        web.stop()

    def median(url: str, index: int) -> float:
        return sorted(sample[index] for sample in results[url])[ROUNDS // 2]

    ratio = median(PLACEHOLDER, 0) / median(CONSTANT, 0)
    verdict = "meets" if ratio >= TARGET else "MISSES"
    return "\n".join(
        [
            f"### Placeholders over HTTP (gunicorn 2 workers × 4 threads, wrk -t2 "
            f"-c{CONNECTIONS}, {ROUNDS} interleaved rounds of {SECONDS} s, medians)",
            "",
            "| route | requests/s | p99 ms |",
            "|---|---|---|",
            f"| `GET {CONSTANT}` (constant view, same {len(constant.content)} bytes) | "
            f"{median(CONSTANT, 0):.0f} | {median(CONSTANT, 1):.1f} |",
            f"| `GET {PLACEHOLDER}` | {median(PLACEHOLDER, 0):.0f} | "
            f"{median(PLACEHOLDER, 1):.1f} |",
            f"| `GET {PLACEHOLDER_PNG}` (cached PNG, {png_bytes} bytes, 1 round) | "
            f"{png_rate:.0f} | {png_p99:.1f} |",
            "",
            f"Placeholder / constant throughput: {ratio:.2f}× ({verdict} the {TARGET}× target).",
        ]
    )


def bench_render(n: int = 60) -> str:
    """Draw + rasterise + encode a 1200×630 placeholder no cache has seen."""
    label_svg(1200, 630, text="warm")  # fonts loaded, not timed
    rows = []
    for name, fmt, draw in (
        ("label `/1200x630.png?text=…`", "png", lambda i: label_svg(1200, 630, text=f"hello {i}")),
        ("label `/1200x630.webp?text=…`", "webp", lambda i: label_svg(1200, 630, text=f"hi {i}")),
        ("seed `/seed/…/1200x630.png`", "png", lambda i: seed_svg(f"bench-{i}", 1200, 630)),
    ):
        samples, size = [], 0
        for i in range(n):
            start = time.perf_counter()
            data = render_svg(draw(i).encode(), format=fmt, width=1200, height=630).data
            samples.append((time.perf_counter() - start) * 1000)
            size = len(data)
        p50, p95 = stats(samples)
        rows.append(f"| {name} | {p50:.1f} | {p95:.1f} | {size} |")
    return "\n".join(
        [
            f"### Placeholder 1200×630 rendered in-process ({n} renders each, each one new)",
            "",
            "| placeholder | median ms | p95 ms | bytes |",
            "|---|---|---|---|",
            *rows,
        ]
    )


def main() -> str:
    return "\n\n".join([bench_http(), bench_render()])


if __name__ == "__main__":
    print(main())
