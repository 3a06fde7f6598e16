"""A plain WSGI app, not Django: it needs a Procfile to say how it runs."""
import os
import sys


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    python = ".".join(map(str, sys.version_info[:2]))
    return [f"Hello from plain Python on {os.environ.get('DYNO')} (Python {python})\n".encode()]
