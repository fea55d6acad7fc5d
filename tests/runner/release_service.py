"""A small real HTTP service whose release the deployment steps change (the tests' system under deployment).

``python release_service.py DIR PORT`` serves, reading DIR on every request, so a step that rewrites a file
changes what it answers at once:
  DIR/version  what GET /version answers
  DIR/health   "ok" makes GET /health answer 200 "ok"; anything else 500 with that text
  DIR/feature  "on" switches the release's new feature on: /health then answers DIR/feature_health
  DIR/latency  seconds every answer waits first (e.g. 0.2); GET /metrics shows it to Prometheus
"""

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LIVE = Path(sys.argv[1])


def read(name: str, default: str) -> str:
    try:
        return (LIVE / name).read_text().strip()
    except OSError:
        return default


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server interface
        if self.path != "/metrics":
            time.sleep(float(read("latency", "0")))
        if self.path == "/metrics":  # for Prometheus: the latency the release is set to
            self._answer(200, f"release_latency_seconds {float(read('latency', '0'))}\n")
        elif self.path == "/version":
            self._answer(200, read("version", "none"))
        elif self.path == "/health":
            # A feature switched on (DIR/feature) answers with its own health (DIR/feature_health).
            feature_on = read("feature", "off") == "on"
            health = read("feature_health", "ok") if feature_on else read("health", "missing")
            self._answer(200 if health == "ok" else 500, health)
        else:
            self._answer(404, "no such page")

    def _answer(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
