"""The simulated GPU fleet behind the playground's Deployment.

The requests are served by the simulator's own fleet model (:mod:`simulations.fleet`),
stepped on the wall clock instead of as fast as it computes; what a cluster would show
of it is mirrored each step:

- each replica the fleet holds is a Pod in the emulator (``Ready`` once loaded, after
  ``startupSeconds``) and a model server on 127.0.0.1 whose ``/metrics`` is vLLM's text
  with that replica's waiting and running requests, KV-cache use and token counters;
- each replica holds one simulated GPU of the fake NVML the exporter samples (plain
  utilization, SM activity, memory);
- the fleet's size follows the Deployment's ``spec.replicas`` in the emulator, which
  only the controller changes.

Using the simulator's fleet is what makes the twin check mean something: the two runs
differ only in the pipeline between the fleet and the decision (model server, exporter,
Prometheus, controller on a real clock, versus the core called in-process on metrics
``delaySeconds`` old).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulations.cluster.apiserver import ApiServer, now_rfc3339
from simulations.cluster.model_servers import ModelServer
from simulations.cluster.nvml import FakeGpu
from simulations.engine import _still_queued
from simulations.fleet import GONE, Fleet, Snapshot
from simulations.frontqueue import FrontQueue
from simulations.replica_metrics import (
    GENERATION_TOKENS,
    GPU_SM_ACTIVE,
    GPU_UTILIZATION,
    KV_CACHE_USAGE,
    PROMPT_TOKENS,
    QUEUE_DEPTH,
    RUNNING_REQUESTS,
    TTFT_COUNT,
    TTFT_SUM,
)
from simulations.scenario import Scenario
from simulations.stats import PolicyResult, Recorder
from simulations.traces.base import Trace

NODE = "gpu-node-1"
MODEL = "meta-llama/Llama-2-7b-chat-hf"
POD_HASH = "6b9f7c5d48"
RETIRE_S = 2.0  # a deleted pod's server answers this long (the exporter's pod list is 0.5 s old at most)


def _same(t: float) -> float:
    return t


class ReplicaServer(ModelServer):
    """A vLLM-shaped ``/metrics`` whose values the fleet sets each step."""

    def __init__(self) -> None:
        super().__init__("vllm", padding=0)  # the kind is only checked; body() is ours
        self.values: dict[str, float] = {}

    def body(self, waiting: float | None = None) -> bytes:  # waiting: the base class's override, unused here
        v = dict(self.values)
        ml = f'model_name="{MODEL}"'
        rows = [
            ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", QUEUE_DEPTH),
            ("vllm:num_requests_running", "gauge", "Number of requests currently running on GPU.", RUNNING_REQUESTS),
            ("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.", KV_CACHE_USAGE),
            ("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", PROMPT_TOKENS),
            ("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.", GENERATION_TOKENS),
            ("vllm:time_to_first_token_seconds_sum", "untyped", "Sum of times to first token.", TTFT_SUM),
            ("vllm:time_to_first_token_seconds_count", "untyped", "Requests past their first token.", TTFT_COUNT),
        ]
        lines = []
        for name, kind, help_, key in rows:
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{{{ml}}} {v.get(key, 0.0):.6g}"]
        return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class StepView:
    """The fleet after one step, for the live line and the plot."""

    t: float  # end of the step, seconds on the trace's clock
    replicas: int  # the Deployment's spec.replicas as the fleet follows it
    ready: int
    held: int  # GPUs held (loading + ready + draining)
    queue: float  # requests waiting, front queue and replicas
    running: float
    arrivals: float  # requests that arrived in the step


@dataclass(frozen=True)
class ScaleChange:
    t: float
    old: int
    new: int


class PlaygroundFleet:
    """Steps the fleet model and mirrors it into the emulator, the model servers and the GPUs."""

    def __init__(
        self,
        api: ApiServer,
        namespace: str,
        deployment: str,
        scenario: Scenario,
        trace: Trace,
        initial: int,
        gpus: list[FakeGpu],
    ) -> None:
        sim = scenario.simulation
        self.api, self.namespace, self.deployment = api, namespace, deployment
        self.scenario, self.trace, self.dt = scenario, trace, sim.step_s
        self.t0, self.t_stop = trace.start_s, trace.end_s
        self.fleet = Fleet(scenario.model, initial, self.t0, self.dt, sim.seed)
        self.queue = FrontQueue(trace, self.dt, sim.max_groups_per_step)
        slo = scenario.slo
        self.recorder = Recorder(
            self.t0,
            self.t_stop,
            self.dt,
            (self.t_stop - self.t0) + sim.drain_s,
            slo.latency,
            slo.threshold_s,
            10.0,
            scaled_factor=slo.scaled_factor,
            one_decode_step_s=scenario.model.step_time(1.0),
        )
        self.gpus = gpus
        self.changes: list[ScaleChange] = []
        self.servers: dict[int, ReplicaServer] = {}  # serial -> its model server
        self._pods: dict[int, tuple[str, bool]] = {}  # serial -> (pod name, ready as published)
        self._gpu_of: dict[int, int] = {}  # serial -> GPU index
        self._lock = threading.Lock()
        self._retiring: list[tuple[int, ReplicaServer]] = []  # (step to stop at, server)
        self._ready_published = -1
        self.step_index = 0
        self.wall_of: Callable[[float], float] = _same  # trace time -> wall clock (set by the runner)
        self.last: StepView | None = None
        self.publish(None)

    # ------------------------------------------------------------------ one step
    @property
    def done(self) -> bool:
        t = self.t0 + self.step_index * self.dt
        return (
            t >= self.t_stop
            and self.queue.drained()
            and not self.fleet.busy()
            or t >= self.t_stop + self.scenario.simulation.drain_s
        )

    def step(self) -> StepView:
        """Step ``[t, t + dt)`` as the engine does, then publish what it leaves."""
        f, q, rec = self.fleet, self.queue, self.recorder
        t = self.t0 + self.step_index * self.dt
        t_end = t + self.dt
        q.ensure(t_end)
        f.advance(t)
        at_start = f.in_system(q)
        rec.admitted(f.admit(t, t_end, q))
        rec.tick(f.target, f.held, q.waiting, at_start * self.dt + q.arrival_credit(t_end) - f.completion_credit())
        self.step_index += 1
        snap = f.snapshot(t_end, q)
        self.publish(snap)
        arrived = float(self.trace.arrivals(t, t_end).requests) if t < self.t_stop else 0.0
        self.last = StepView(t_end, f.target, f.n_ready, f.held, snap.queue_total, snap.running_total, arrived)
        return self.last

    def follow(self, now: float) -> ScaleChange | None:
        """Take the Deployment's ``spec.replicas`` (the controller's decision) at ``now``."""
        dep = self.api.deployment(self.namespace, self.deployment)
        want = int(dep["spec"]["replicas"]) if dep else self.fleet.target
        if want == self.fleet.target:
            return None
        change = ScaleChange(now, self.fleet.target, want)
        if now <= self.t_stop + 1e-9:
            self.recorder.scale_actions += 1
        self.changes.append(change)
        self.fleet.scale_to(want, now)
        self.publish(None)
        return change

    def result(self) -> PolicyResult:
        waiting_since, waiting = _still_queued(self.queue)
        self.recorder.unserved_at_end(waiting_since, waiting, now=self.t0 + self.recorder.steps * self.dt)
        return self.recorder.result("playground", self.scenario.max_replicas)

    # ------------------------------------------------------------------ mirror
    def publish(self, snap: Snapshot | None) -> None:
        """Pods, model servers and GPUs to match the fleet (and the snapshot's values)."""
        with self._lock:
            self._sync_pods()
            self._sync_gpus()
            if snap is not None:
                self._set_values(snap)

    def _sync_pods(self) -> None:
        serial, ready, created = self.fleet.pods()
        want = {
            int(s): (bool(r), float(c))
            for s, r, c in zip(serial.tolist(), ready.tolist(), created.tolist(), strict=True)
        }
        for s in [s for s in self._pods if s not in want]:
            name, _ = self._pods.pop(s)
            self.api.delete("", "pods", self.namespace, name)
            # A terminating pod's server answers a little longer: a scrape of a vanished
            # port before the exporter's next pod list would be an error.
            self._retiring.append((self.step_index + math.ceil(RETIRE_S / self.dt), self.servers.pop(s)))
        while self._retiring and self._retiring[0][0] <= self.step_index:
            self._retiring.pop(0)[1].stop()
        for s, (is_ready, created_t) in want.items():
            if s not in self._pods:
                server = ReplicaServer()
                server.start()
                self.servers[s] = server
                name = f"{self.deployment}-{POD_HASH}-{s:05d}"
                self.api.create("", "pods", self._pod(name, server.port, is_ready, self.wall_of(created_t)))
                self._pods[s] = (name, is_ready)
            elif self._pods[s][1] != is_ready:
                name = self._pods[s][0]
                self.api.set_pod_ready(self.namespace, name, is_ready)
                self._pods[s] = (name, is_ready)
        if self.fleet.n_ready != self._ready_published:
            self._ready_published = self.fleet.n_ready
            n = self.fleet.n_ready
            self.api.modify(
                "apps",
                "deployments",
                self.namespace,
                self.deployment,
                {"status": {"readyReplicas": n, "availableReplicas": n, "updatedReplicas": len(want)}},
            )

    def _pod(self, name: str, port: int, ready: bool, start: float) -> dict[str, Any]:
        return {
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {"app": self.deployment, "pod-template-hash": POD_HASH},
                "annotations": {"gpuautoscaler.io/queue-metric": "vllm", "gpuautoscaler.io/metrics-port": str(port)},
            },
            "spec": {
                "containers": [
                    {
                        "name": "vllm",
                        "image": "vllm/vllm-openai:v0.6.3",
                        "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    }
                ],
                "nodeName": NODE,
            },
            "status": {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "startTime": now_rfc3339(start),
                "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now_rfc3339()}
                ],
            },
        }

    def _sync_gpus(self) -> None:
        """One GPU a replica held (loading, ready or draining); freed GPUs go idle."""
        held = {int(s) for s in self.fleet.serial[self.fleet.state != GONE].tolist()}
        for s in [s for s in self._gpu_of if s not in held]:
            gpu = self.gpus[self._gpu_of.pop(s)]
            gpu.utilization, gpu.sm_util, gpu.memory_used = 0, 0.0, 0
        free = sorted(set(range(len(self.gpus))) - set(self._gpu_of.values()))
        for s in sorted(held - set(self._gpu_of)):
            if free:
                self._gpu_of[s] = free.pop(0)
                self.gpus[self._gpu_of[s]].memory_used = 14 * 2**30  # the weights, loading

    def _set_values(self, snap: Snapshot) -> None:
        series = snap.series
        for j, s in enumerate(snap.serial.tolist()):
            server = self.servers.get(int(s))
            if server is not None:
                server.values = {k: float(np.asarray(v)[j]) for k, v in series.items()}
            gpu_index = self._gpu_of.get(int(s))
            if gpu_index is not None:
                gpu = self.gpus[gpu_index]
                gpu.utilization = int(round(100 * float(series[GPU_UTILIZATION][j])))
                gpu.sm_util = 100 * float(series[GPU_SM_ACTIVE][j])
                kv = float(series[KV_CACHE_USAGE][j])
                gpu.memory_used = int((14 + 60 * kv) * 2**30)

    def stop(self) -> None:
        with self._lock:
            for server in [*self.servers.values(), *(server for _, server in self._retiring)]:
                server.stop()
            self.servers.clear()
            self._retiring.clear()
