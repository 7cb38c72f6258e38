"""Scenario files: the modelled model server, the SLO, and each policy's settings.

A scenario is a YAML file (``simulations/scenarios/default.yaml`` is the documented,
sourced default). It is parsed once into frozen dataclasses; every problem is reported as
``FILE:LINE: field: what is wrong``. The GPUScaler for "ours" sits inside it
(``policies.ours.scaler``) as a whole Contract 1 document, validated by
:func:`autoscaler.spec.parse_scaler` unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoscaler.spec import GPUScalerSpec, SpecError, parse_scaler
from simulations.yamlsource import ScenarioReader, load_with_lines, read_source

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SLO_LATENCIES = ("ttft", "e2e")
LEAST_REQUEST, PREFILL_AWARE = "leastRequest", "prefillAware"
#: How the load balancer picks a replica for a request (simulations/fleet.py, Admission).
ROUTINGS = (LEAST_REQUEST, PREFILL_AWARE)
#: Target-wide signals the simulator can answer for a ``type: Prometheus`` metric, by name.
PROMETHEUS_SIGNALS = ("inference_queue_depth_total", "inference_running_requests_total", "inference_concurrency_total")


@dataclass(frozen=True)
class ModelServer:
    """One replica: a model server on one GPU with continuous batching.

    A request holds one of ``slots`` sequence slots (the KV-cache bound on the batch)
    from admission to its last token. Its prompt is prefilled by the replica's one
    compute-bound prefill engine, requests one after another, at
    ``prefill_s_per_token``; its output is decoded one token per decode step, and a step
    takes ``decode_step_s + decode_step_s_per_seq * b`` with ``b`` sequences in the
    batch (memory-bound: weights once per step plus each sequence's KV cache).

    ``kv_cache_tokens`` is the KV cache's capacity in tokens: only what a replica reports
    as ``inference_kv_cache_usage_ratio`` (tokens held / capacity) reads it; the batch is
    bounded by ``slots``. The default: 80 GB less 13.5 GB of weights leaves ~60 GB, at
    0.5 MB a token (32 layers x 4096 x 2 x fp16) ~120k tokens.
    """

    slots: int = 48
    prefill_s_per_token: float = 0.0001
    decode_step_s: float = 0.012
    decode_step_s_per_seq: float = 0.00033
    startup_s: float = 90.0
    sm_active_prefill: float = 0.9
    sm_active_full_batch: float = 0.8
    kv_cache_tokens: float = 120_000.0
    #: ``leastRequest``: power of two choices on free slots (Envoy); ``prefillAware``: the
    #: replica whose prefill engine frees first. With long prompts this is what decides
    #: whether a short request waits behind another's 10 s prefill (docs/simulation.md).
    routing: str = LEAST_REQUEST

    def step_time(self, batch: float) -> float:
        return self.decode_step_s + self.decode_step_s_per_seq * batch


@dataclass(frozen=True)
class SLO:
    """A request meets the SLO when its ``latency`` (time to first token, or end to end)
    is at most ``threshold_s``."""

    latency: str = "ttft"
    threshold_s: float = 2.0
    #: ``k`` of the scaled SLO, ``latency <= max(threshold_s, k x the request's unloaded latency)``
    #: (simulations/stats.py): 5 leaves a request five times what it costs alone on an idle replica
    scaled_factor: float = 5.0


@dataclass(frozen=True)
class SimulationSettings:
    step_s: float = 1.0
    seed: int = 1
    #: 0 = every request simulated on its own. N > 0: when a step brings more than N
    #: requests, consecutive arrivals are batched into groups of identical requests so
    #: that at most about N groups a step are simulated (see docs/simulation.md).
    max_groups_per_step: int = 0
    #: After the trace ends, keep simulating (no new arrivals) at most this long so queued
    #: requests finish; GPU-hours count only the trace's span.
    drain_s: float = 3600.0


@dataclass(frozen=True)
class HpaUtil:
    target_utilization: float = 60.0
    sync_s: int = 15


@dataclass(frozen=True)
class KedaQueue:
    target_queue_per_replica: float = 5.0
    polling_s: int = 30


@dataclass(frozen=True)
class Kpa:
    """Knative Pod Autoscaler settings (Knative Serving defaults unless said otherwise)."""

    container_concurrency: int = 0  # 0: the model's slots
    target_utilization: float = 0.7  # container-concurrency-target-percentage 70
    stable_window_s: float = 60.0
    panic_window_s: float = 6.0  # panic-window-percentage 10 % of 60 s
    panic_threshold: float = 2.0  # panic-threshold-percentage 200
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    tick_s: int = 2
    metrics_delay_s: float = 1.0


@dataclass(frozen=True)
class Oracle:
    target_occupancy: float = 0.8  # slots in use / slots
    prefill_utilization: float = 0.6  # share of time a replica's prefill engine is busy
    window_s: float = 2.0  # prefill load averaged over this window
    interval_s: int = 15


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str
    model: ModelServer
    slo: SLO
    simulation: SimulationSettings
    metrics_delay_s: float
    ours: GPUScalerSpec
    hpa_util: HpaUtil
    keda_queue: KedaQueue
    kpa: Kpa
    oracle: Oracle
    static_replicas: int | None = None
    #: settings of policies registered with a ``settings`` reader, by policy name
    #: (simulations/policies/registry.py); the built-in ones have their fields above
    policy_settings: Mapping[str, object] = field(default_factory=dict)

    @property
    def min_replicas(self) -> int:
        return self.ours.min_replicas

    @property
    def max_replicas(self) -> int:
        return self.ours.max_replicas


def resolve_scenario(name_or_path: str) -> Path:
    """A path, or the name of a bundled scenario (``default`` = scenarios/default.yaml)."""
    p = Path(name_or_path)
    if p.exists() or p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return p
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def load_scenario(name_or_path: str | Path) -> Scenario:
    path = resolve_scenario(str(name_or_path))
    source = str(path)
    doc, lines = load_with_lines(read_source(path, source), source)
    return parse_scenario(doc, source, lines)


def parse_scenario(doc: Any, source: str = "<scenario>", lines: dict[str, int] | None = None) -> Scenario:
    r = ScenarioReader(source, lines or {})
    top = r.mapping(doc, "document", required=True) or {}
    r.unknown(top, "", ("name", "description", "model", "slo", "metrics", "simulation", "policies"))
    name = r.string(top, "name", "", Path(source).stem)

    m = r.mapping(top.get("model"), "model") or {}
    r.unknown(
        m,
        "model",
        (
            "slots",
            "prefillSecondsPerToken",
            "decodeStepSeconds",
            "decodeStepSecondsPerSequence",
            "startupSeconds",
            "smActive",
            "kvCacheTokens",
            "routing",
        ),
    )
    d = ModelServer()
    sm = r.mapping(m.get("smActive"), "model.smActive") or {}
    r.unknown(sm, "model.smActive", ("prefill", "fullBatch"))
    model = ModelServer(
        slots=r.integer(m, "slots", "model", d.slots, minimum=1, maximum=100_000),
        prefill_s_per_token=r.number(m, "prefillSecondsPerToken", "model", d.prefill_s_per_token, minimum=0),
        decode_step_s=r.number(m, "decodeStepSeconds", "model", d.decode_step_s, exclusive_minimum=0),
        decode_step_s_per_seq=r.number(m, "decodeStepSecondsPerSequence", "model", d.decode_step_s_per_seq, minimum=0),
        startup_s=r.number(m, "startupSeconds", "model", d.startup_s, minimum=0),
        sm_active_prefill=r.number(sm, "prefill", "model.smActive", d.sm_active_prefill, minimum=0, maximum=1),
        sm_active_full_batch=r.number(sm, "fullBatch", "model.smActive", d.sm_active_full_batch, minimum=0, maximum=1),
        kv_cache_tokens=r.number(m, "kvCacheTokens", "model", d.kv_cache_tokens, exclusive_minimum=0),
        routing=r.string(m, "routing", "model", d.routing, ROUTINGS),
    )

    s = r.mapping(top.get("slo"), "slo") or {}
    r.unknown(s, "slo", ("latency", "thresholdSeconds", "scaledFactor"))
    slo = SLO(
        latency=r.string(s, "latency", "slo", "ttft", SLO_LATENCIES),
        threshold_s=r.number(s, "thresholdSeconds", "slo", 2.0, exclusive_minimum=0),
        scaled_factor=r.number(s, "scaledFactor", "slo", SLO().scaled_factor, minimum=1, maximum=1000),
    )

    mt = r.mapping(top.get("metrics"), "metrics") or {}
    r.unknown(mt, "metrics", ("delaySeconds",))
    delay = r.number(mt, "delaySeconds", "metrics", 10.0, minimum=0, maximum=3600)

    sim = r.mapping(top.get("simulation"), "simulation") or {}
    r.unknown(sim, "simulation", ("stepSeconds", "seed", "maxGroupsPerStep", "drainSeconds"))
    ds = SimulationSettings()
    settings = SimulationSettings(
        step_s=r.number(sim, "stepSeconds", "simulation", ds.step_s, exclusive_minimum=0, maximum=60),
        seed=r.integer(sim, "seed", "simulation", ds.seed, minimum=0),
        max_groups_per_step=r.integer(sim, "maxGroupsPerStep", "simulation", ds.max_groups_per_step, minimum=0),
        drain_s=r.number(sim, "drainSeconds", "simulation", ds.drain_s, minimum=0),
    )

    given = r.mapping(top.get("policies"), "policies", required=True)
    pol = given or {}
    from simulations.policies import policy_entry, policy_names  # importing them at the top would be circular

    r.unknown(pol, "policies", policy_names())
    policy_settings: dict[str, object] = {}
    for registered in policy_names():
        read = policy_entry(registered).settings
        if read is not None:
            path = f"policies.{registered}"
            policy_settings[registered] = read(r, r.mapping(pol.get(registered), path) or {}, path)
    ours = _parse_ours(r, pol.get("ours"), source) if given is not None else None

    h = r.mapping(pol.get("hpa_util"), "policies.hpa_util") or {}
    r.unknown(h, "policies.hpa_util", ("targetUtilization", "syncSeconds"))
    hpa = HpaUtil(
        target_utilization=r.number(
            h, "targetUtilization", "policies.hpa_util", 60.0, exclusive_minimum=0, maximum=100
        ),
        sync_s=r.integer(h, "syncSeconds", "policies.hpa_util", 15, minimum=1),
    )

    k = r.mapping(pol.get("keda_queue"), "policies.keda_queue") or {}
    r.unknown(k, "policies.keda_queue", ("targetQueuePerReplica", "pollingSeconds"))
    keda = KedaQueue(
        target_queue_per_replica=r.number(k, "targetQueuePerReplica", "policies.keda_queue", 5.0, exclusive_minimum=0),
        polling_s=r.integer(k, "pollingSeconds", "policies.keda_queue", 30, minimum=1),
    )

    kp = r.mapping(pol.get("kpa"), "policies.kpa") or {}
    kpath = "policies.kpa"
    r.unknown(
        kp,
        kpath,
        (
            "containerConcurrency",
            "targetUtilization",
            "stableWindowSeconds",
            "panicWindowSeconds",
            "panicThreshold",
            "maxScaleUpRate",
            "maxScaleDownRate",
            "tickSeconds",
            "metricsDelaySeconds",
        ),
    )
    dk = Kpa()
    kpa = Kpa(
        container_concurrency=r.integer(kp, "containerConcurrency", kpath, 0, minimum=0),
        target_utilization=r.number(
            kp, "targetUtilization", kpath, dk.target_utilization, exclusive_minimum=0, maximum=1
        ),
        stable_window_s=r.number(kp, "stableWindowSeconds", kpath, dk.stable_window_s, minimum=1, maximum=3600),
        panic_window_s=r.number(kp, "panicWindowSeconds", kpath, dk.panic_window_s, minimum=1, maximum=3600),
        panic_threshold=r.number(kp, "panicThreshold", kpath, dk.panic_threshold, exclusive_minimum=1),
        max_scale_up_rate=r.number(kp, "maxScaleUpRate", kpath, dk.max_scale_up_rate, exclusive_minimum=1),
        max_scale_down_rate=r.number(kp, "maxScaleDownRate", kpath, dk.max_scale_down_rate, exclusive_minimum=1),
        tick_s=r.integer(kp, "tickSeconds", kpath, dk.tick_s, minimum=1),
        metrics_delay_s=r.number(kp, "metricsDelaySeconds", kpath, dk.metrics_delay_s, minimum=0, maximum=3600),
    )

    o = r.mapping(pol.get("oracle"), "policies.oracle") or {}
    r.unknown(o, "policies.oracle", ("targetOccupancy", "prefillUtilization", "windowSeconds", "intervalSeconds"))
    do = Oracle()
    oracle = Oracle(
        target_occupancy=r.number(
            o, "targetOccupancy", "policies.oracle", do.target_occupancy, exclusive_minimum=0, maximum=1
        ),
        prefill_utilization=r.number(
            o, "prefillUtilization", "policies.oracle", do.prefill_utilization, exclusive_minimum=0, maximum=1
        ),
        window_s=r.number(o, "windowSeconds", "policies.oracle", do.window_s, minimum=1),
        interval_s=r.integer(o, "intervalSeconds", "policies.oracle", 15, minimum=1),
    )
    sp = r.mapping(pol.get("static_peak"), "policies.static_peak") or {}
    r.unknown(sp, "policies.static_peak", ("replicas",))
    static = r.integer(sp, "replicas", "policies.static_peak", 0, minimum=0) or None
    r.raise_if_any()
    assert ours is not None
    return Scenario(
        name=name,
        source=source,
        model=model,
        slo=slo,
        simulation=settings,
        metrics_delay_s=delay,
        ours=ours,
        hpa_util=hpa,
        keda_queue=keda,
        kpa=kpa,
        oracle=oracle,
        static_replicas=static,
        policy_settings=policy_settings,
    )


def _parse_ours(r: ScenarioReader, raw: Any, source: str) -> GPUScalerSpec | None:
    base = "policies.ours"
    obj = r.mapping(raw, base, required=True)
    if obj is None:
        return None
    r.unknown(obj, base, ("scaler",))
    doc = r.mapping(obj.get("scaler"), f"{base}.scaler", required=True)
    if doc is None:
        return None
    try:
        spec = parse_scaler(doc, source).spec
    except SpecError as e:
        for fe in e.errors:
            r.error(f"{base}.scaler.{fe.path}", fe.message)
        return None
    for i, metric in enumerate(spec.metrics):
        if metric.type == "Prometheus" and metric.name not in PROMETHEUS_SIGNALS:
            r.error(
                f"{base}.scaler.spec.metrics[{i}].name",
                f"the simulator cannot answer {metric.name!r}; expected one of {', '.join(PROMETHEUS_SIGNALS)}",
            )
    return spec
