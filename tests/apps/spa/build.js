// A stand-in for a bundler: writes dist/index.html and a fingerprinted
// script. It needs a devDependency, as a real bundler would be one.
const crypto = require("crypto");
const fs = require("fs");
const isNumber = require("is-number");

const script = `document.getElementById("app").textContent = "rendered by the script: ${isNumber(42)}";\n`;
const hash = crypto.createHash("sha256").update(script).digest("hex").slice(0, 8);
fs.rmSync("dist", { recursive: true, force: true });
fs.mkdirSync("dist/assets", { recursive: true });
fs.writeFileSync(`dist/assets/app.${hash}.js`, script);
fs.writeFileSync(
  "dist/index.html",
  `<!doctype html>
<title>SPA</title>
<h1>Hello from the single-page app</h1>
<div id="app"></div>
<script src="/assets/app.${hash}.js"></script>
`
);
console.log(`wrote dist/index.html and dist/assets/app.${hash}.js`);
