// The Satori + resvg-js baseline of bench/tree.py: `node render.mjs` renders a Kiln tree
// template (the reference's JSON format) in batches and answers with timings, one JSON
// line per line it reads, so the bench can interleave its batches with Kiln's.
//
// The first line sets the job up: {"tree": {...}, "params": {...}, "width": 1200,
//   "height": 630, "warmup": 20, "fonts": [{"name", "path", "weight", "style"}],
//   "png": "/tmp/out.png" (optional: the first timed render's PNG is written there)}
//   → {"versions": {...}} once the warm-up renders are done.
// Each further line is a batch: {"titles": ["...", ...]}
//   → {"total_ms": [...], "satori_ms": [...], "resvg_ms": [...], "png_bytes": n}
//
// The JSON tree becomes Satori's element objects as a template would hand them over:
// `{type, props: {tw, style, children, src}}`, `{{name}}` filled from the params (the
// title replaced per render), a node with an empty `when` param dropped. Satori reads the
// `tw` prop itself. Fonts are read once and passed as the same objects every render
// (Satori keeps parsed fonts per object, as Kiln keeps its faces). resvg gets Satori's
// SVG, whose text is already paths, so it loads no system fonts.
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import readline from "node:readline";
import { Resvg } from "@resvg/resvg-js";
import satori from "satori";

const PARAM = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g;
const fill = (text, values) => text.replace(PARAM, (_, name) => values[name] ?? "");

function element(node, values) {
  if (node.when && !values[node.when]) return null;
  const props = {};
  if (node.tw) props.tw = fill(node.tw, values);
  if (node.style) {
    props.style = {};
    for (const [name, value] of Object.entries(node.style)) {
      const filled = typeof value === "string" ? fill(value, values) : value;
      if (filled !== "") props.style[name] = filled;
    }
  }
  if (node.src !== undefined) props.src = fill(node.src, values);
  if (node.text !== undefined) props.children = fill(String(node.text), values);
  else if (node.children) {
    props.children = node.children.map((child) => element(child, values)).filter(Boolean);
  }
  return { type: node.type, props };
}

async function render(title) {
  const values = { ...job.params, title };
  const started = performance.now();
  const svg = await satori(element(job.tree, values), {
    width: job.width,
    height: job.height,
    fonts,
  });
  const drawn = performance.now();
  const png = new Resvg(svg, {
    fitTo: { mode: "original" },
    font: { loadSystemFonts: false },
  })
    .render()
    .asPng();
  const done = performance.now();
  return { png, total: done - started, satori: drawn - started, resvg: done - drawn };
}

let job;
let fonts;
let pngWritten = false;

function versions() {
  const version = (name) =>
    JSON.parse(fs.readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url)))
      .version;
  return { node: process.versions.node, satori: version("satori"), resvg: version("@resvg/resvg-js") };
}

async function handle(request) {
  if (job === undefined) {
    job = request;
    fonts = job.fonts.map((font) => ({
      name: font.name,
      data: fs.readFileSync(font.path),
      weight: font.weight,
      style: font.style,
    }));
    for (let i = 0; i < (job.warmup ?? 0); i++) await render(`Warm-up ${i}`);
    return { versions: versions() };
  }
  const out = { total_ms: [], satori_ms: [], resvg_ms: [], png_bytes: 0 };
  for (const title of request.titles) {
    const { png, total, satori: s, resvg } = await render(title);
    out.total_ms.push(total);
    out.satori_ms.push(s);
    out.resvg_ms.push(resvg);
    out.png_bytes ||= png.length;
    if (job.png && !pngWritten) {
      fs.writeFileSync(job.png, png);
      pngWritten = true;
    }
  }
  return out;
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  if (line.trim()) process.stdout.write(`${JSON.stringify(await handle(JSON.parse(line)))}\n`);
}
