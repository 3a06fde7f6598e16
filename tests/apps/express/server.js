const express = require("express");

const app = express();

app.get("/", (req, res) => {
  res.type("text/plain").send(`Hello from Express on ${process.env.DYNO}\n`);
});

const port = process.env.PORT || 3000;
app.listen(port, () => console.log(`Listening on port ${port}`));
