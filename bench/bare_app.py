"""The baseline: a bare Flask app with one POST route, served by the gateway's gunicorn config.

`gunicorn -c gunicorn.conf.py bench.bare_app:app` — same workers, threads and logging as the
gateway, so the ratio of the two throughputs shows what verify -> store -> enqueue costs.
"""

from flask import Flask, jsonify, request

app = Flask(__name__)
# gunicorn.conf.py's post_worker_init reads REDIS_URL to decide whether to start the embedded
# sweeper; a non-empty value keeps it from starting one inside this app.
app.config["REDIS_URL"] = "redis://not-used-by-the-bare-app"


@app.post("/webhooks/quickbooks")
def receive():
    body = request.get_data(cache=False)  # read the body, as the gateway does
    return jsonify(received=1, stored=1, duplicates=0, bytes=len(body))
