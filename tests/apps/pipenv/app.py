"""A Flask app installed from Pipfile.lock, served by gunicorn."""
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return f"Hello from Pipenv on {os.environ.get('DYNO', '?')}\n"
