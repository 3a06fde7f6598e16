// Answers the buildpack's questions about package.json in one run of node
// (each run costs ~80 ms, which a code-only rebuild would feel), so the shell
// scripts never parse JSON. Usage: node package.js PACKAGE_JSON COMMAND [ARG]
//
//   facts NPM_CLI   prints shell assignments for bin/compile to eval:
//     node_version, npm_version (of the npm whose npm-cli.js is NPM_CLI),
//     node_verdict/node_range and npm_verdict/npm_range for engines.node and
//     engines.npm (verdict: none, ok, unsatisfied, or invalid with the JSON
//     of what was given as the range), package_manager (the field),
//     scripts (the names, space-separated), has_dev (yes/no), workspaces
//     (yes/no), deps_hash (SHA-256 of the fields that decide node_modules)
//   script NAME     exits 0 when scripts.NAME exists
//
// A package.json that is not a JSON object prints why and exits 1.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const [file, command, arg] = process.argv.slice(2);
let pkg;
try {
  pkg = JSON.parse(fs.readFileSync(file, "utf8"));
} catch (e) {
  console.log(`package.json is not valid JSON: ${e.message}`);
  process.exit(1);
}
if (pkg === null || typeof pkg !== "object" || Array.isArray(pkg)) {
  console.log("package.json must hold a JSON object");
  process.exit(1);
}
const scripts = pkg.scripts && typeof pkg.scripts === "object" ? pkg.scripts : {};

// A word for the shell, single-quoted.
function sh(value) {
  return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

// engines.NAME against VERSION, with Debian's node-semver (npm's own
// dependency): the ranges npm itself accepts.
function engine(name, version) {
  const range = pkg.engines && typeof pkg.engines === "object" ? pkg.engines[name] : undefined;
  if (range === undefined || range === null || range === "") return ["none", ""];
  const semver = require("semver");
  if (typeof range !== "string" || semver.validRange(range) === null) {
    return ["invalid", JSON.stringify(range)];
  }
  return [semver.satisfies(version, range) ? "ok" : "unsatisfied", range];
}

if (command === "script") {
  process.exit(typeof scripts[arg] === "string" ? 0 : 1);
} else if (command === "facts") {
  const nodeVersion = process.version.replace(/^v/, "");
  const npmVersion = JSON.parse(
    fs.readFileSync(path.join(path.dirname(arg), "..", "package.json"), "utf8")
  ).version;
  const [nodeVerdict, nodeRange] = engine("node", nodeVersion);
  const [npmVerdict, npmRange] = engine("npm", npmVersion);
  const decisive = ["dependencies", "devDependencies", "optionalDependencies",
    "peerDependencies", "overrides", "resolutions", "pnpm", "workspaces"].map((k) => [k, pkg[k]]);
  const facts = {
    node_version: nodeVersion,
    npm_version: npmVersion,
    node_verdict: nodeVerdict,
    node_range: nodeRange,
    npm_verdict: npmVerdict,
    npm_range: npmRange,
    package_manager: typeof pkg.packageManager === "string" ? pkg.packageManager : "",
    scripts: Object.keys(scripts).filter((k) => typeof scripts[k] === "string" && /^[\w:.-]+$/.test(k)).join(" "),
    has_dev: pkg.devDependencies && Object.keys(pkg.devDependencies).length ? "yes" : "no",
    workspaces: pkg.workspaces ? "yes" : "no",
    deps_hash: crypto.createHash("sha256").update(JSON.stringify(decisive)).digest("hex"),
  };
  for (const [key, value] of Object.entries(facts)) console.log(`${key}=${sh(value)}`);
} else {
  console.error(`package.js: unknown command ${command}`);
  process.exit(2);
}
