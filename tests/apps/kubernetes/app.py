"""A fixture for the Kubernetes tests (#24): answers with its greeting
config var and the dyno it runs as, wherever its image runs."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        greeting = os.environ.get("GREETING", "no greeting")
        profile = os.environ.get("FROM_PROFILE_D", "no .profile.d")
        body = f"kube fixture says {greeting} on {os.environ.get('DYNO', '?')} ({profile})\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
