// The build step needs a devDependency; the buildpack prunes it afterwards.
const isNumber = require("is-number");

require("fs").writeFileSync("build.txt", `built: ${isNumber(42)}\n`);
