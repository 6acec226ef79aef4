# A small Flask application: a page, a route with a parameter, and the URL Flask builds for it
# (which includes the SCRIPT_NAME mod_wsgi/Gantry give it: /apps/hello.wsgi).
import os

from flask import Flask, jsonify, url_for

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello from Flask!\n"


@app.route("/greet/<name>")
def greet(name):
    return jsonify(greeting=f"Hello, {name}!", url=url_for("greet", name=name),
                   pid=os.getpid())
