"""A Flask app served by gunicorn, as on Heroku."""
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    greeting = os.environ.get("GREETING", "Hello")
    return f"{greeting} from Flask on {os.environ.get('DYNO', '?')}\n"
