const fs = require("fs");
const http = require("http");
const ms = require("ms");

const built = fs.readFileSync("build.txt", "utf8").trim();
let pruned = true;
try {
  require.resolve("is-number");
  pruned = false;
} catch {}

http
  .createServer((req, res) => {
    res.setHeader("Content-Type", "text/plain");
    res.end(
      `Hello from npm on ${process.env.DYNO} (${built}, devDependencies pruned: ${pruned}, a minute is ${ms(60000)})\n`
    );
  })
  .listen(process.env.PORT || 3000);
