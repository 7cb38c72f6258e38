"""The controller's own telemetry: Contract 2 metrics and structured JSON logs.

Per-scaler gauges are built fresh at each scrape from the last view the loop recorded
(prometheus/client_python's ``collect()`` pattern): a scaler whose metric could not be
read has no ``gpu_autoscaler_metric_value`` series for it at all — never a 0 that a
dashboard or alert would take for "idle" — and a deleted scaler's series disappear.
Counters and the reconcile histogram are ordinary prometheus_client objects on the
same private :class:`CollectorRegistry` (private, so tests can build many).

Besides Contract 2: ``gpu_autoscaler_min_replicas``, ``gpu_autoscaler_max_replicas``
and ``gpu_autoscaler_metrics_available`` (0/1) per scaler, which deploy/'s alerts use
("pinned at max for 30 min", "metrics unavailable for 5 min"), and
``gpu_autoscaler_unschedulable_replicas``: pods of the target that no node can take (no
free GPU), 0 when there are none, absent when the pods could not be read.

``gpu_autoscaler_replica_startup_seconds`` (Contract 2) is a histogram per scaler: each
replica's creation to Ready, observed once, when the controller first sees it Ready
(:mod:`autoscaler.core.startup`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: Reconcile of one scaler: three API calls and a decision take ~5-50 ms in a cluster;
#: the top buckets catch a slow API server or Prometheus (timeouts are 5 s).
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: ``gpu_autoscaler_errors_total`` kinds, one per step that can fail.
#: Creation to Ready of one replica: a cached image and a small model load in ~20 s, an
#: 8B LLM in ~2 min, a 70B download over a slow link in 10-30 min.
STARTUP_BUCKETS = (
    5.0,
    10.0,
    20.0,
    30.0,
    45.0,
    60.0,
    90.0,
    120.0,
    180.0,
    240.0,
    300.0,
    450.0,
    600.0,
    900.0,
    1200.0,
    1800.0,
    3600.0,
)

ERROR_KINDS = (
    "list_scalers",
    "invalid_spec",
    "get_scale",
    "list_pods",
    "get_metrics",
    "rescale",
    "write_status",
    "emit_event",
    "internal",
)


@dataclass(frozen=True)
class MetricView:
    key: str
    value: float | None  # None: unavailable this poll (no series is exported)
    target: float


@dataclass(frozen=True)
class ScalerView:
    """What the loop last saw and decided for one scaler."""

    namespace: str
    scaler: str
    current_replicas: int | None
    desired_replicas: int | None
    min_replicas: int | None
    max_replicas: int | None
    metrics_available: bool
    metrics: tuple[MetricView, ...] = ()
    unschedulable_replicas: int | None = None  # None: the pods were not read this poll


class _ScalerCollector(Collector):
    def __init__(self, telemetry: Telemetry):
        self._telemetry = telemetry

    def collect(self) -> Iterator[Metric]:
        views = self._telemetry.views()
        labels = ["namespace", "scaler"]
        families = {
            name: GaugeMetricFamily(f"gpu_autoscaler_{name}", doc, labels=labels)
            for name, doc in (
                ("current_replicas", "Replicas of the scale target (scale.spec.replicas) at the last poll."),
                ("desired_replicas", "Replicas the last decision asked for."),
                ("min_replicas", "The scaler's minReplicas."),
                ("max_replicas", "The scaler's maxReplicas."),
                ("metrics_available", "1 when every metric of the scaler returned data at the last poll, else 0."),
                (
                    "unschedulable_replicas",
                    "Pods of the scale target that no node can take (PodScheduled False, "
                    "reason Unschedulable: no free GPU) at the last poll.",
                ),
            )
        }
        value = GaugeMetricFamily(
            "gpu_autoscaler_metric_value",
            "A metric's value at the last poll (absent when unavailable).",
            labels=labels + ["metric"],
        )
        target = GaugeMetricFamily("gpu_autoscaler_metric_target", "A metric's target.", labels=labels + ["metric"])
        for v in views:
            lv = [v.namespace, v.scaler]
            for name, number in (
                ("current_replicas", v.current_replicas),
                ("desired_replicas", v.desired_replicas),
                ("min_replicas", v.min_replicas),
                ("max_replicas", v.max_replicas),
                ("unschedulable_replicas", v.unschedulable_replicas),
            ):
                if number is not None:
                    families[name].add_metric(lv, number)
            families["metrics_available"].add_metric(lv, 1.0 if v.metrics_available else 0.0)
            for m in v.metrics:
                target.add_metric(lv + [m.key], m.target)
                if m.value is not None:
                    value.add_metric(lv + [m.key], m.value)
        yield from families.values()
        yield value
        yield target


class Telemetry:
    """The controller's registry and the handles the loop records into."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._views: dict[tuple[str, str], ScalerView] = {}
        self.scale_events = Counter(
            "gpu_autoscaler_scale_events",
            "Applied scale changes.",
            ["namespace", "scaler", "direction"],
            registry=self.registry,
        )
        self.errors = Counter(
            "gpu_autoscaler_errors", "Failures by the step that failed.", ["kind"], registry=self.registry
        )
        for kind in ERROR_KINDS:
            self.errors.labels(kind)  # present at 0 from the start, so rate() works at once
        self.reconcile_duration = Histogram(
            "gpu_autoscaler_reconcile_duration_seconds",
            "Time to reconcile one scaler.",
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.replica_startup = Histogram(
            "gpu_autoscaler_replica_startup_seconds",
            "Creation to Ready of each new replica of the scale target, measured.",
            ["namespace", "scaler"],
            buckets=STARTUP_BUCKETS,
            registry=self.registry,
        )
        self.leader = Gauge(
            "gpu_autoscaler_leader", "1 while this process holds the leader lease.", registry=self.registry
        )
        self.registry.register(_ScalerCollector(self))

    def record(self, view: ScalerView) -> None:
        with self._lock:
            self._views[(view.namespace, view.scaler)] = view

    def forget(self, namespace: str, scaler: str) -> None:
        with self._lock:
            self._views.pop((namespace, scaler), None)
        with contextlib.suppress(KeyError):  # never observed
            self.replica_startup.remove(namespace, scaler)

    def forget_all(self) -> None:
        """On losing leadership: a standby reports nothing per scaler, so dashboards
        summing over controller pods see each scaler once."""
        with self._lock:
            self._views.clear()

    def views(self) -> list[ScalerView]:
        with self._lock:
            return sorted(self._views.values(), key=lambda v: (v.namespace, v.scaler))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# --------------------------------------------------------------------------- logs


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg`` and any ``extra``
    fields the caller passed under the ``fields`` key (``logger.info("decision",
    extra={"fields": {...}})``), so a decision is one greppable, parseable line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def configure_logging(level: str = "info") -> Callable[[], None]:
    """JSON lines on stderr for the ``autoscaler`` loggers; quiet third-party loggers.

    Returns a function that puts the previous configuration back (the CLI calls it on
    exit, so that running the command in-process, as tests do, leaves no trace).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    ours = logging.getLogger("autoscaler")
    urllib3 = logging.getLogger("urllib3")
    saved = (root.level, ours.level, urllib3.level)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    ours.setLevel(level.upper())
    # urllib3 warns on every retry it makes; our own code logs the outcome once per
    # state change, so its per-attempt lines would only repeat it.
    urllib3.setLevel(logging.ERROR)

    def restore() -> None:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        ours.setLevel(saved[1])
        urllib3.setLevel(saved[2])

    return restore
