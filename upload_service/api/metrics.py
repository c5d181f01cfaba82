"""``GET /metrics``: Prometheus metrics, like ``/healthz`` without credentials or rate limit.

Request counts, durations and uploaded bytes count every request of the instance, whichever
gunicorn worker answered it. ``upload-service serve`` runs prometheus-client's multiprocess mode:
it gives its workers one private directory (``PROMETHEUS_MULTIPROC_DIR``), each worker writes its
values to its own memory-mapped files there, and a scrape adds up all the files. A worker that
dies leaves its counts behind, so totals never go down. Without that directory (an app built in
a test, or ``flask run``) the values are the process's own.

File and user totals are read from the database at scrape time (two aggregate queries).
Each app has its own registry: nothing is global, and tests build as many apps as they like.
See docs/metrics.md.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from upload_service.api.described import documented, text_reply
from upload_service.db import Database
from upload_service.runtime import Runtime
from upload_service.services.stats import stored_totals

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

# Endpoints that store files, by kind of upload; their answers list the stored files' sizes.
UPLOAD_ENDPOINTS = {
    "uploads.upload_json": "base64_json",
    "uploads.upload_temporary_json": "base64_json",
    "files.files_upload": "multipart",
    "fs.fs_put": "raw",
}
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# prometheus_client's variable, set by ``upload-service serve`` before a worker imports it.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The collectors of one app, and the registry a scrape reads."""

    def __init__(self, db: Database, multiprocess_dir: str | None) -> None:
        self.registry = CollectorRegistry()
        # In multiprocess mode the values live in files, and the registry reads all the files;
        # registering this process's collectors as well would count its share twice.
        own = None if multiprocess_dir else self.registry
        self.requests = Counter(
            "upload_service_http_requests",
            "HTTP requests answered by this instance, by method and status class.",
            ["method", "status"],
            registry=own,
        )
        self.duration = Histogram(
            "upload_service_http_request_duration_seconds",
            "Time to produce a response (a streamed download's body is not included).",
            ["method"],
            buckets=DURATION_BUCKETS,
            registry=own,
        )
        self.uploaded_bytes = Counter(
            "upload_service_uploaded_bytes",
            "Bytes of files stored by successful uploads to this instance, by kind of upload.",
            ["kind"],
            registry=own,
        )
        self.uploaded_files = Counter(
            "upload_service_uploaded_files",
            "Files stored by successful uploads to this instance, by kind of upload.",
            ["kind"],
            registry=own,
        )
        workers = Gauge(
            "upload_service_worker_processes",
            "Worker processes of this instance that are alive and serving.",
            registry=own,
            multiprocess_mode="livesum",
        )
        workers.set(1)
        self.registry.register(StoredTotalsCollector(db))
        if multiprocess_dir:
            MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        else:
            # process_* describe one process; under several workers they would describe
            # whichever worker answered the scrape, so they are left out there.
            ProcessCollector(registry=self.registry)


class StoredTotalsCollector(Collector):
    """Gauges read from the database when scraped: files and bytes by state, users."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "upload_service_database_up", "Whether the scrape could read the database totals."
        )
        try:
            with self.db.session() as session:
                totals = stored_totals(session)
        except SQLAlchemyError:
            log.warning("metrics: cannot read totals from the database", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        files = GaugeMetricFamily(
            "upload_service_files", "Files stored, by state.", labels=["state"]
        )
        size = GaugeMetricFamily(
            "upload_service_files_bytes",
            "Logical bytes of stored files, by state.",
            labels=["state"],
        )
        found = totals.files_by_state
        for state in sorted({"complete", "temporary", *found}):
            count, total = found.get(state, (0, 0))
            files.add_metric([state], count)
            size.add_metric([state], total)
        yield files
        yield size
        yield GaugeMetricFamily("upload_service_users", "User accounts.", value=totals.users)


def _metrics() -> Metrics:
    metrics: Metrics = current_app.extensions["metrics"]
    return metrics


@bp.record_once
def _set_up(state: BlueprintSetupState) -> None:
    runtime: Runtime = state.app.extensions["upload_service"]
    multiprocess_dir = os.environ.get(MULTIPROCESS_DIR) or None
    state.app.extensions["metrics"] = Metrics(runtime.db, multiprocess_dir)
    # First of all hooks, so requests that an earlier hook answers (429) are timed too.
    state.app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


@bp.after_app_request
def _observe(response: Response) -> Response:
    metrics = _metrics()
    metrics.requests.labels(request.method, f"{response.status_code // 100}xx").inc()
    started = g.pop("metrics_started", None)
    if started is not None:
        metrics.duration.labels(request.method).observe(time.perf_counter() - started)
    kind = UPLOAD_ENDPOINTS.get(request.endpoint or "")
    if kind is not None and response.status_code in (200, 201):
        sizes = _stored_sizes(response)
        metrics.uploaded_files.labels(kind).inc(len(sizes))
        metrics.uploaded_bytes.labels(kind).inc(sum(sizes))
    return response


def _stored_sizes(response: Response) -> list[int]:
    """Sizes of the files in an upload's answer: ``{"files": [FileOut...]}`` or a FileOut."""
    body = response.get_json(silent=True)
    if not isinstance(body, dict):
        return []
    files = body.get("files", [body])
    return [item["size"] for item in files if isinstance(item, dict) and "size" in item]


@bp.get("/metrics")
@documented({200: text_reply("Prometheus text format.", "text/plain")}, public=True)
def metrics() -> Response:
    """Prometheus metrics of this process"""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(_metrics().registry), headers={"Content-Type": content_type})
