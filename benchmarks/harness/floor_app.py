"""The floor of our stack for one small upload: a Flask route and nothing of ours behind it.

Served by the same gunicorn worker class, workers and threads as ``upload-service serve``
(``harness.servers.start_floor``), it answers ``PUT /<path>`` with 201 and a small JSON body
after reading the request body, and with ``FLOOR_DURABLE=1`` after writing it as our local
store does (temp file, fsync, rename, fsync of the directory). No token, no database, no
limiter: whatever our server does per upload comes on top of this figure.
"""

from __future__ import annotations

import os
import tempfile

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

ROOT = os.environ.get("FLOOR_ROOT", tempfile.gettempdir())
DURABLE = os.environ.get("FLOOR_DURABLE") == "1"

app = Flask(__name__)


@app.get("/")
def ready() -> ResponseReturnValue:
    return "ready"


@app.put("/<path:name>")
def put(name: str) -> ResponseReturnValue:
    data = request.get_data()
    if DURABLE:
        store(data, name.replace("/", "_"))
    return jsonify(path=name, size=len(data)), 201


def store(data: bytes, name: str) -> None:
    fd, temp = tempfile.mkstemp(dir=ROOT, prefix=".tmp-")
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, os.path.join(ROOT, name))
    directory = os.open(ROOT, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
