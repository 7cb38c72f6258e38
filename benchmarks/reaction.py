"""Benchmark: reaction time, from a model server's queue rising past its target to the PATCH.

Run from the repository root: ``python -m benchmarks.reaction [--runs N] [--config default|shipped|fast]``.

The whole chain runs for real on 127.0.0.1, as in tests/controller/test_e2e.py:

    fake model servers (simulations/cluster/model_servers.py, one per Deployment)
      -> gpu-exporter (in this process, one per node, faked NVML, discovering its node's pods
         through the emulator)
      -> Prometheus (Debian's binary, scraping the exporters)
      -> ``gpu-autoscaler run`` (a child process, official client, --no-leader-elect)
      -> API emulator (simulations/cluster/apiserver.py)

One run is one GPUScaler (QueueDepth, target 4 a pod) on its own one-pod Deployment,
on its own node with its own exporter. All runs share one Prometheus and one
controller: the exporters start spread over one exporter interval and the scalers are
created spread over one polling interval, so each run meets its own phases of
sampling, scraping (Prometheus offsets each target's scrapes) and polling, as pods
on different nodes do; each queue is raised from 0 to 8 (ceil(8 / 4) = 2 replicas) at
its own random moment within the longest interval. Each run's time line, every stamp
taken where it happened:

==============  ==============================================================  =========================
stamp           what                                                            from
==============  ==============================================================  =========================
raised          the fake server's queue was set to 8                            this process
sampled         the server answered the exporter with 8                         ModelServer.served
scraped         Prometheus's timestamp of the first sample reading 8            a range query
tick            the controller's tick (``now``) of the poll that scaled         its debug line "scaling"
queried         Prometheus finished that tick's batched queue query             Prometheus's query log
decided         the reconcile decided, just before the PATCH call               its debug line "scaling"
patched         the PATCH of ``/scale`` reached the emulator                    RequestRecord.received_at
==============  ==============================================================  =========================

The stages are the differences of consecutive stamps (exporter sample, scrape, poll
wait, query, decide, PATCH), so they add up to the total. A stage can come out a few
milliseconds negative when two steps overlap: Prometheus stamps a sample with the
scrape's start, which can precede the exporter's answer by the scrape's own duration;
a tick can start just before a scrape and query just after it.

Configurations: ``default`` is each part's default (exporter every 5 s, scrape every
15 s, poll every 15 s; goal: p95 <= poll + scrape = 30 s); ``shipped`` is what deploy/
sets up (the PodMonitor scrapes the exporter every 5 s; poll 15 s); ``fast`` is
everything at 1 s (goal: p95 <= 5 s). What a configuration costs is measured over a steady window
before the raises: samples Prometheus ingests per second, and the CPU of Prometheus
and of the controller process (per scaler, with the controller's fixed overhead
shared among the scalers, so an upper bound).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "reaction"
NODE_PREFIX = "gpu-node-"
TARGET = 4.0  # waiting requests a pod (the scaler's averageValue)
RAISED = 8.0  # ceil(1 pod x 8 / 4) = 2 replicas
STAGES = ("exporter sample", "scrape", "poll wait", "query", "decide", "PATCH")
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Config:
    """The intervals of one configuration, in seconds."""

    name: str
    exporter_s: float
    scrape_s: int
    poll_s: int
    #: The p95 goal (issue 12): one poll plus one scrape, or 5 s when fast.
    goal_s: float

    @property
    def period_s(self) -> float:
        """The longest interval: the raises and the scalers' creations spread over it."""
        return float(max(self.exporter_s, self.scrape_s, self.poll_s))


CONFIGS = {
    # ExporterConfig.interval_s, Prometheus's scrape_interval, GPUScaler pollingIntervalSeconds.
    "default": Config("default", exporter_s=5.0, scrape_s=15, poll_s=15, goal_s=30.0),
    # deploy/: the exporter's DaemonSet (--interval=5) and PodMonitor (interval: 5s).
    "shipped": Config("shipped", exporter_s=5.0, scrape_s=5, poll_s=15, goal_s=20.0),
    "fast": Config("fast", exporter_s=1.0, scrape_s=1, poll_s=1, goal_s=5.0),
}


@dataclass(frozen=True)
class Run:
    """One run's stamps (Unix seconds) and the stages between them."""

    scaler: str
    raised: float
    sampled: float
    scraped: float
    tick: float
    queried: float
    decided: float
    patched: float

    @property
    def stamps(self) -> tuple[float, ...]:
        return (self.raised, self.sampled, self.scraped, self.tick, self.queried, self.decided, self.patched)

    @property
    def stages(self) -> dict[str, float]:
        s = self.stamps
        return {name: s[i + 1] - s[i] for i, name in enumerate(STAGES)}

    @property
    def total(self) -> float:
        return self.patched - self.raised


@dataclass(frozen=True)
class Cost:
    """What the configuration costs in steady state (every scaler polling, queues idle)."""

    window_s: float
    series_per_scrape: float
    samples_per_s: float
    prometheus_cpu_per_s: float
    controller_cpu_per_s: float
    scalers: int

    @property
    def controller_cpu_per_scaler_s(self) -> float:
        return self.controller_cpu_per_s / self.scalers


@dataclass
class Report:
    config: Config
    runs: list[Run]
    missed: list[str] = field(default_factory=list)  # scalers whose PATCH never came
    cost: Cost | None = None
    wall_s: float = 0.0


# --------------------------------------------------------------------------- helpers


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default): p95 of 20 values
    is 0.05 of the way from the 19th to the 20th."""
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z")


def parse_rfc3339(text: str) -> float:
    """Prometheus's nanosecond RFC 3339 (``2026-12-02T03:00:00.123456789Z``) as Unix seconds."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 UTC time: {text!r}")
    whole = datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return whole + (float(f"0.{m[2]}") if m[2] else 0.0)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """The emulator's poll loop, raising TimeoutError (a run that misses is counted, not a failure)."""
    from simulations.cluster.apiserver import wait_until as poll

    return poll(predicate, timeout, interval, what=what, error=TimeoutError)


def scaler_name(i: int) -> str:
    return f"model-{i:02d}"


# --------------------------------------------------------------------------- the rig


@contextmanager
def _rig(config: Config, scalers: int, tmp: Path) -> Iterator[dict[str, Any]]:
    """Emulator, model servers and pods, exporter, Prometheus and the controller, torn down in reverse."""
    from exporter.config import ExporterConfig
    from exporter.discovery import PodDiscovery, kubernetes_pod_lister
    from exporter.service import Exporter
    from simulations.cluster.apiserver import ApiServer, now_rfc3339
    from simulations.cluster.model_servers import ModelServer
    from simulations.cluster.nvml import FakeNvml
    from simulations.cluster.prometheus import PrometheusServer, ScrapeJob, free_port

    api = ApiServer().start()
    servers: dict[str, ModelServer] = {}
    exporters: list[Exporter] = []
    prometheus = controller = None
    try:
        rng = random.Random(0)
        for i in range(scalers):
            name = scaler_name(i)
            api.add_deployment(NAMESPACE, name, 1)
            server = ModelServer("vllm").start()  # vLLM-sized body: 20 histograms around the queue
            servers[name] = server
            pod = f"{name}-{''.join(rng.choices(_SAFE, k=9))}-{''.join(rng.choices(_SAFE, k=5))}"
            started = now_rfc3339()
            api.create(
                "",
                "pods",
                {
                    "metadata": {
                        "name": pod,
                        "namespace": NAMESPACE,
                        "labels": {"app": name},
                        "annotations": {
                            "gpuautoscaler.io/queue-metric": "vllm",
                            "gpuautoscaler.io/metrics-port": str(server.port),
                        },
                    },
                    "spec": {
                        "containers": [{"name": "server", "image": "vllm:1"}],
                        "nodeName": f"{NODE_PREFIX}{i:02d}",
                    },
                    "status": {
                        "phase": "Running",
                        "podIP": "127.0.0.1",
                        "startTime": started,
                        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}],
                    },
                },
            )
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f'clusters: [{{name: emulator, cluster: {{server: "{api.url}"}}}}]\n'
            "users: [{name: bench, user: {token: bench-token}}]\n"
            "contexts: [{name: bench, context: {cluster: emulator, user: bench}}]\n"
            "current-context: bench\n"
        )
        # One node, and one exporter, per run: each exporter ticks on its own grid and
        # Prometheus gives each target its own scrape offset, so every run meets its own
        # phases of sampling and scraping, as pods on different nodes do. The exporters
        # start spread over one exporter interval.
        first = time.monotonic()
        for i in range(scalers):
            time.sleep(max(0.0, first + i * config.exporter_s / scalers - time.monotonic()))
            node = f"{NODE_PREFIX}{i:02d}"
            exporter = Exporter(
                ExporterConfig(
                    listen_host="127.0.0.1", listen_port=0, interval_s=config.exporter_s, node=node, kubelet_socket=None
                ),
                nvml_lib=FakeNvml([]),
                target_source=PodDiscovery(kubernetes_pod_lister(node, kubeconfig=str(kubeconfig)), refresh_s=30.0),
            )
            exporter.start()
            exporters.append(exporter)
        targets = ["{}:{}".format(*e.server.address) for e in exporters]
        prometheus = PrometheusServer(
            [ScrapeJob("gpu-exporter", targets, scrape_interval=f"{config.scrape_s}s")], query_log=True
        )
        prometheus.start()
        log_path = tmp / "controller.log"
        with open(log_path, "wb") as log:
            controller = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from autoscaler.cli import main; main()",
                    "run",
                    "--kubeconfig",
                    str(kubeconfig),
                    "--prometheus-url",
                    prometheus.url,
                    "--namespace",
                    NAMESPACE,
                    "--no-leader-elect",
                    "--metrics-address",
                    f"127.0.0.1:{free_port()}",
                    "--log-level",
                    "debug",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONPATH=str(REPO)),
                cwd=REPO,
            )
        yield {"api": api, "servers": servers, "prometheus": prometheus, "controller": controller, "log_path": log_path}
    finally:
        if controller is not None and controller.poll() is None:
            controller.send_signal(signal.SIGTERM)
            try:
                controller.wait(timeout=15)
            except subprocess.TimeoutExpired:
                controller.kill()
                controller.wait(timeout=5)
        if prometheus is not None:
            prometheus.cleanup()
        for exporter in exporters:
            exporter.stop()
        for server in servers.values():
            server.stop()
        api.stop()


def _scaler_doc(name: str, poll_s: int) -> dict[str, Any]:
    return {
        "apiVersion": "gpuautoscaler.io/v1alpha1",
        "kind": "GPUScaler",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "maxReplicas": 2,
            "pollingIntervalSeconds": poll_s,
            "startupSeconds": 0,
            "metrics": [{"type": "QueueDepth", "target": {"averageValue": TARGET}}],
        },
    }


def _active(api: Any, name: str) -> bool:
    status = (api.gpuscaler(NAMESPACE, name) or {}).get("status") or {}
    return any(c.get("type") == "ScalingActive" and c.get("status") == "True" for c in status.get("conditions", ()))


# --------------------------------------------------------------------------- measuring


def measure(
    config: Config,
    runs: int,
    *,
    seed: int = 1,
    cost_window_s: float | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Report:
    """Set up the chain, create ``runs`` scalers, raise each queue once, and read the stamps."""
    if shutil.which("prometheus") is None:
        raise RuntimeError("prometheus is not installed (make prometheus installs Debian's package)")
    started = time.monotonic()
    rng = random.Random(seed)
    names = [scaler_name(i) for i in range(runs)]
    tmp = Path(tempfile.mkdtemp(prefix="bench-reaction-"))
    report = Report(config, [])
    try:
        with _rig(config, runs, tmp) as rig:
            api, servers, prometheus, controller = rig["api"], rig["servers"], rig["prometheus"], rig["controller"]
            begin = time.time()
            log("waiting for every idle queue in Prometheus")
            wait_until(
                lambda: len(prometheus.query(f'inference_queue_depth{{namespace="{NAMESPACE}"}} == 0')) == runs,
                60 + 3 * config.period_s,
                "the idle queues in Prometheus",
                0.25,
            )
            log(f"creating {runs} GPUScalers over {config.poll_s} s")
            created = time.monotonic()
            for i, name in enumerate(names):
                time.sleep(max(0.0, created + i * config.poll_s / runs - time.monotonic()))
                api.add_gpuscaler(_scaler_doc(name, config.poll_s))
            wait_until(
                lambda: all(_active(api, n) for n in names), 30 + 2 * config.poll_s, "every scaler's first poll", 0.1
            )
            if controller.poll() is not None:
                raise RuntimeError(f"the controller exited:\n{rig['log_path'].read_text()[-3000:]}")
            report.cost = _cost(
                config,
                runs,
                prometheus,
                controller.pid,
                cost_window_s if cost_window_s is not None else max(10.0, config.poll_s),
            )
            log(f"raising {runs} queues from 0 to {RAISED:g} over {config.period_s:g} s")
            raised: dict[str, float] = {}
            t0 = time.monotonic()
            for at, name in sorted((rng.uniform(0, config.period_s), n) for n in names):
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                servers[name].waiting = RAISED
                raised[name] = time.time()
            timeout = config.exporter_s + config.scrape_s + 2 * config.poll_s + 15
            patches: dict[str, float] = {}

            def all_patched() -> bool:
                for r in api.requests:
                    name = r.path.rsplit("/", 2)[-2] if r.path.endswith("/scale") else ""
                    if (
                        r.method == "PATCH"
                        and r.status == 200
                        and name in raised
                        and name not in patches
                        and r.received_at >= raised[name]
                    ):
                        patches[name] = r.received_at
                return len(patches) == runs

            try:
                wait_until(all_patched, timeout, "every PATCH", 0.1)
            except TimeoutError:
                report.missed = sorted(set(names) - set(patches))
            time.sleep(0.5)  # the controller's log and Prometheus's query log catch up
            report.runs = _runs(raised, patches, servers, prometheus, rig["log_path"], time.time() - begin)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.wall_s = time.monotonic() - started
    return report


def _cost(config: Config, scalers: int, prometheus: Any, controller_pid: int, window_s: float) -> Cost:
    pid = prometheus.pid
    c0, p0, w0 = process_cpu(controller_pid), process_cpu(pid), time.monotonic()
    time.sleep(window_s)
    c1, p1, w1 = process_cpu(controller_pid), process_cpu(pid), time.monotonic()
    rows = prometheus.query('scrape_samples_scraped{job="gpu-exporter"}')
    # Each scrape also stores 5 series of its own: up, scrape_duration_seconds,
    # scrape_samples_scraped, scrape_samples_post_metric_relabeling, scrape_series_added.
    per_scrape = sum(float(r["value"][1]) for r in rows) + 5 * len(rows)
    return Cost(
        window_s=w1 - w0,
        series_per_scrape=per_scrape,
        samples_per_s=per_scrape / config.scrape_s,
        prometheus_cpu_per_s=(p1 - p0) / (w1 - w0),
        controller_cpu_per_s=(c1 - c0) / (w1 - w0),
        scalers=scalers,
    )


def _runs(
    raised: dict[str, float],
    patches: dict[str, float],
    servers: dict[str, Any],
    prometheus: Any,
    log_path: Path,
    span_s: float,
) -> list[Run]:
    """Join the stamps of each patched scaler."""
    # Prometheus: every raw sample of every pod's queue (a range selector in an instant query).
    scraped: dict[str, float] = {}
    for row in prometheus.query(f'inference_queue_depth{{namespace="{NAMESPACE}"}}[{int(span_s) + 60}s]'):
        name = row["metric"]["pod"].rsplit("-", 2)[0]
        hits = [float(t) for t, v in row["values"] if float(v) >= RAISED]
        if hits:
            scraped[name] = min(hits)
    # The controller: the tick and decision time of each scaler's PATCH.
    scaling: dict[str, list[tuple[float, float]]] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        if '"msg":"scaling"' in line:
            entry = json.loads(line)
            scaling.setdefault(entry["scaler"], []).append((float(entry["tick"]), float(entry["decided"])))
    # Prometheus's query log: when each of the controller's batched queue queries was
    # evaluated (params.start, the time it arrived) and finished (ts).
    queries: list[tuple[float, float]] = []
    assert prometheus.query_log is not None
    for line in prometheus.query_log.read_text(errors="replace").splitlines():
        entry = json.loads(line)
        text = entry.get("params", {}).get("query", "")
        if "inference_queue_depth" in text and "gpu_autoscaler_field" in text:
            queries.append((parse_rfc3339(entry["params"]["start"]), parse_rfc3339(entry["ts"])))
    queries.sort()

    out = []
    for name, patched in sorted(patches.items()):
        sampled = min((t for t, w in servers[name].served if t >= raised[name] and w >= RAISED), default=None)
        decision = min(
            ((tick, decided) for tick, decided in scaling.get(name, ()) if decided >= raised[name]), default=None
        )
        if sampled is None or name not in scraped or decision is None:
            raise RuntimeError(
                f"{name}: a stamp is missing (sampled {sampled}, scraped {scraped.get(name)}, "
                f"decision {decision}); is the controller's 'scaling' debug line there?"
            )
        tick, decided = decision
        # The tick's query: the first one evaluated at or after the tick (Prometheus keeps milliseconds).
        queried = next((end for start, end in queries if start >= tick - 0.001), None)
        if queried is None:
            raise RuntimeError(f"{name}: no batched query in Prometheus's query log after the tick at {tick}")
        out.append(Run(name, raised[name], sampled, scraped[name], tick, queried, decided, patched))
    return out


# --------------------------------------------------------------------------- printing


def format_report(report: Report) -> str:
    c = report.config
    lines = [
        f"reaction benchmark, {c.name} configuration: exporter every {c.exporter_s:g} s, scrape every "
        f"{c.scrape_s} s, poll every {c.poll_s} s; {len(report.runs)} runs (one GPUScaler each, one "
        f"controller), {os.cpu_count()} CPUs"
    ]
    if report.missed:
        lines.append(f"NO PATCH within the timeout for {len(report.missed)}: {', '.join(report.missed)}")
    if report.runs:
        totals = [r.total for r in report.runs]
        p95 = percentile(totals, 95)
        lines.append(
            f"queue raised -> PATCH received: p50 {percentile(totals, 50):.2f} s, p95 {p95:.2f} s, "
            f"max {max(totals):.2f} s (goal p95 <= {c.goal_s:g} s: {'met' if p95 <= c.goal_s else 'MISSED'})"
        )
        lines.append(f"  {'stage':<16}{'p50 s':>9}{'p95 s':>9}{'max s':>9}{'mean s':>9}   until")
        until = (
            "the server answered the exporter",
            "Prometheus's sample timestamp",
            "the tick of the poll that scaled",
            "Prometheus finished the batched query",
            "the reconcile decided (before the PATCH call)",
            "the PATCH reached the API server",
        )
        for stage, what in zip(STAGES, until, strict=True):
            xs = [r.stages[stage] for r in report.runs]
            lines.append(
                f"  {stage:<16}{percentile(xs, 50):9.3f}{percentile(xs, 95):9.3f}{max(xs):9.3f}"
                f"{statistics.fmean(xs):9.3f}   {what}"
            )
        lines.append(
            f"  {'total':<16}{percentile(totals, 50):9.3f}{p95:9.3f}{max(totals):9.3f}{statistics.fmean(totals):9.3f}"
        )
    if report.cost is not None:
        k = report.cost
        lines.append(
            f"cost (steady, {k.window_s:.0f} s, queues idle): Prometheus ingests {k.samples_per_s:.1f} "
            f"samples/s ({k.series_per_scrape:.0f} series every {c.scrape_s} s) using "
            f"{100 * k.prometheus_cpu_per_s:.1f} % of a core; the controller uses "
            f"{100 * k.controller_cpu_per_s:.1f} % of a core for {k.scalers} scalers = "
            f"{1000 * k.controller_cpu_per_scaler_s:.2f} ms of CPU per scaler per second"
        )
    lines.append(f"wall time {report.wall_s:.0f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs (GPUScalers measured together), default 20")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="fast")
    parser.add_argument("--seed", type=int, default=1, help="seed of the raise times")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs: expected at least 1")
    report = measure(
        CONFIGS[args.config], args.runs, seed=args.seed, log=lambda s: print(f"  .. {s}", file=sys.stderr, flush=True)
    )
    print(format_report(report), flush=True)
    if report.missed or not report.runs:
        sys.exit(1)


if __name__ == "__main__":
    main()
