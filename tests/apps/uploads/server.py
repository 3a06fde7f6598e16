"""A CMS's uploads, in small: writes and reads files under /app, and
says which version of the code runs (version.txt), for tests/storage.rs."""
import http.server
import os
import urllib.parse


class Files(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        path = os.path.join("/app", query.get("path", ""))
        try:
            if url.path == "/write":
                with open(path, "w") as f:
                    f.write(query["text"])
                self.answer(200, "wrote\n")
            elif url.path == "/read":
                with open(path) as f:
                    self.answer(200, f.read())
            elif url.path == "/version":
                with open("/app/version.txt") as f:
                    self.answer(200, f.read())
            else:
                self.answer(404, "no such page\n")
        except OSError as err:
            self.answer(404, f"{err}\n")

    def answer(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print(f"{self.command} {self.path}", flush=True)


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Files).serve_forever()
