"""Tree templates (issue 15, "Performance"): the reference's `hero` tree at 1200×630 PNG,
in-process, Kiln's `tree` engine against Satori + resvg-js on the same tree and fonts
(imported by bench/run.py, which has set Django up; `python bench/tree.py` alone works
too).

- Kiln: the template parsed once, then per render `render_tree_svg` + `render_svg` (PNG),
  a new title every render (its number word is new, so shaping is not all cached).
- Satori: tools/tailwind/satori/render.mjs in one long-lived Node process (installed
  there with `npm ci` on first use), the same JSON tree as Satori element objects with
  `tw` props, the same titles, the same Inter files (found with fc-match), resvg-js for
  the PNG; warm-up renders first, as Kiln's fonts are loaded before timing. Each side
  times its own renders (perf_counter, performance.now): no process start, no pipe.

The two take turns in batches of n/10 renders, so the machine's drift hits both alike.
Then Kiln's split, on separate renders with the stages timed: layout (resolve + Taffy,
text measuring excluded), text (every `layout_text` call: measuring and drawing), SVG
(drawing the laid-out tree, text excluded), raster (cairosvg) and encode (PNG).
Targets: Kiln ≥ 3× faster than Satori + resvg at the median, PNG within 1.5× of resvg's.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import stats  # noqa: E402  (sets Django up for the font registry)
from tests.support.tree_reference import REFERENCE_HERO  # noqa: E402
from workers import rasterise  # noqa: E402
from workers.tree import layout as tree_layout  # noqa: E402
from workers.tree import layout_tree, parse_tree_template, render_tree_svg  # noqa: E402
from workers.tree.draw import draw_svg  # noqa: E402

SATORI = ROOT / "tools" / "tailwind" / "satori"
INSTALL = ROOT / "tools" / "tailwind" / "install"
WIDTH, HEIGHT = 1200, 630
# The reference's `hero`, as its API documentation gives it ("Template structure").
HERO = REFERENCE_HERO
PARAMS = {"subtitle": "World", "eyebrow": "My Site"}
# Classes Satori's built-in Tailwind does not know, as the arbitrary value it does read
# (same colour): without it Satori leaves the background transparent.
SATORI_CLASSES = {"bg-slate-950": "bg-[#020617]"}


def _satori_tree(node: dict) -> dict:
    node = dict(node)
    if "tw" in node:
        node["tw"] = " ".join(SATORI_CLASSES.get(name, name) for name in node["tw"].split())
    if "children" in node:
        node["children"] = [_satori_tree(child) for child in node["children"]]
    return node


def _titles(n: int, tag: str) -> list[str]:
    return [f"Shipping social cards {tag}{i} times a day" for i in range(n)]


def _inter_files() -> list[dict]:
    """Inter Regular and Bold, the files Kiln's registry uses, as fontconfig finds them."""
    fonts = []
    for style, weight in (("regular", 400), ("bold", 700)):
        path = subprocess.run(
            ["fc-match", "-f", "%{file}", f"Inter:{style}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if "Inter" not in Path(path).name:
            raise RuntimeError(f"fontconfig has no Inter {style} (got {path!r})")
        fonts.append({"name": "Inter", "path": path, "weight": weight, "style": "normal"})
    return fonts


def kiln_renders(template, titles: list[str]) -> tuple[list[float], int]:
    """ms per render (SVG + PNG) and the first PNG's size."""
    samples, size = [], 0
    for title in titles:
        start = time.perf_counter()
        svg = render_tree_svg(template, {**PARAMS, "title": title}, width=WIDTH, height=HEIGHT)
        png = rasterise.render_svg(svg.encode(), format="png", width=WIDTH, height=HEIGHT)
        samples.append((time.perf_counter() - start) * 1000)
        size = size or len(png.data)
    return samples, size


class Satori:
    """tools/tailwind/satori/render.mjs as one long-lived Node process (installed with
    `npm ci` on first use), set up with the tree, params and fonts, then asked for
    batches of renders so they can be interleaved with Kiln's."""

    def __init__(self, warmup: int = 20) -> None:
        subprocess.run([str(INSTALL), "satori"], check=True, timeout=900)
        self._scratch = tempfile.TemporaryDirectory()
        self.png = os.path.join(self._scratch.name, "satori.png")
        self._stderr = open(os.path.join(self._scratch.name, "stderr"), "w+")  # noqa: SIM115
        self._process = subprocess.Popen(
            ["node", str(SATORI / "render.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=SATORI,
        )
        job = {
            "tree": _satori_tree(HERO["tree"]),
            "params": {**HERO["defaults"], **PARAMS},
            "width": WIDTH,
            "height": HEIGHT,
            "warmup": warmup,
            "fonts": _inter_files(),
            "png": self.png,
        }
        self.versions = self._ask(job)["versions"]

    def _ask(self, request: dict) -> dict:
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise RuntimeError(f"render.mjs failed:\n{self._stderr.read()[-4000:]}")
        return json.loads(line)

    def renders(self, titles: list[str]) -> dict:
        return self._ask({"titles": titles})

    def warnings(self) -> list[str]:
        self._stderr.seek(0)
        return sorted(set(self._stderr.read().splitlines()) - {""})

    def close(self) -> None:
        self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()
        self._scratch.cleanup()


class _Clock:
    """Time spent inside the wrapped functions, per stage, for one render."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def wrap(self, stage: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - start) * 1000

        return timed


@contextlib.contextmanager
def _patched(module, name: str, replacement):
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def kiln_split(template, titles: list[str]) -> dict[str, list[float]]:
    """Per-stage ms of each render: render_tree_svg's two steps called one by one
    (layout_tree, draw_svg), render_svg with its encoder timed apart."""
    stages: dict[str, list[float]] = {
        k: [] for k in ("layout", "text", "svg", "raster", "encode", "total")
    }
    for title in titles:
        clock = _Clock()
        text = clock.wrap("text", tree_layout.layout_text)
        encode = clock.wrap("encode", rasterise._encode)
        with _patched(tree_layout, "layout_text", text), _patched(rasterise, "_encode", encode):
            start = time.perf_counter()
            root = layout_tree(template, {**PARAMS, "title": title}, width=WIDTH, height=HEIGHT)
            laid_out = time.perf_counter()
            text_in_layout = clock.ms.get("text", 0.0)
            svg = draw_svg(root, WIDTH, HEIGHT)
            drawn = time.perf_counter()
            rasterise.render_svg(svg.encode(), format="png", width=WIDTH, height=HEIGHT)
            done = time.perf_counter()
        text_total = clock.ms.get("text", 0.0)
        stages["layout"].append((laid_out - start) * 1000 - text_in_layout)
        stages["text"].append(text_total)
        stages["svg"].append((drawn - laid_out) * 1000 - (text_total - text_in_layout))
        stages["encode"].append(clock.ms["encode"])
        stages["raster"].append((done - drawn) * 1000 - clock.ms["encode"])
        stages["total"].append((done - start) * 1000)
    return stages


def main(n: int = 200, batches: int = 10) -> str:
    template = parse_tree_template(HERO)
    kiln_renders(template, _titles(20, "warm-up "))  # fonts and shaping loaded, not timed
    satori_node = Satori(warmup=20)
    try:
        kiln_ms: list[float] = []
        satori: dict = {"total_ms": [], "satori_ms": [], "resvg_ms": [], "png_bytes": 0}
        kiln_size = 0
        titles = _titles(n, "")
        size = n // batches
        for start in range(0, n, size):  # interleaved batches: drift hits both alike
            batch = titles[start : start + size]
            samples, first_size = kiln_renders(template, batch)
            kiln_ms += samples
            kiln_size = kiln_size or first_size
            answer = satori_node.renders(batch)
            for key in ("total_ms", "satori_ms", "resvg_ms"):
                satori[key] += answer[key]
            satori["png_bytes"] = satori["png_bytes"] or answer["png_bytes"]
        satori["versions"] = satori_node.versions
        satori["warnings"] = satori_node.warnings()
    finally:
        satori_node.close()
    split = kiln_split(template, _titles(max(40, n // 4), "split "))

    k50, k95 = stats(kiln_ms)
    s50, s95 = stats(satori["total_ms"])
    sv50, sv95 = stats(satori["satori_ms"])
    r50, r95 = stats(satori["resvg_ms"])
    ratio = s50 / k50
    size_ratio = kiln_size / satori["png_bytes"]
    versions = satori["versions"]
    rows = [
        f"### Tree template: the reference's `hero`, 1200×630 PNG, in-process ({n} renders "
        "each, a new title every render)",
        "",
        "| engine | median ms | p95 ms | PNG bytes |",
        "|---|---|---|---|",
        f"| Kiln `tree` (render_tree_svg + render_svg) | {k50:.1f} | {k95:.1f} | {kiln_size} |",
        f"| Satori {versions['satori']} + resvg-js {versions['resvg']} (Node "
        f"{versions['node']}) | {s50:.1f} | {s95:.1f} | {satori['png_bytes']} |",
        f"| … of which Satori (JSX → SVG) | {sv50:.1f} | {sv95:.1f} | |",
        f"| … of which resvg (SVG → PNG) | {r50:.1f} | {r95:.1f} | |",
        "",
        f"Satori / Kiln at the median: **{ratio:.2f}×** (target ≥ 3×: "
        f"{'met' if ratio >= 3 else 'NOT met'}); p95 {s95 / k95:.2f}×.",
        f"Kiln's PNG / resvg's: **{size_ratio:.2f}×** (target ≤ 1.5×: "
        f"{'met' if size_ratio <= 1.5 else 'NOT met'}).",
        "",
        f"Kiln's split ({len(split['total'])} renders timed by stage; medians, and each "
        "stage's share of the summed medians):",
        "",
        "| stage | median ms | p95 ms | share |",
        "|---|---|---|---|",
    ]
    medians = {stage: statistics.median(split[stage]) for stage in split}
    parts = sum(medians[s] for s in ("layout", "text", "svg", "raster", "encode"))
    labels = {
        "layout": "layout (params, cascade, Taffy; text excluded)",
        "text": "text (shaping, wrapping, glyph paths: every layout_text)",
        "svg": "SVG (drawing the laid-out tree; text excluded)",
        "raster": "raster (cairosvg parse + paint, pixels read into Pillow)",
        "encode": "encode (PNG, zlib level 3)",
        "total": "total (stages timed, with the timers' own cost)",
    }
    for stage, label in labels.items():
        p50, p95 = stats(split[stage])
        share = "" if stage == "total" else f"{100 * medians[stage] / parts:.0f} %"
        rows.append(f"| {label} | {p50:.2f} | {p95:.2f} | {share} |")
    substituted = ", ".join(f"`{a}` → `{b}`" for a, b in SATORI_CLASSES.items())
    rows += ["", f"Satori's tree: {substituted} (a class its Tailwind lacks, same colour)."]
    if satori["warnings"]:
        rows.append("Satori warned: " + "; ".join(satori["warnings"][:5]))
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
