"""The playground's settings, and the two things built from them: the GPUScaler the
controller reads from the emulator and the scenario the twin simulation runs.

Both come from one place so the twin sees the same spec, the same model and the same
pipeline: the simulator's ``metrics.delaySeconds`` is the playground's mean metric age
at a poll, :attr:`Settings.pipeline_delay_s`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simulations.playground.trace import RampTrace, default_ramp
from simulations.scenario import Scenario, parse_scenario, resolve_scenario

NAMESPACE = "playground"
#: What a value needs beyond the exporter's and Prometheus's intervals to reach a query
#: (the step's own computing, an HTTP round trip or two, a busy machine's scheduling).
PIPELINE_MARGIN_S = 0.2
NAME = "llm"


@dataclass(frozen=True)
class Settings:
    """Everything a playground run is made of; times in seconds.

    Defaults: a 240 s ramp, polling every 5 s, new replicas loading 20 s, a 30 s
    scale-down window: about 4 1/2 minutes in all with start-up and drain.
    """

    duration_s: float = 240.0
    low_rate: float = 4.0
    high_rate: float = 36.0
    polling_s: int = 5
    startup_s: int = 20
    scale_down_window_s: int = 30
    scale_down_cooldown_s: int = 10
    queue_target: float = 10.0
    concurrency_target: float = 36.0  # requests in the system a replica: 3/4 of its 48 slots
    max_replicas: int = 8
    step_s: float = 1.0  # the fleet's step: model servers' values change once a step
    exporter_s: float = 0.1  # the exporter samples the model servers this often
    scrape_s: float = 0.1  # Prometheus scrapes the exporter (and the controller) this often
    drain_s: float = 30.0  # after the trace, at most this long for the queue to empty
    #: the controller polls this long before each step boundary, so the replicas it sets are
    #: taken at the boundary ``t0 + k x interval``, where the twin's polls are
    poll_lead_s: float = 0.5
    seed: int = 1

    def __post_init__(self) -> None:
        if not self.duration_s >= 10:
            raise ValueError(f"duration must be at least 10 s, got {self.duration_s:g}")
        if self.polling_s < 1 or self.startup_s < 0 or self.max_replicas < 1:
            raise ValueError("polling must be >= 1 s, startup >= 0 s and max replicas >= 1")
        if not self.exporter_s + self.scrape_s + PIPELINE_MARGIN_S <= self.poll_lead_s < self.step_s:
            raise ValueError(
                f"the exporter ({self.exporter_s:g} s) and scrape ({self.scrape_s:g} s) intervals, plus "
                f"{PIPELINE_MARGIN_S:g} s, must fit in the poll's lead ({self.poll_lead_s:g} s), "
                f"itself shorter than a step ({self.step_s:g} s)"
            )

    @property
    def pipeline_delay_s(self) -> float:
        """How old, when its decision takes effect, are the metrics a poll read.

        The controller polls :attr:`poll_lead_s` before a step boundary ``b``; by then the
        fleet's values of the boundary before, ``b - step``, have been through the exporter
        (sampling every :attr:`exporter_s`) and Prometheus (scraping every :attr:`scrape_s`),
        and the next ones do not exist yet: the poll reads exactly the snapshot of
        ``b - step``, so the delay is one step (1 s by default), the same at every poll.
        With a pipeline slower than the lead (a 15 s scrape, say) the age would vary from
        poll to poll; docs/simulation.md, "The twin check", says what that does.
        """
        return self.step_s

    def trace(self) -> RampTrace:
        t = default_ramp(self.duration_s, self.low_rate, self.high_rate)
        return RampTrace(t.points, seed=self.seed)

    def scaler_spec(self) -> dict[str, Any]:
        period = max(self.polling_s, 1)
        return {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "minReplicas": 1,
            "maxReplicas": self.max_replicas,
            "pollingIntervalSeconds": self.polling_s,
            "startupSeconds": self.startup_s,
            "metrics": [
                {"type": "QueueDepth", "target": {"averageValue": self.queue_target}},
                # Requests in the system (waiting + running) per replica: with continuous
                # batching the queue stays near 0 until the slots are full, so the queue
                # alone would scale a busy fleet down to its minimum and back up.
                {
                    "type": "Prometheus",
                    "name": "inference_concurrency_total",
                    "query": f'sum(inference_queue_depth{{namespace="{NAMESPACE}"}}) '
                    f'+ sum(inference_running_requests{{namespace="{NAMESPACE}"}})',
                    "target": {"averageValue": self.concurrency_target},
                },
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [
                        {"type": "Percent", "value": 100, "periodSeconds": period},
                        {"type": "Pods", "value": 4, "periodSeconds": period},
                    ],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": self.scale_down_window_s,
                    "cooldownSeconds": self.scale_down_cooldown_s,
                    "policies": [{"type": "Percent", "value": 50, "periodSeconds": period}],
                },
            },
        }

    def scaler(self) -> dict[str, Any]:
        return {
            "apiVersion": "gpuautoscaler.io/v1alpha1",
            "kind": "GPUScaler",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "spec": self.scaler_spec(),
        }

    def scenario_doc(self) -> dict[str, Any]:
        """The bundled default scenario (the 7B model on one GPU a replica) with the playground's
        start-up time, pipeline delay, step, drain and GPUScaler."""
        doc: dict[str, Any] = copy.deepcopy(yaml.safe_load(resolve_scenario("default").read_text()))
        doc["name"] = "playground"
        doc["description"] = "the playground's fleet, spec and metric pipeline"
        doc["model"]["startupSeconds"] = self.startup_s
        doc["metrics"]["delaySeconds"] = self.pipeline_delay_s
        doc["simulation"].update(stepSeconds=self.step_s, drainSeconds=self.drain_s, seed=self.seed)
        doc["policies"]["ours"]["scaler"] = self.scaler()
        return doc

    def scenario(self) -> Scenario:
        return parse_scenario(self.scenario_doc(), "<playground>")

    def write_scenario(self, path: Path) -> Path:
        path.write_text(
            "# Written by `gpu-autoscaler playground`: its scenario, for `gpu-autoscaler simulate`.\n"
            + yaml.safe_dump(self.scenario_doc(), sort_keys=False)
        )
        return path
