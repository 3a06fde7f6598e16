"""A Procfile-only app: the stack's Python and nothing to build."""
import http.server
import os


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        greeting = os.environ.get("GREETING", "Hello")
        body = f"{greeting} from {os.environ.get('DYNO', '?')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print(f"{self.command} {self.path}", flush=True)


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Hello).serve_forever()
