// <ai-img>: Kiln's async AI image as a framework-agnostic custom element (SPEC §8).
//
//   <script type="module" src="https://kiln.example/static/kiln/ai-img.js"></script>
//   <ai-img prompt="a red fox in snow" w="512" h="512" api-key="kiln_sk_…"></ai-img>
//   <ai-img src="/ai/512x512/{id}.png" status="/ai/{id}/status"></ai-img>
//
// Prompt mode POSTs {prompt, w, h, seed?, model?} to `${endpoint}/ai`, then polls the
// job's status; URL mode (`src`, optional `status`) only polls. A placeholder shows at
// once, polls back off exponentially from 500 ms to a 5 s cap, and the final image is
// swapped in without a reload. `data-state` mirrors the job's state (pending,
// generating, ready, failed, blocked); `ai-img:ready` and `ai-img:failed` bubble.
//
// Importing the module defines <ai-img>; `registerAiImg(name)` defines another name.

const DEFAULT_WIDTH = 400;
const DEFAULT_HEIGHT = 300;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;
// Network errors while polling are retried (with the same backoff) this many times.
const MAX_POLL_ERRORS = 8;
const FINISHED = new Set(["ready", "failed", "blocked"]);

function positiveInt(value, fallback) {
  const n = Number.parseInt(value ?? "", 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

// Shown before the server has a URL for us (prompt mode, while POST /ai is in flight).
function localPlaceholder(width, height) {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<defs><linearGradient id="g" x2="1" y2="1"><stop offset="0" stop-color="#eceef3"/>` +
    `<stop offset="1" stop-color="#d9dde7"/></linearGradient></defs>` +
    `<rect width="100%" height="100%" fill="url(#g)"/></svg>`;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

// The same URL serves the placeholder and, later, the final image; the browser's image
// cache would keep showing the placeholder, so each state gets its own query string.
function withState(url, state) {
  const u = new URL(url);
  u.searchParams.set("state", state);
  return u.href;
}

export class AiImg extends HTMLElement {
  static get observedAttributes() {
    return ["prompt", "w", "h", "src", "status", "endpoint", "api-key", "seed", "model", "alt"];
  }

  constructor() {
    super();
    this._run = 0;
    this._timer = null;
    this._img = null;
  }

  connectedCallback() {
    this._start();
  }

  disconnectedCallback() {
    this._stop();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue || !this.isConnected) return;
    if (name === "alt") {
      if (this._img) this._img.alt = newValue ?? "";
      return;
    }
    this._start();
  }

  // --- helpers -------------------------------------------------------------------------

  _stop() {
    this._run += 1; // every pending callback of an older run sees it is stale
    clearTimeout(this._timer);
    this._timer = null;
  }

  _endpoint() {
    const endpoint = (this.getAttribute("endpoint") || "").replace(/\/+$/, "");
    return endpoint ? new URL(endpoint, document.baseURI).href : "";
  }

  // Server paths ("/ai/…") hang below `endpoint` (which may carry a path prefix).
  _resolve(path) {
    const endpoint = this._endpoint();
    if (endpoint && path.startsWith("/")) return new URL(endpoint + path).href;
    return new URL(path, endpoint ? `${endpoint}/` : document.baseURI).href;
  }

  _setState(state) {
    this.dataset.state = state;
    this.setAttribute("aria-busy", FINISHED.has(state) ? "false" : "true");
  }

  _emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  _image(width, height) {
    if (!this._img) {
      this._img = document.createElement("img");
      this._img.decoding = "async";
      this._img.style.display = "block";
      this._img.style.maxWidth = "100%";
      this._img.style.height = "auto";
      this.replaceChildren(this._img);
    }
    this._img.width = width;
    this._img.height = height;
    this._img.alt = this.getAttribute("alt") ?? "";
    return this._img;
  }

  // --- the life of one element ---------------------------------------------------------

  async _start() {
    this._stop();
    const run = this._run;
    const width = positiveInt(this.getAttribute("w"), DEFAULT_WIDTH);
    const height = positiveInt(this.getAttribute("h"), DEFAULT_HEIGHT);
    const img = this._image(width, height);
    let src = this.getAttribute("src");
    let status = this.getAttribute("status");
    this._setState("pending");

    if (!src) {
      const prompt = this.getAttribute("prompt");
      if (!prompt) return;
      img.src = localPlaceholder(width, height);
      const job = await this._submit(prompt, width, height);
      if (run !== this._run) return;
      if (job.error) {
        this._fail(null, "failed", job.error, job.code);
        return;
      }
      src = job.url;
      status = job.status_url;
      // The server fits sizes to what the model makes: show the size it will serve.
      this._image(positiveInt(job.w, width), positiveInt(job.h, height));
    }
    this._src = this._resolve(src);
    // The server answers this URL with its placeholder until the image is ready.
    img.src = this._src;
    if (!status) {
      const match = /\/ai\/\d+x\d+\/([0-9a-f]+)\.png/.exec(new URL(this._src).pathname);
      if (!match) return;
      status = this._src.replace(/\/ai\/\d+x\d+\/[0-9a-f]+\.png.*$/, `/ai/${match[1]}/status`);
    }
    this._poll(run, this._resolve(status), FIRST_DELAY_MS, 0);
  }

  async _submit(prompt, width, height) {
    const body = { prompt, w: width, h: height };
    const seed = this.getAttribute("seed");
    const model = this.getAttribute("model");
    if (seed !== null && seed !== "") body.seed = Number(seed);
    if (model) body.model = model;
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    const key = this.getAttribute("api-key");
    if (key) headers.Authorization = `Bearer ${key}`;
    try {
      const response = await fetch(this._resolve("/ai"), {
        method: "POST",
        headers,
        body: JSON.stringify(body),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        const error = data.error || {};
        return { error: error.message || `HTTP ${response.status}`, code: error.code };
      }
      return data;
    } catch (error) {
      return { error: String(error) };
    }
  }

  async _poll(run, statusUrl, delay, errors) {
    let data = null;
    try {
      const response = await fetch(statusUrl, {
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (response.ok) data = await response.json();
      else if (response.status < 500) {
        const error = ((await response.json().catch(() => ({}))).error || {}).message;
        if (run === this._run) this._fail(this._src, "failed", error || `HTTP ${response.status}`);
        return;
      }
    } catch {
      data = null; // offline or a network hiccup: try again later
    }
    if (run !== this._run) return;
    if (data === null) {
      if (errors + 1 >= MAX_POLL_ERRORS) {
        this._fail(this._src, "failed", "status unreachable");
        return;
      }
    } else if (data.state === "ready") {
      this._ready(run, data);
      return;
    } else if (data.state === "failed" || data.state === "blocked") {
      this._fail(this._src, data.state, data.error, data.error_code);
      return;
    } else if (data.state) {
      this._setState(data.state);
    }
    this._timer = setTimeout(
      () => this._poll(run, statusUrl, Math.min(delay * 2, MAX_DELAY_MS), data ? 0 : errors + 1),
      delay,
    );
  }

  _ready(run, data) {
    const url = data.url ? this._resolve(data.url) : this._src;
    const finalSrc = withState(url, "ready");
    // Load it off-screen first, so the placeholder is replaced only by a whole image.
    const loader = new Image();
    loader.onload = () => {
      if (run !== this._run) return;
      this._img.src = finalSrc;
      this._setState("ready");
      this._emit("ai-img:ready", { id: data.id, url, state: "ready" });
    };
    loader.onerror = () => {
      if (run === this._run) this._fail(url, "failed", "the image could not be loaded");
    };
    loader.src = finalSrc;
  }

  _fail(src, state, error, code) {
    if (src && this._img) this._img.src = withState(src, state); // the server's glyph
    this._setState(state);
    this._emit("ai-img:failed", { state, error: error || state, code: code || null });
  }
}

export function registerAiImg(name = "ai-img") {
  if (!customElements.get(name)) {
    // A subclass per name: one constructor can back only one element name.
    customElements.define(name, class extends AiImg {});
  }
  return customElements.get(name);
}

registerAiImg();
