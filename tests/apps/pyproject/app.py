"""A Flask app installed from uv.lock, served by gunicorn."""
import os
import sys

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    version = ".".join(map(str, sys.version_info[:2]))
    return f"Hello from uv on {os.environ.get('DYNO', '?')} (Python {version})\n"
