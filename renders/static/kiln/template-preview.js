// The template admin's live preview: as the source, schema, samples, size or font change,
// the form's fields are posted (debounced) to the admin's preview view, which validates
// and renders them exactly as saving would, and the image (or the error) is replaced.
(function () {
  "use strict";
  const FIELDS = ["engine", "source", "param_schema", "sample_params", "default_width",
                  "default_height", "default_font"];
  const DELAY_MS = 500;

  function start() {
    const box = document.getElementById("kiln-preview");
    if (!box) return;
    const image = box.querySelector("img");
    const error = box.querySelector("pre");
    const token = document.querySelector("input[name=csrfmiddlewaretoken]");
    let timer = null;
    let sent = 0;

    async function refresh() {
      const draft = {};
      for (const name of FIELDS) {
        const input = document.getElementById("id_" + name);
        if (input) draft[name] = input.value;
      }
      const mine = ++sent;
      box.dataset.state = "rendering";
      try {
        const response = await fetch(box.dataset.url, {
          method: "POST",
          headers: {"Content-Type": "application/json", "X-CSRFToken": token ? token.value : ""},
          body: JSON.stringify(draft),
          credentials: "same-origin",
        });
        const answer = await response.json();
        if (mine !== sent) return; // a newer edit is on its way
        if (answer.png) {
          image.src = "data:image/png;base64," + answer.png;
          image.style.display = "";
          error.textContent = "";
        } else {
          image.style.display = "none";
          error.textContent = answer.error || "preview failed";
        }
        box.dataset.state = answer.png ? "ready" : "error";
      } catch (exc) {
        if (mine === sent) { error.textContent = String(exc); box.dataset.state = "error"; }
      }
    }

    for (const name of FIELDS) {
      const input = document.getElementById("id_" + name);
      if (!input) continue;
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(refresh, DELAY_MS);
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
