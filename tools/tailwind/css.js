// Tailwind v3's real CSS for a set of classes, offline: `node css.js < classes.json`
// (a JSON array of class names) prints the stylesheet. Preflight (Tailwind's reset) is
// off: the test's own base stylesheet sets Satori's defaults instead. The base layer
// still carries the `--tw-*` variable defaults that gradients and shadows need.
"use strict";
const postcss = require("postcss");
const tailwindcss = require("tailwindcss");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", async () => {
  const classes = JSON.parse(input);
  const config = {
    content: [{ raw: classes.join(" "), extension: "html" }],
    corePlugins: { preflight: false },
    theme: {},
  };
  const result = await postcss([tailwindcss(config)]).process(
    "@tailwind base;\n@tailwind utilities;\n",
    { from: undefined },
  );
  process.stdout.write(result.css);
});
