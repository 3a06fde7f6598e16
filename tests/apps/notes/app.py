"""A fixture for the add-on tests: rows in PostgreSQL, keys in Redis.

GET /count?var=DATABASE_URL   rows in `notes` (the table is made on demand)
GET /add?n=10&var=...         inserts n rows
GET /set?key=k&value=v        Redis SET, through REDIS_URL
GET /get?key=k                Redis GET
"""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pg8000.native
import redis


def database(var):
    url = urlparse(os.environ[var])
    connection = pg8000.native.Connection(
        url.username, host=url.hostname, port=url.port or 5432,
        database=url.path.lstrip("/"), password=url.password, timeout=30)
    connection.run("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text)")
    return connection


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        var = query.get("var", "DATABASE_URL")
        try:
            if url.path == "/count":
                db = database(var)
                body = str(db.run("SELECT count(*) FROM notes")[0][0])
                db.close()
            elif url.path == "/add":
                db = database(var)
                n = int(query.get("n", "1"))
                db.run("INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, :n) g", n=n)
                body = str(db.run("SELECT count(*) FROM notes")[0][0])
                db.close()
            elif url.path == "/set":
                redis.from_url(os.environ["REDIS_URL"]).set(query["key"], query["value"])
                body = "OK"
            elif url.path == "/get":
                value = redis.from_url(os.environ["REDIS_URL"]).get(query["key"])
                body = value.decode() if value is not None else "(nil)"
            else:
                body = "notes on " + os.environ.get("DYNO", "?")
            status = 200
        except Exception as error:  # the test reads what went wrong
            status, body = 500, f"{type(error).__name__}: {error}"
        data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
