"""A Flask app installed from poetry.lock, served by gunicorn."""
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return f"Hello from Poetry on {os.environ.get('DYNO', '?')}\n"
