"""A seeded fault campaign against the real controller, and the invariants it must keep.

One *schedule* (:func:`run_schedule`) is one seed: its own namespace, two controller
processes with leader election, three scalers on three Deployments, then ``steps``
steps of ``step_seconds`` in which a ``random.Random(seed)`` draws the faults:

=================  ==========================================================================
kind               what it does
=================  ==========================================================================
api_<code>         409/429/500/503 on one (verb, resource) of this namespace, 1-3 times
api_delay          the same requests answered 0.5-2.5 s late
api_drop           the connection reset without an answer (a timeout, to the client)
watch_drop         every open watch cut mid-stream
watch_expired      history compacted, then watches cut: resuming gets 410 Gone
prom_down          the proxy resets every query for 1-2 steps
prom_slow          queries answered 0.5-2.5 s late for one step
prom_stopped       Prometheus itself stopped for 1-2 steps (once a schedule at most)
metric_<mode>      a workload's pods all show NaN / a frozen timestamp / -5 / 1e306 / nothing
metric_partial     one pod NaN (HPA-style partial data: not an outage)
backlog_<mode>     scaler s1's second (custom query) metric NaN or absent
pod_stray          a pod with the label and no series; pod_evicted: one deleted (replaced)
leader_kill        SIGKILL the Lease holder mid-loop; a fresh replica joins
invalid_spec       a new scaler with a spec validate refuses; tiny_target: averageValue 0.0004
=================  ==========================================================================

After the run the write log the emulator kept (every write with the Lease holder at that
instant), the status writes, the Events and the RSS samples are checked against the
invariants of issue 11 (:func:`check`). Every figure is counted into a :class:`Report`.

Timing allowances (why the numbers): Prometheus scrapes every 0.5 s and the controller
polls every 1 s (tick 1 s), so a fault is visible to a poll within 0.5 s + 1 s; a sample
frozen in the past is only *stale* after max_age = 2 x interval = 2 s. A decision made
just before a fault may land late when the API answers late (api_delay up to 2.5 s,
client retries 0.2 + 0.4 + 0.8 s), hence :func:`_grace`.
"""
from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.campaign.world import LEASE, Recorder, World, holder, rss_kib
from tests.controller.harness import ControllerProcess, scaler_doc, write_kubeconfig

INTERVAL = 1.0  # every scaler's pollingIntervalSeconds
SLACK = 1.5  # scrape 0.5 s + one tick of scheduling on a loaded 2-core machine
INVALID_MODES = ("nan", "stale", "negative", "missing")
#: Scalers and their scale-down stabilization windows (s1 also has a custom-query metric).
SCALERS = {"s0": 0, "s1": 4, "s2": 3}
#: Violations these known, reported defects cause (issue 11, class 1): tagged so the
#: campaign can tell them from new ones while the fix is on its way.
#: Seconds after a controller starts before its RSS counts (imports and the first list).
RSS_SETTLE = 5.0
#: RSS bound: twice the settled size plus 50 MiB, and never over 400 MiB.
RSS_CAP_KIB = 400 * 1024
KNOWN_DEFECT_TAGS: frozenset[str] = frozenset()
#: Which violation kinds each known defect explains (a tag never excuses another kind).
KNOWN_DEFECTS = {
    "tiny_target": frozenset({"silent_scaler", "no_condition_within_a_poll", "no_event_within_a_poll"}),
    "metric_huge": frozenset({"silent_scaler", "no_condition_within_a_poll", "no_event_within_a_poll"}),
    "renew_deadline_overrun": frozenset({"two_writers_in_a_term"}),
}
#: The controllers' --leader-elect-renew-deadline (tests/controller/harness.py).
RENEW_DEADLINE = 2.0

INVALID_SPECS: list[tuple[str, dict[str, Any]]] = [
    ("negative_target", {"metrics": [{"type": "QueueDepth", "target": {"averageValue": -1}}]}),
    ("min_over_max", {"minReplicas": 5, "maxReplicas": 2}),
    ("no_metrics", {"metrics": []}),
    ("unknown_type", {"metrics": [{"type": "Foo", "target": {"averageValue": 4}}]}),
    ("zero_interval", {"pollingIntervalSeconds": 0}),
]


@dataclass
class Window:
    """One injected fault, [start, end); ``scaler`` None means every scaler."""

    kind: str
    start: float
    end: float = float("inf")
    scaler: str | None = None
    invalid: bool = False  # makes the scaler's metrics missing or invalid
    effect: float = 0.0  # seconds after start until a poll can see it (stale: max_age)
    delay: float = 0.0  # for api_delay / prom_slow
    rule: Any = None  # the emulator's Fault for api_* kinds: its ``hits`` say whether it ever fired
    resource: str = ""

    @property
    def fired(self) -> bool:
        return self.rule is None or self.rule.hits > 0


@dataclass(frozen=True)
class Violation:
    kind: str
    seed: int
    scaler: str
    at: float
    detail: str
    tags: frozenset[str] = frozenset()

    @property
    def known(self) -> bool:
        return any(self.kind in KNOWN_DEFECTS[t] for t in self.tags & KNOWN_DEFECT_TAGS)

    def __str__(self) -> str:
        known = f" [known: {', '.join(sorted(self.tags & KNOWN_DEFECT_TAGS))}]" if self.known else ""
        return f"seed {self.seed} {self.kind} {self.scaler}: {self.detail}{known}"


@dataclass
class Report:
    schedules: int = 0
    steps: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    rss_max_kib: int = 0
    rss_growth_kib: int = 0
    wall_s: float = 0.0

    def merge(self, other: Report) -> None:
        self.schedules += other.schedules
        self.steps += other.steps
        self.faults.update(other.faults)
        self.checks.update(other.checks)
        self.skipped.update(other.skipped)
        self.violations.extend(other.violations)
        self.rss_max_kib = max(self.rss_max_kib, other.rss_max_kib)
        self.rss_growth_kib = max(self.rss_growth_kib, other.rss_growth_kib)

    @property
    def new_violations(self) -> list[Violation]:
        return [v for v in self.violations if not v.known]

    def text(self) -> str:
        by_kind = Counter(v.kind for v in self.violations)
        known = Counter(v.kind for v in self.violations if v.known)
        lines = [f"schedules run: {self.schedules} ({self.steps} steps) in {self.wall_s:.1f} s",
                 "faults injected by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items())),
                 "invariant checks made: " + ", ".join(f"{k} {n}" for k, n in sorted(self.checks.items())),
                 "checks skipped (confounded by another fault): "
                 + (", ".join(f"{k} {n}" for k, n in sorted(self.skipped.items())) or "none"),
                 "violations by kind: " + (", ".join(f"{k} {n} (known defect: {known[k]})"
                                                     for k, n in sorted(by_kind.items())) or "none"),
                 f"controller RSS: max {self.rss_max_kib / 1024:.1f} MiB, "
                 f"largest growth after start {self.rss_growth_kib / 1024:.1f} MiB"]
        seen: set[tuple[str, str, frozenset[str]]] = set()
        for v in self.violations:  # one example per (kind, scaler, tags)
            if (v.kind, v.scaler, v.tags) not in seen:
                seen.add((v.kind, v.scaler, v.tags))
                lines.append(f"  e.g. {v}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- one schedule


class Schedule:
    """One seed's run: set up, draw and inject faults step by step, tear down, check."""

    def __init__(self, world: World, seed: int, tmp: Path, *, steps: int = 10, step_seconds: float = 1.5):
        self.world, self.seed, self.tmp = world, seed, tmp
        self.steps, self.step_seconds = steps, step_seconds
        self.rng = random.Random(seed)
        self.ns = f"campaign-{seed}"
        self.windows: list[Window] = []
        self.kills: list[float] = []
        self.controllers: list[ControllerProcess] = []
        self.rss: dict[str, list[int]] = {}  # identity -> VmRSS samples (KiB) once past start-up
        self.started: dict[str, float] = {}
        self.crashed: list[str] = []
        self.invalid_scalers: dict[str, tuple[float, str]] = {}  # name -> (created, kind)
        self.report = Report(schedules=1, steps=steps)
        self.kubeconfig = write_kubeconfig(tmp / f"kubeconfig-{seed}", world.api.url)
        self._identities = 0
        self.recorder: Recorder | None = None
        self.stopped_at = float("inf")
        self.hold: dict[str, int] = {}  # workload -> steps its metric fault still lasts

    # -- lifecycle --------------------------------------------------------------------
    def _start_controller(self) -> ControllerProcess:
        self._identities += 1
        c = ControllerProcess(self.tmp, self.kubeconfig, self.world.proxy.url, self.ns,
                              identity=f"{self.ns}-c{self._identities}").start()
        self.controllers.append(c)
        self.started[c.identity] = time.monotonic()
        return c

    def run(self) -> Report:
        w = self.world
        for i in range(len(SCALERS)):
            w.pods.add(self.ns, f"w{i}", 2)
        w.pods.backlog[self.ns] = ("ok", 5.0)
        self.recorder = Recorder(w.api, self.ns, {f"w{i}": 2 for i in range(len(SCALERS))})
        w.api.add_listener(self.recorder)
        for i, (name, window) in enumerate(SCALERS.items()):
            metrics: list[dict[str, Any]] = [{"type": "QueueDepth", "target": {"averageValue": 4}}]
            if name == "s1":
                metrics.append({"type": "Prometheus", "name": "backlog",
                                "query": f'max(campaign_backlog{{namespace="{self.ns}"}})',
                                "target": {"value": 10}})
            w.api.add_gpuscaler(scaler_doc(self.ns, name, target=f"w{i}", interval=int(INTERVAL), maxReplicas=8,
                                           metrics=metrics,
                                           behavior={"scaleDown": {"stabilizationWindowSeconds": window}}))
        try:
            a, b = self._start_controller(), self._start_controller()
            a.wait_ready(30)
            b.wait_ready(30)
            self._wait(lambda: holder(w.api, self.ns), 15, "a leader")
            self._wait(lambda: all(self._active(s) for s in SCALERS), 20, "every scaler polled with data")
            for _ in range(self.steps):
                self._step()
            self._calm()
        finally:
            self._teardown()
        self._check()
        return self.report

    def _wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {c.identity}\n{c.log_tail(15)}" for c in self.controllers)
                raise AssertionError(f"seed {self.seed}: timed out waiting for {what}\n{logs}")
            time.sleep(0.1)

    def _active(self, scaler: str) -> bool:
        obj = self.world.api.gpuscaler(self.ns, scaler) or {}
        return any(c.get("type") == "ScalingActive" and c.get("status") == "True"
                   for c in (obj.get("status") or {}).get("conditions") or ())

    def _teardown(self) -> None:
        self.stopped_at = time.time()
        for c in self.controllers:
            if c.running:
                with contextlib.suppress(Exception):
                    c.terminate(timeout=10)
        if self.recorder is not None:
            self.recorder.active = False
        self.world.api.clear_faults()
        self.world.proxy.mode = "pass"
        if not self.world.prometheus.running:
            self.world.restart_prometheus()
        self.world.pods.forget_namespace(self.ns)

    # -- one step ---------------------------------------------------------------------
    def _step(self) -> None:
        rng, w, now = self.rng, self.world, time.time()
        self._close_step_faults(now)
        for i, name in enumerate(SCALERS):
            self._draw_metric(f"w{i}", name, now)
        if rng.random() < 0.2:
            mode = rng.choice(("nan", "missing"))
            w.pods.backlog[self.ns] = (mode, 5.0)
            self._open(Window(f"backlog_{mode}", now, scaler="s1", invalid=True))
        elif w.pods.backlog[self.ns][0] != "ok":
            w.pods.backlog[self.ns] = ("ok", rng.uniform(0, 30))
            self._close("backlog_", now)
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
            self._draw_api_fault(now)
        if rng.random() < 0.2:
            kind = rng.choice(("watch_drop", "watch_drop", "watch_expired"))
            if kind == "watch_expired":
                w.api.compact()
            w.api.drop_watches()
            self._instant(kind, now)
        self._draw_prometheus(now)
        if rng.random() < 0.25:
            target = f"w{rng.randrange(len(SCALERS))}"
            if rng.random() < 0.5:
                w.pods.add_stray(self.ns, target)
                self._instant("pod_stray", now)
            else:
                w.pods.delete_pod(self.ns, target, rng.randrange(8))
                self._instant("pod_evicted", now)
        if rng.random() < 0.1 and len(self.kills) < 2:
            self._kill_leader(now)
        if rng.random() < 0.1:
            self._invalid_spec(now)
        self._sample_rss()
        time.sleep(max(0.0, now + self.step_seconds - time.time()))

    def _open(self, window: Window) -> None:
        self.windows.append(window)
        self.report.faults[window.kind] += 1

    def _instant(self, kind: str, now: float) -> None:
        self._open(Window(kind, now, now))

    def _close(self, prefix: str, now: float, scaler: str | None = None) -> None:
        for win in self.windows:
            if win.end == float("inf") and win.kind.startswith(prefix) and (scaler is None or win.scaler == scaler):
                win.end = now

    def _close_step_faults(self, now: float, force: bool = False) -> None:
        """Faults that last one step (API rules, a slow Prometheus) end at the next step."""
        self.world.api.clear_faults()
        self._close("api_", now)
        if self.world.proxy.mode == "slow":
            self.world.proxy.mode = "pass"
            self._close("prom_slow", now)
        for win in self.windows:  # a down proxy / stopped Prometheus whose steps are over
            if win.end == float("inf") and win.kind in ("prom_down", "prom_stopped") \
                    and (force or win.delay <= now):
                if win.kind == "prom_down":
                    self.world.proxy.mode = "pass"
                    win.end = now
                else:
                    win.end = self.world.restart_prometheus()  # invalid until fresh data is back

    def _draw_metric(self, workload: str, scaler: str, now: float) -> None:
        rng = self.rng
        wl = self.world.pods.workloads[(self.ns, workload)]
        if self.hold.get(workload, 0) > 0:  # a fault lasts 2-3 steps: long enough to demand a report
            self.hold[workload] -= 1
            return
        if rng.random() >= 0.45:
            if wl.mode == "ok" and rng.random() < 0.5:  # the load moves: scale-ups and scale-downs
                wl.per_pod = rng.choice((0.0, 1.0, 2.0, 4.0, 6.0, 9.0))
            return
        mode = rng.choice(("ok", "ok", "ok", "ok", "nan", "stale", "negative", "huge", "missing", "partial_nan"))
        if mode == wl.mode == "ok":
            wl.per_pod = rng.choice((0.0, 1.0, 2.0, 4.0, 6.0, 9.0))
            return
        self._close("metric_", now, scaler)
        with self.world.pods.lock:
            wl.mode = mode
            if mode == "ok":
                wl.per_pod = rng.choice((0.0, 1.0, 2.0, 4.0, 6.0, 9.0))
        if mode != "ok":
            self.hold[workload] = rng.randint(1, 2)
            kind = {"partial_nan": "metric_partial"}.get(mode, f"metric_{mode}")
            self._open(Window(kind, now, scaler=scaler, invalid=mode in INVALID_MODES or mode == "huge",
                              effect=2 * INTERVAL + 0.5 if mode == "stale" else 0.0))

    def _draw_api_fault(self, now: float) -> None:
        rng = self.rng
        verb, method, resource = rng.choice((
            ("get", "GET", r"/deployments/[^/]+/scale$"), ("patch", "PATCH", r"/deployments/[^/]+/scale$"),
            ("update", "PUT", r"/gpuscalers/[^/]+/status$"), ("list", "GET", r"/gpuscalers$"),
            ("list", "GET", r"/pods$"), ("watch", "GET", r"/pods$"), ("create", "POST", r"/events$"),
            ("patch", "PATCH", r"/events/[^/]+$"), ("get", "GET", r"/leases/[^/]+$"),
            ("update", "PUT", r"/leases/[^/]+$")))
        kind = rng.choice(("409", "429", "500", "503", "delay", "drop"))
        path = f"/namespaces/{self.ns}{resource}"
        times = rng.randint(1, 3)
        delay = 0.0
        if kind == "delay":
            delay = rng.uniform(0.5, 2.5)
            rule = self.world.api.fail(path, verb=verb, delay=delay, times=times)
        elif kind == "drop":
            rule = self.world.api.fail(path, verb=verb, drop=True, times=times)
        else:
            rule = self.world.api.fail(path, verb=verb, status=int(kind), times=times,
                                       retry_after=0.2 if kind == "429" else None)
        self.windows.append(Window(f"api_{kind}", now, delay=delay, rule=rule, resource=f"{verb} {resource}"))

    def _draw_prometheus(self, now: float) -> None:
        rng, w = self.rng, self.world
        if w.proxy.mode != "pass" or not w.prometheus.running:
            return
        roll = rng.random()
        if roll < 0.12:
            w.proxy.mode = "down"
            win = Window("prom_down", now, invalid=True)
            win.delay = now + rng.randint(1, 2) * self.step_seconds - 0.05  # when it comes back
            self._open(win)
        elif roll < 0.27:
            w.proxy.delay = rng.uniform(0.5, 2.5)
            w.proxy.mode = "slow"
            self._open(Window("prom_slow", now, delay=w.proxy.delay))
        elif roll < 0.32 and not any(x.kind == "prom_stopped" for x in self.windows):
            w.prometheus.stop()
            win = Window("prom_stopped", now, invalid=True)
            win.delay = now + rng.randint(1, 2) * self.step_seconds - 0.05
            self._open(win)

    def _kill_leader(self, now: float) -> None:
        lead = holder(self.world.api, self.ns)
        victim = next((c for c in self.controllers if c.identity == lead and c.running), None)
        if victim is None:
            return
        victim.kill()  # SIGKILL: no lease release, no drain
        self.kills.append(now)
        self._instant("leader_kill", now)
        self._start_controller()

    def _invalid_spec(self, now: float) -> None:
        rng, w = self.rng, self.world
        n = len(self.invalid_scalers)
        if rng.random() < 0.25:
            kind, spec = "tiny_target", {"metrics": [{"type": "QueueDepth", "target": {"averageValue": 0.0004}}]}
        else:
            kind, spec = rng.choice(INVALID_SPECS)
        name, target = f"bad{n}", f"x{n}"
        w.pods.add(self.ns, target, 1, per_pod=rng.choice((1.0, 3.0)))
        w.api.add_gpuscaler(scaler_doc(self.ns, name, target=target, interval=int(INTERVAL), **spec))
        self.invalid_scalers[name] = (time.time(), kind)
        self._open(Window("invalid_spec" if kind != "tiny_target" else "tiny_target", now, now, scaler=name))

    def _calm(self) -> None:
        """End every fault, then let the controllers run two more polls."""
        now = time.time()
        self._close_step_faults(now, force=True)  # anything pending comes back now
        for win in self.windows:
            if win.end == float("inf"):
                win.end = now
        with self.world.pods.lock:
            for (ns, _), wl in self.world.pods.workloads.items():
                if ns == self.ns:
                    wl.mode = "ok"
            self.world.pods.backlog[self.ns] = ("ok", 5.0)
        self._sample_rss()
        time.sleep(2 * INTERVAL)
        self._sample_rss()

    def _sample_rss(self) -> None:
        for c in self.controllers:
            if c.proc is None:
                continue
            if c.proc.poll() is not None:
                if c.proc.returncode != -9 and c.identity not in self.crashed:
                    self.crashed.append(c.identity)
                continue
            kib = rss_kib(c.proc.pid)
            if kib is not None and time.monotonic() - self.started[c.identity] >= RSS_SETTLE:
                self.rss.setdefault(c.identity, []).append(kib)

    # -- invariants -------------------------------------------------------------------
    def _check(self) -> None:
        assert self.recorder is not None
        for w in self.windows:
            if w.rule is not None:
                self.report.faults[w.kind if w.fired else "api_rule_never_hit"] += 1
        self.windows = [w for w in self.windows if w.fired]
        rec, end = self.recorder, min(time.time(), self.stopped_at)
        self._check_lease_terms(rec)
        self._check_scale_downs(rec)
        self._check_stabilization(rec)
        self._check_conditions(rec, end)
        self._check_rss()
        for identity in self.crashed:
            c = next(c for c in self.controllers if c.identity == identity)
            self._violate("controller_exit", identity, end, f"exited by itself:\n{c.log_tail(10)}")

    def _violate(self, kind: str, scaler: str, at: float, detail: str, tags: Iterable[str] = ()) -> None:
        self.report.violations.append(Violation(kind, self.seed, scaler, at, detail, frozenset(tags)))

    def _tags(self, scaler: str, start: float, end: float) -> set[str]:
        tags = {w.kind for w in self.windows if w.scaler in (None, scaler) and w.start <= end and w.end >= start}
        if scaler in self.invalid_scalers:
            tags.add(self.invalid_scalers[scaler][1])
        return tags

    def _check_lease_terms(self, rec: Recorder) -> None:
        for wr in rec.writes:
            self.report.checks["lease_term"] += 1
            if wr.identity != wr.holder:
                # Known defect (see test_defects.py): the writer outlived its renew deadline.
                renewed = [t for t in rec.renewals.get(wr.identity, ()) if t <= wr.at]
                overrun = bool(renewed) and wr.at - renewed[-1] > RENEW_DEADLINE
                self._violate("two_writers_in_a_term", wr.name, wr.at,
                              f"{wr.identity} {wr.verb} {wr.resource}/{wr.subresource} {wr.name} "
                              f"while the Lease was held by {wr.holder or 'nobody'}"
                              + (f", {wr.at - renewed[-1]:.1f} s after its last renewal" if renewed else ""),
                              {"renew_deadline_overrun"} if overrun else ())

    def _grace(self, at: float) -> float:
        """How late a decision may land: scrape + tick, plus any API / proxy delays and retries nearby."""
        near = [w for w in self.windows if w.start <= at and w.end >= at - 10]
        delay = max((w.delay for w in near if w.kind in ("api_delay", "prom_slow")), default=0.0)
        retries = 1.5 if any(w.kind in ("api_429", "api_500", "api_503", "api_drop") for w in near) else 0.0
        return SLACK + 2 * delay + retries

    def _invalid_windows(self, scaler: str) -> list[Window]:
        return [w for w in self.windows if w.invalid and w.scaler in (None, scaler)]

    def _check_scale_downs(self, rec: Recorder) -> None:
        for p in rec.patches:
            self.report.checks["scale_patch_seen (" + ("up" if p.after > p.before else "down") + ")"] += 1
            if p.after >= p.before:
                continue
            scaler = f"s{p.target[1:]}" if p.target[0] == "w" else p.target.replace("x", "bad")
            self.report.checks["no_scale_down_on_bad_data"] += 1
            for win in self._invalid_windows(scaler):
                if win.start + win.effect + self._grace(p.at) <= p.at < win.end:
                    self._violate("scale_down_while_metrics_invalid", scaler, p.at,
                                  f"{p.identity} scaled {p.target} {p.before} -> {p.after} "
                                  f"{p.at - win.start:.1f} s into {win.kind}; its decision: "
                                  f"{self._decision_line(p.identity, scaler, p.at)}", self._tags(scaler, p.at - 3, p.at))
                    break

    def _decision_line(self, identity: str, scaler: str, at: float) -> str:
        """The controller's last ``decision`` log line for ``scaler`` before ``at`` (the evidence)."""
        import json
        c = next((c for c in self.controllers if c.identity == identity), None)
        last = "(none logged)"
        if c is None:
            return last
        with contextlib.suppress(OSError):
            for line in c.log_path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if entry.get("msg") == "decision" and entry.get("scaler") == scaler and entry["ts"] <= at + 0.2:
                        last = json.dumps({k: entry.get(k) for k in ("ts", "current_replicas", "desired_replicas",
                                                                     "reason", "metrics")})
        return last

    def _check_stabilization(self, rec: Recorder) -> None:
        for scaler, window in SCALERS.items():
            if window <= 0:
                continue
            recs = {r for s in rec.statuses if s.scaler == scaler for r in s.recommendations}
            target = f"w{scaler[1:]}"
            for p in rec.patches:
                if p.target != target or p.after >= p.before:
                    continue
                self.report.checks["stabilization"] += 1
                if any(k < p.at < k + window + 8 for k in self.kills):
                    self.report.checks["stabilization_after_failover"] += 1
                higher = sorted((ts, n) for ts, n in recs if p.at - window + 0.1 < ts < p.at - 0.3 and n > p.after)
                if higher:
                    ts, n = higher[-1]
                    self._violate("scale_down_inside_window", scaler, p.at,
                                  f"{p.identity} scaled {target} {p.before} -> {p.after} though {n} was "
                                  f"recommended {p.at - ts:.1f} s earlier (window {window} s); its decision: "
                                  f"{self._decision_line(p.identity, scaler, p.at)}",
                                  self._tags(scaler, p.at - window, p.at))

    def _confounded(self, start: float, deadline: float) -> tuple[str | None, float]:
        """Whether other faults make a report by ``deadline`` impossible (the reason), else how
        much later it may come: a lost Event (the Events API failing: best effort, as in HPA)
        or a failover cannot be waited out; a failed status write costs one poll, a late
        answer twice its delay, client retries 0.2 + 0.4 + 0.8 s."""
        if any(start - 6 <= k <= deadline for k in self.kills):
            return "leader_kill", 0.0
        extra = 0.0
        for w in self.windows:
            if not (w.kind.startswith(("api_", "prom_slow")) and w.start <= deadline + extra and w.end >= start - 3):
                continue
            if "/events" in w.resource:
                continue  # see events_failed: the condition is still checked
            if w.kind == "prom_slow":
                extra += w.delay
            elif "/pods" not in w.resource:  # a pod list/watch failure fails the metrics: the same report
                extra += INTERVAL + 2 * w.delay + 1.5
        return None, extra

    def events_failed(self, start: float, deadline: float) -> bool:
        """An Events API fault fired near this report: its Event may be lost (best effort, as in HPA)."""
        return any(w.kind.startswith("api_") and "/events" in w.resource and w.start <= deadline
                   and w.end >= start - 3 for w in self.windows)

    def _streaks(self, scaler: str) -> list[tuple[float, float, float, set[str]]]:
        """Merged invalid windows: (start, effective start, end, kinds); gaps under 2.5 s join."""
        out: list[tuple[float, float, float, set[str]]] = []
        # 1e306 is a number: at max, or failing with a condition, both fine (keeps_reporting checks it).
        for w in sorted((w for w in self._invalid_windows(scaler) if w.kind != "metric_huge"), key=lambda w: w.start):
            if out and w.start <= out[-1][2] + 2.5:
                s, e, end, kinds = out[-1]
                out[-1] = (s, min(e, w.start + w.effect), max(end, w.end), kinds | {w.kind})
            else:
                out.append((w.start, w.start + w.effect, w.end, {w.kind}))
        return out

    def _check_conditions(self, rec: Recorder, end: float) -> None:
        events = [e for e in self.world.api.events(self.ns) if e.get("type") == "Warning"]

        def event_between(scaler: str, lo: float, hi: float) -> bool:
            from tests.campaign.world import _parse_time
            for e in events:
                if (e.get("involvedObject") or {}).get("name") != scaler:
                    continue
                first = _parse_time(e.get("firstTimestamp") or e.get("eventTime") or "1970-01-01T00:00:00Z")
                last = _parse_time(e.get("lastTimestamp") or e.get("firstTimestamp") or "1970-01-01T00:00:00Z")
                if last >= lo - 1 and first <= hi + 1:  # metav1.Time is whole seconds
                    return True
            return False

        def failing_before(scaler: str, at: float) -> bool:
            prior = [s for s in rec.statuses if s.scaler == scaler and s.at < at]
            return bool(prior) and any(st == "False" and t in ("ScalingActive", "MetricsAvailable")
                                       for t, st, _ in prior[-1].conditions)

        for scaler in SCALERS:
            for start, effective, stop, kinds in self._streaks(scaler):
                deadline = effective + INTERVAL + SLACK
                if stop < deadline + 0.5:
                    continue  # too short to demand a report
                reason, extra = self._confounded(start, deadline)
                deadline += extra
                if stop < deadline + 0.5:
                    reason = reason or "fault too short for the other faults' delays"
                if reason is not None:
                    self.report.skipped[f"condition_and_event ({reason})"] += 1
                    continue
                self.report.checks["condition_and_event"] += 1
                shown = [s for s in rec.statuses if s.scaler == scaler and start <= s.at <= deadline
                         and any(st == "False" and t in ("ScalingActive", "MetricsAvailable")
                                 for t, st, _ in s.conditions)]
                tags = self._tags(scaler, start, deadline) | kinds
                if not shown:
                    self._violate("no_condition_within_a_poll", scaler, deadline,
                                  f"{'+'.join(sorted(kinds))} from {start:.1f}: no False condition written "
                                  f"by {deadline - start:.1f} s", tags)
                elif self.events_failed(start, deadline):
                    self.report.skipped["event part (Events API fault)"] += 1
                elif not failing_before(scaler, start) and not event_between(scaler, start, deadline):
                    self._violate("no_event_within_a_poll", scaler, deadline,
                                  f"{'+'.join(sorted(kinds))} from {start:.1f}: no Warning Event by "
                                  f"{deadline - start:.1f} s", tags)
        for scaler, (created, kind) in self.invalid_scalers.items():
            deadline = created + INTERVAL + SLACK
            if end < deadline + 0.5:
                continue
            reason, extra = self._confounded(created, deadline)
            deadline += extra
            if end < deadline + 0.5:
                reason = reason or "run over before the deadline"
            if reason is not None:
                self.report.skipped[f"condition_and_event ({reason})"] += 1
                continue
            self.report.checks["condition_and_event"] += 1
            written = [s for s in rec.statuses if s.scaler == scaler and s.at <= deadline]
            failing = [s for s in written if any(st == "False" for _, st, _ in s.conditions)]
            if kind != "tiny_target" and not failing:
                self._violate("no_condition_within_a_poll", scaler, deadline,
                              f"{kind}: no False condition by {deadline - created:.1f} s", {kind})
            elif kind == "tiny_target" and not written:
                # Valid per validate: it must either work (status written) or say why not.
                self._violate("silent_scaler", scaler, deadline,
                              f"{kind}: averageValue 0.0004 passes validation, yet no status was written "
                              f"and no condition shown by {deadline - created:.1f} s", {kind})
            elif failing and self.events_failed(created, deadline):
                self.report.skipped["event part (Events API fault)"] += 1
            elif failing and not event_between(scaler, created, deadline):
                self._violate("no_event_within_a_poll", scaler, deadline, f"{kind}: no Warning Event", {kind})
        # Huge values (1e306) are valid numbers: the scaler must keep writing status (at
        # max, or failing with a condition) -- never fall silent.
        for scaler in SCALERS:
            for w in self.windows:
                if w.kind != "metric_huge" or w.scaler != scaler or w.end - w.start < INTERVAL + SLACK + 0.5:
                    continue
                deadline = w.start + INTERVAL + SLACK
                reason, extra = self._confounded(w.start, deadline)
                deadline += extra
                if reason is not None or w.end < deadline + 0.5:
                    self.report.skipped["keeps_reporting (confounded)"] += 1
                    continue
                self.report.checks["keeps_reporting"] += 1
                later = [s for s in rec.statuses if s.scaler == scaler and deadline - 1 <= s.at <= w.end]
                if not later:
                    self._violate("silent_scaler", scaler, deadline,
                                  f"metric_huge (1e306 a pod) from {w.start:.1f}: no status written for "
                                  f"{w.end - deadline + 1:.1f} s", {"metric_huge"})

    def _check_rss(self) -> None:
        for identity, samples in self.rss.items():
            if len(samples) < 2:
                continue
            self.report.checks["rss_bounded"] += 1
            base, top = samples[0], max(samples)
            self.report.rss_max_kib = max(self.report.rss_max_kib, top)
            self.report.rss_growth_kib = max(self.report.rss_growth_kib, top - base)
            if top > min(2 * base + 50 * 1024, RSS_CAP_KIB):
                self._violate("rss_unbounded", identity, time.time(),
                              f"RSS grew from {base / 1024:.0f} to {top / 1024:.0f} MiB")


def run_campaign(seeds: Iterable[int], tmp: Path, *, world: World | None = None, steps: int = 10,
                 step_seconds: float = 1.5, progress: Any = None) -> Report:
    """Run one schedule per seed in one world (made here unless given); the merged report."""
    started = time.monotonic()
    own = world is None
    world = world or World()
    total = Report()
    try:
        for seed in seeds:
            result = Schedule(world, seed, tmp, steps=steps, step_seconds=step_seconds).run()
            total.merge(result)
            world.api.clear_log()  # the request log would grow with the soak
            if progress is not None:
                progress(seed, result)
    finally:
        if own:
            world.close()
    total.wall_s = time.monotonic() - started
    return total


__all__ = ["LEASE", "Report", "Schedule", "Violation", "run_campaign"]
