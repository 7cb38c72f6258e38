"""The GPUScaler spec (DESIGN.md Contract 1): frozen dataclasses, validated once.

A YAML document is parsed and validated here, at the edge; everything downstream
receives a :class:`GPUScaler` and never a raw dict. Every problem found is reported
with the file, the field path in the document (``spec.behavior.scaleDown.policies[1].value``)
and what was expected, and all problems are reported together, not just the first.

Defaults equal the Kubernetes HPA's (autoscaling/v2 ``defaults.go``): tolerance 0.1 in
both directions; scale-up stabilization 0 s with policies Percent 100 / 15 s and Pods 4 /
15 s, selectPolicy Max; scale-down stabilization 300 s with Percent 100 / 15 s. Cooldown
is ours and defaults to 0 s (off), so an unconfigured scaler decides exactly as HPA does.
A spec without ``behavior`` takes this default behavior (HPA v2's), never HPA's legacy path.

``validate`` accepts exactly what the API server accepts with the CRD installed
(tests/deploy/test_crd.py holds the two together): int32 bounds, at most 16 metrics and
8 policies a direction, the CRD's string lengths, DNS-1123 names, no unknown fields,
targets of at least 0.001. Files are read by :mod:`autoscaler.safe_yaml` (duplicate
keys and alias bombs refused with their line). Both accept any kind
(``scaleTargetRef.apiVersion`` ``v1`` or ``GROUP/VERSION``, ``kind`` a Kind name): whether
it has a ``/scale`` is the API server's to say (discovery, :mod:`autoscaler.kube.discovery`),
and RBAC grants the kinds a cluster uses (deploy/components/).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from autoscaler.expression import Expr, ExpressionError, parse_expression
from autoscaler.expression import names as expression_names
from autoscaler.fields import FieldError, FieldReader, describe_value
from autoscaler.metrics import gpu_utilization, queue_depth
from autoscaler.metrics.registry import DEFINITIONS, FIXED_KEYS, TYPE_NAMES, definition_of
from autoscaler.metrics.types import MetricDefinition, MetricType
from autoscaler.safe_yaml import YAMLProblem, decode, load_documents
from autoscaler.times import parse_duration

API_VERSION = "gpuautoscaler.io/v1alpha1"
KIND = "GPUScaler"

METRIC_TYPES = TYPE_NAMES
SIGNALS = tuple(gpu_utilization.SIGNALS.choices)
POLICY_TYPES = ("Pods", "Percent")
SELECT_POLICIES = ("Max", "Min", "Disabled")

#: Keys of the built-in metrics in recordings (Contract 3) and in observations.
QUEUE_DEPTH_KEY = queue_depth.KEY
GPU_UTILIZATION_KEY = gpu_utilization.KEY
RESERVED_KEYS = ("replicas", "ready")
TARGET_KINDS = ("averageValue", "averageUtilization", "value")

# The CRD's limits (deploy/crd/gpuscalers.gpuautoscaler.io.yaml), held equal to it by
# tests/deploy/test_crd.py: what `validate` accepts, the API server accepts, and back.
#: Kubernetes' int32 fields (replica counts, seconds) end at 2^31 - 1 = 2,147,483,647.
INT32_MAX = 2**31 - 1
MAX_METRICS = 16
MAX_POLICIES = 8
MAX_NAME_LENGTH = 253
MAX_QUERY_LENGTH = 4096
#: The smallest metric target: the core computes in milli-units (as HPA's resource
#: quantities), so a target under 0.001 would truncate to zero.
MIN_TARGET = 0.001
#: A namespace is a DNS-1123 label (63 characters); an object's name a DNS-1123 subdomain.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
#: A scaleTargetRef's apiVersion: ``v1`` (the core group) or ``GROUP/VERSION``, the group a
#: DNS-1123 subdomain (``leaderworkerset.x-k8s.io``), the version a DNS-1035 label (``v1alpha1``).
API_VERSION_PATTERN = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[a-z]([-a-z0-9]*[a-z0-9])?"
)
MAX_API_VERSION_LENGTH = 253 + 1 + 63
#: A Kind: a letter, then letters, digits and '-', at most 63 (the API server requires the
#: lowercased kind to be a DNS-1035 label): ``LeaderWorkerSet``, ``Rollout``.
KIND_PATTERN = re.compile(r"[A-Za-z]([-A-Za-z0-9]*[A-Za-z0-9])?")
MAX_KIND_LENGTH = 63
#: Top-level fields of a GPUScaler object (``status`` as `kubectl get -o yaml` shows it).
TOP_LEVEL_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")


class SpecError(ValueError):
    """A GPUScaler document that does not validate; holds every :class:`FieldError`."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class ScaleTargetRef:
    api_version: str
    kind: str
    name: str


@dataclass(frozen=True)
class MetricTarget:
    """Exactly one of the three is set (HPA's MetricTarget, without the ``type`` field).

    ``average_value``: per-pod average (queue depth 4 means 4 waiting requests a replica);
    ``average_utilization``: a percent averaged over pods (GPU activity 70 means 70 %);
    ``value``: one target-wide number (e.g. total tokens/s across the Deployment).
    """

    average_value: float | None = None
    average_utilization: float | None = None
    value: float | None = None

    @cached_property
    def kind(self) -> str:
        if self.average_value is not None:
            return "averageValue"
        if self.average_utilization is not None:
            return "averageUtilization"
        return "value"

    @cached_property
    def amount(self) -> float:
        for v in (self.average_value, self.average_utilization, self.value):
            if v is not None:
                return v
        raise AssertionError("validated MetricTarget has no value")


#: ``lookAhead.over`` when absent: 8 polls at the default 15 s, long enough that one noisy
#: poll moves the slope little, short enough to follow a climb that lasts minutes.
DEFAULT_LOOK_AHEAD_OVER = 120.0


@dataclass(frozen=True)
class LookAhead:
    """A metric's ``lookAhead``: project its least-squares trend over the last ``over``
    seconds ``ahead`` seconds forward, and decide on that when it is higher."""

    ahead_seconds: float
    over_seconds: float = DEFAULT_LOOK_AHEAD_OVER


@dataclass(frozen=True)
class MetricSpec:
    """One scaling signal. ``key`` names it in observations and recordings; what its
    ``type`` means is its :class:`~autoscaler.metrics.types.MetricDefinition`. A ``type``
    given as a string ("QueueDepth") becomes its :class:`MetricType` on construction."""

    type: MetricType | str
    target: MetricTarget
    signal: str = "smActive"
    name: str | None = None
    query: str | None = None
    #: TokenThroughput's ``squareRootStaffing`` (beta): ask ``ceil(R + beta sqrt(R))`` for
    #: R replicas of work (:func:`autoscaler.core.proposal.square_root_staffing`); 0: HPA's rule.
    square_root_staffing: float = 0.0
    #: ``window``: each sample becomes its mean over the last this many seconds
    #: (:mod:`autoscaler.core.window`); None (absent): no smoothing.
    window_seconds: float | None = None
    #: ``lookAhead``: decide on the value the metric's trend reaches this far ahead, when
    #: higher (:mod:`autoscaler.core.lookahead`); None (absent): no look-ahead.
    look_ahead: LookAhead | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.type, MetricType):  # built in code from a string: "QueueDepth"
            object.__setattr__(self, "type", MetricType(self.type))

    @cached_property
    def definition(self) -> MetricDefinition:
        return definition_of(self.type)

    @cached_property
    def key(self) -> str:
        return self.definition.key_of(self)

    @cached_property
    def per_pod(self) -> bool:
        """Built-in signals come per pod; a Prometheus metric or a latency is one target-wide number."""
        return self.definition.per_pod


#: The key of a formula's proposal in status.currentMetrics, the dry-run's ``metrics``
#: and the controller's ``metric`` label; no metric may take it while a formula is set.
FORMULA_KEY = "formula"
#: A formula's target kinds: its value is target-wide, so there is no per-pod percent.
FORMULA_TARGET_KINDS = ("averageValue", "value")


@dataclass(frozen=True)
class FormulaSpec:
    """``spec.formula``: one proposal from an expression over the scaler's metrics, in
    place of the proposals of the metrics it names (KEDA's ``scalingModifiers``).

    Each name is a metric's key and stands for that metric's target-wide value: the sum
    of the ready pods' samples for a per-pod metric (queue 6 and 10 on two pods: 16), the
    value for a target-wide one. The result is compared with ``target`` by HPA's
    External/Object rules: ``averageValue`` asks ``ceil(result / averageValue)``
    (``queue_depth + 0.5 * kv_cache_usage`` with queue 16 and KV cache 60 % + 40 % on two
    pods is 16 + 0.5 x 100 = 66; against 30: ceil(2.2) = 3), ``value`` asks
    ``ceil(result / value x ready pods)``. Metrics it does not name (a Latency guard)
    still join the max. Evaluation: :mod:`autoscaler.core.formula`.
    """

    expression: str
    tree: Expr
    target: MetricTarget

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The metric keys the expression names, in order of first appearance."""
        return expression_names(self.tree)


@dataclass(frozen=True)
class ScalingPolicy:
    type: str
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """One direction's behavior: HPA's HPAScalingRules plus our ``cooldown_seconds``."""

    stabilization_window_seconds: int
    tolerance: float
    cooldown_seconds: int
    select_policy: str
    policies: tuple[ScalingPolicy, ...]


DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_seconds=0,
    tolerance=0.1,
    cooldown_seconds=0,
    select_policy="Max",
    policies=(ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 4, 15)),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_seconds=300,
    tolerance=0.1,
    cooldown_seconds=0,
    select_policy="Max",
    policies=(ScalingPolicy("Percent", 100, 15),),
)


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN


@dataclass(frozen=True)
class Fallback:
    """After ``failure_threshold`` consecutive polls without metrics, hold at least ``replicas``."""

    failure_threshold: int = 3
    replicas: int | None = None


#: ``startupSeconds`` when absent, and the figure ``auto`` assumes until a load time is measured.
DEFAULT_STARTUP_SECONDS = 120
#: ``startupSeconds: auto``: measure the load time (creation to Ready) instead of declaring it.
STARTUP_AUTO = "auto"


@dataclass(frozen=True)
class GPUScalerSpec:
    scale_target_ref: ScaleTargetRef
    max_replicas: int
    metrics: tuple[MetricSpec, ...]
    min_replicas: int = 1
    polling_interval_seconds: int = 15
    startup_seconds: int = 120
    behavior: Behavior = field(default_factory=Behavior)
    fallback: Fallback | None = None
    paused: bool = False
    #: ``pausedScaleIn``: never fewer replicas than now (an incident); scale-up goes on.
    paused_scale_in: bool = False
    #: ``pausedScaleOut``: never more replicas than now (a budget freeze); scale-down goes on.
    paused_scale_out: bool = False
    #: ``startupSeconds: auto``: the decision uses the measured load time
    #: (:mod:`autoscaler.core.startup`) and ``startup_seconds`` (120) until one is measured.
    startup_auto: bool = False
    #: ``formula``: one proposal from an expression over named metrics (None: max over metrics).
    formula: FormulaSpec | None = None


@dataclass(frozen=True)
class GPUScaler:
    name: str
    namespace: str
    spec: GPUScalerSpec
    generation: int = 0


# --------------------------------------------------------------------------- parsing


def _parse_target(r: FieldReader, raw: Any, path: str, definition: MetricDefinition | None) -> MetricTarget | None:
    obj = r.mapping(raw, path)
    if obj is None:
        return None
    r.unknown(obj, path, TARGET_KINDS)
    given = [k for k in TARGET_KINDS if obj.get(k) is not None]
    if len(given) != 1:
        r.error(
            path, f"expected exactly one of {', '.join(TARGET_KINDS)}" + (f"; got {', '.join(given)}" if given else "")
        )
        return None
    key = given[0]
    amount = r.number(obj, key, path, None, minimum=MIN_TARGET)
    if amount is None:
        if not any(e.path == f"{path}.{key}" for e in r.errors):
            r.error(f"{path}.{key}", f"expected a number >= {MIN_TARGET:g}")
        return None
    if definition is not None and key not in definition.target_kinds:
        owners = " or ".join(str(d.type) for d in DEFINITIONS if key in d.target_kinds)
        r.error(f"{path}.{key}", f"{key} applies only to type {owners}")
        return None
    if key == "averageUtilization" and amount > 100:
        r.error(f"{path}.{key}", f"expected a percent in (0, 100], got {amount:g}")
        return None
    return MetricTarget(
        **{
            {"averageValue": "average_value", "averageUtilization": "average_utilization", "value": "value"}[
                key
            ]: amount
        }
    )


#: Every type's own fields: one given to a type that lacks it is named as such.
_OWN_FIELDS = tuple(dict.fromkeys(f for d in DEFINITIONS for f in d.fields))

#: A metric's ``window`` (any type): the longest is an hour, what Knative's KPA allows for
#: its stable window (``autoscaling.knative.dev/window``: 6s <= value <= 1h) and HPA for a
#: stabilization window. Written as whole seconds (an integer, or ``"90"``/``"90s"``, 1..3600),
#: whole minutes (``"2m"``/``"2min"``, 1..60) or ``"1h"``. The bound sits in the pattern
#: itself because the CRD can check a string only by a pattern
#: (deploy/crd/gpuscalers.gpuautoscaler.io.yaml holds the same one, tests/deploy/test_crd_window.py
#: holds the two equal): what ``validate`` accepts, the API server accepts, and back.
MAX_WINDOW_SECONDS = 3600
WINDOW_PATTERN = r"^(([1-9][0-9]{0,2}|[12][0-9]{3}|3[0-5][0-9]{2}|3600)s?|([1-9]|[1-5][0-9]|60)(m|min)|1h)$"
_WINDOW = re.compile(WINDOW_PATTERN)


def _parse_window(r: FieldReader, obj: Mapping[str, Any], path: str, key: str = "window") -> float | None:
    """A duration field (``window``, ``lookAhead.ahead``/``over``) in seconds, None when
    absent or invalid: ``60`` -> 60, ``"90s"`` -> 90, ``"2m"`` -> 120, ``"1h"`` -> 3600."""
    raw = obj.get(key)
    if raw is None:
        return None
    expected = "expected a duration of 1 s to 1 h: whole seconds (30, '30s'), whole minutes ('2m') or '1h'"
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        r.error(f"{path}.{key}", f"{expected}, got {describe_value(raw)}")
        return None
    if isinstance(raw, int):
        if not 1 <= raw <= MAX_WINDOW_SECONDS:
            r.error(f"{path}.{key}", f"{expected}, got {describe_value(raw)}")
            return None
        return float(raw)
    if _WINDOW.fullmatch(raw) is None:
        r.error(f"{path}.{key}", f"{expected}, got {describe_value(raw)}")
        return None
    return parse_duration(raw)


def _parse_look_ahead(r: FieldReader, obj: Mapping[str, Any], path: str) -> LookAhead | Literal[False] | None:
    """``lookAhead: {ahead, over}`` (:mod:`autoscaler.core.lookahead`): None when absent,
    False when invalid (an error is recorded)."""
    if obj.get("lookAhead") is None:
        return None
    lp = f"{path}.lookAhead"
    la = r.mapping(obj.get("lookAhead"), lp)
    if la is None:
        return False
    r.unknown(la, lp, ("ahead", "over"))
    if la.get("ahead") is None:
        r.error(f"{lp}.ahead", "expected how far ahead to project, a duration such as 30s")
        return False
    ahead = _parse_window(r, la, lp, "ahead")
    over = _parse_window(r, la, lp, "over") if la.get("over") is not None else DEFAULT_LOOK_AHEAD_OVER
    if ahead is None or over is None:
        return False
    return LookAhead(ahead_seconds=ahead, over_seconds=over)


def _parse_metric(r: FieldReader, raw: Any, path: str) -> MetricSpec | None:
    """Generic over the registry: the type picks the definition, which reads its own fields."""
    obj = r.mapping(raw, path)
    if obj is None:
        return None
    r.unknown(obj, path, ("type", *_OWN_FIELDS, "target", "window", "lookAhead"))
    mtype = r.string(obj, "type", path, None, choices=METRIC_TYPES)
    definition = definition_of(mtype) if mtype is not None else None
    target = _parse_target(r, obj.get("target"), f"{path}.target", definition)
    window = _parse_window(r, obj, path)
    look_ahead = _parse_look_ahead(r, obj, path)
    if definition is None:
        return None
    for k in _OWN_FIELDS:
        if k in obj and k not in definition.fields:
            owners = " or ".join(str(d.type) for d in DEFINITIONS if k in d.fields)
            r.error(f"{path}.{k}", f"applies only to type {owners}")
    own = definition.parse(r, obj, path)
    if own is None or target is None:
        return None
    if obj.get("window") is not None and window is None:
        return None
    if look_ahead is False:
        return None
    metric = MetricSpec(
        type=definition.type,
        target=target,
        window_seconds=window,
        look_ahead=look_ahead or None,
        **own,
    )
    if obj.get("squareRootStaffing") is not None and target.kind != "averageValue":
        r.error(f"{path}.squareRootStaffing", "applies only to an averageValue target (what one replica sustains)")
        return None
    if not definition.keys and (metric.key in RESERVED_KEYS or metric.key in FIXED_KEYS):
        r.error(f"{path}.name", f"{metric.key!r} is reserved; expected another name")
        return None
    return metric


def _parse_formula(r: FieldReader, raw: Any, path: str, metrics: tuple[MetricSpec, ...] | None) -> FormulaSpec | None:
    """``spec.formula``; ``metrics`` are the parsed metrics (None when some failed to parse:
    then names cannot be checked, and the metric's own error is reported instead)."""
    obj = r.mapping(raw, path, required=False)
    if obj is None:
        return None
    r.unknown(obj, path, ("expression", "target"))
    target = _parse_target(r, obj.get("target"), f"{path}.target", None)
    if target is not None and target.kind not in FORMULA_TARGET_KINDS:
        r.error(f"{path}.target.{target.kind}", f"expected one of {', '.join(FORMULA_TARGET_KINDS)} for a formula")
        target = None
    text = r.string(obj, "expression", path, None)
    if text is None:
        return None
    try:
        tree = parse_expression(text)
    except ExpressionError as e:
        r.error(f"{path}.expression", str(e))
        return None
    if metrics is None:
        return None
    keys = [m.key for m in metrics]
    named = expression_names(tree)
    unknown = [n for n in named if n not in keys]
    if unknown:
        r.error(
            f"{path}.expression",
            f"expected names of this scaler's metrics ({', '.join(keys)}), got {', '.join(map(repr, unknown))}",
        )
        return None
    if not named:
        r.error(f"{path}.expression", f"expected an expression naming at least one of {', '.join(keys)}")
        return None
    if FORMULA_KEY in keys:
        r.error(
            f"{path}",
            f"a metric is named {FORMULA_KEY!r}, the key of the formula's proposal; expected another metric name",
        )
        return None
    if target is None:
        return None
    return FormulaSpec(text, tree, target)


def _parse_rules(r: FieldReader, raw: Any, path: str, default: ScalingRules) -> ScalingRules:
    obj = r.mapping(raw, path, required=False)
    if obj is None:
        return default
    r.unknown(obj, path, ("stabilizationWindowSeconds", "tolerance", "cooldownSeconds", "selectPolicy", "policies"))
    window = r.integer(
        obj, "stabilizationWindowSeconds", path, default.stabilization_window_seconds, minimum=0, maximum=3600
    )
    tolerance = r.number(obj, "tolerance", path, default.tolerance, minimum=0)
    cooldown = r.integer(obj, "cooldownSeconds", path, default.cooldown_seconds, minimum=0, maximum=INT32_MAX)
    select = r.string(obj, "selectPolicy", path, default.select_policy, choices=SELECT_POLICIES)
    policies = default.policies
    if obj.get("policies") is not None:
        raw_policies = obj["policies"]
        if not isinstance(raw_policies, list):
            r.error(f"{path}.policies", f"expected a list, got {describe_value(raw_policies)}")
        elif len(raw_policies) > MAX_POLICIES:
            r.error(f"{path}.policies", f"expected at most {MAX_POLICIES} policies, got {len(raw_policies)}")
        else:
            parsed: list[ScalingPolicy] = []
            for i, rp in enumerate(raw_policies):
                pp = f"{path}.policies[{i}]"
                pobj = r.mapping(rp, pp)
                if pobj is None:
                    continue
                r.unknown(pobj, pp, ("type", "value", "periodSeconds"))
                ptype = r.string(pobj, "type", pp, None, choices=POLICY_TYPES)
                value = r.integer(pobj, "value", pp, None, minimum=1, maximum=INT32_MAX)
                period = r.integer(pobj, "periodSeconds", pp, None, minimum=1, maximum=1800)
                if ptype is not None and value is not None and period is not None:
                    parsed.append(ScalingPolicy(ptype, value, period))
            if not raw_policies and select != "Disabled":
                r.error(f"{path}.policies", "expected at least one policy (or selectPolicy: Disabled)")
            policies = tuple(parsed)
    return ScalingRules(
        stabilization_window_seconds=window if window is not None else default.stabilization_window_seconds,
        tolerance=tolerance if tolerance is not None else default.tolerance,
        cooldown_seconds=cooldown if cooldown is not None else default.cooldown_seconds,
        select_policy=select or default.select_policy,
        policies=policies,
    )


def parse_spec(raw: Any, source: str = "<spec>", path: str = "spec") -> GPUScalerSpec:
    """Parse the ``spec`` mapping of a GPUScaler; raise :class:`SpecError` listing every problem."""
    r = FieldReader(source)
    spec = _parse_spec(r, raw, path)
    if r.errors or spec is None:
        raise SpecError(r.errors or [FieldError(source, path, "invalid")])
    return spec


def _parse_spec(r: FieldReader, raw: Any, path: str) -> GPUScalerSpec | None:
    obj = r.mapping(raw, path)
    if obj is None:
        return None
    r.unknown(
        obj,
        path,
        (
            "scaleTargetRef",
            "minReplicas",
            "maxReplicas",
            "pollingIntervalSeconds",
            "startupSeconds",
            "metrics",
            "behavior",
            "fallback",
            "paused",
            "pausedScaleIn",
            "pausedScaleOut",
            "formula",
        ),
    )
    ref = None
    ref_obj = r.mapping(obj.get("scaleTargetRef"), f"{path}.scaleTargetRef")
    if ref_obj is not None:
        rp = f"{path}.scaleTargetRef"
        r.unknown(ref_obj, rp, ("apiVersion", "kind", "name"))
        api_version: str | None = r.string(ref_obj, "apiVersion", rp, "apps/v1")
        kind = r.string(ref_obj, "kind", rp, None)
        name = r.string(ref_obj, "name", rp, None)
        api_version = _named(r, f"{rp}.apiVersion", api_version, API_VERSION_NAME)
        kind = _named(r, f"{rp}.kind", kind, KIND_NAME)
        name = _named(r, f"{rp}.name", name, SUBDOMAIN_NAME)
        if api_version and kind and name:
            ref = ScaleTargetRef(api_version, kind, name)
    min_replicas = r.integer(obj, "minReplicas", path, 1, minimum=1, maximum=INT32_MAX)
    max_replicas = r.integer(obj, "maxReplicas", path, None, minimum=1, maximum=INT32_MAX)
    if min_replicas is not None and max_replicas is not None and max_replicas < min_replicas:
        r.error(f"{path}.maxReplicas", f"expected an integer >= minReplicas ({min_replicas}), got {max_replicas}")
    polling = r.integer(obj, "pollingIntervalSeconds", path, 15, minimum=1, maximum=3600)
    startup_auto = obj.get("startupSeconds") == STARTUP_AUTO
    if isinstance(obj.get("startupSeconds"), str) and not startup_auto:
        r.error(
            f"{path}.startupSeconds",
            f"expected an integer >= 0 or {STARTUP_AUTO!r}, got {describe_value(obj['startupSeconds'])}",
        )
        startup = None
    elif startup_auto:
        startup = DEFAULT_STARTUP_SECONDS
    else:
        startup = r.integer(obj, "startupSeconds", path, DEFAULT_STARTUP_SECONDS, minimum=0, maximum=INT32_MAX)
    metrics: list[MetricSpec] = []
    raw_metrics = obj.get("metrics")
    if not isinstance(raw_metrics, list) or not raw_metrics:
        r.error(
            f"{path}.metrics",
            "expected a non-empty list of metrics"
            + ("" if raw_metrics is None else f", got {describe_value(raw_metrics)}"),
        )
    elif len(raw_metrics) > MAX_METRICS:
        r.error(f"{path}.metrics", f"expected at most {MAX_METRICS} metrics, got {len(raw_metrics)}")
    else:
        for i, rm in enumerate(raw_metrics):
            _check_metric_limits(r, rm, f"{path}.metrics[{i}]")
            m = _parse_metric(r, rm, f"{path}.metrics[{i}]")
            if m is not None:
                metrics.append(m)
        seen: dict[str, int] = {}
        for i, m in enumerate(metrics):
            if m.key in seen:
                r.error(f"{path}.metrics[{i}]", f"duplicate metric {m.key!r} (already metrics[{seen[m.key]}])")
            seen.setdefault(m.key, i)
    for i, m in enumerate(metrics):
        if m.look_ahead is not None and polling and m.look_ahead.over_seconds <= 2 * polling:
            r.error(
                f"{path}.metrics[{i}].lookAhead.over",
                f"expected more than {2 * polling} s (a trend needs 3 polls at pollingIntervalSeconds {polling}),"
                f" got {m.look_ahead.over_seconds:g} s",
            )
    behavior = Behavior()
    bobj = r.mapping(obj.get("behavior"), f"{path}.behavior", required=False)
    if bobj is not None:
        r.unknown(bobj, f"{path}.behavior", ("scaleUp", "scaleDown"))
        behavior = Behavior(
            scale_up=_parse_rules(r, bobj.get("scaleUp"), f"{path}.behavior.scaleUp", DEFAULT_SCALE_UP),
            scale_down=_parse_rules(r, bobj.get("scaleDown"), f"{path}.behavior.scaleDown", DEFAULT_SCALE_DOWN),
        )
    fallback = None
    fobj = r.mapping(obj.get("fallback"), f"{path}.fallback", required=False)
    if fobj is not None:
        fp = f"{path}.fallback"
        r.unknown(fobj, fp, ("failureThreshold", "replicas"))
        threshold = r.integer(fobj, "failureThreshold", fp, 3, minimum=1, maximum=INT32_MAX)
        replicas = None
        if fobj.get("replicas") is not None:
            replicas = r.integer(fobj, "replicas", fp, None, minimum=1, maximum=INT32_MAX)
            if replicas is not None and max_replicas is not None and replicas > max_replicas:
                r.error(f"{fp}.replicas", f"expected an integer <= maxReplicas ({max_replicas}), got {replicas}")
        fallback = Fallback(threshold or 3, replicas)
    complete = isinstance(raw_metrics, list) and len(metrics) == len(raw_metrics)
    formula = _parse_formula(r, obj.get("formula"), f"{path}.formula", tuple(metrics) if complete else None)
    paused = r.boolean(obj, "paused", path, False)
    paused_scale_in = r.boolean(obj, "pausedScaleIn", path, False)
    paused_scale_out = r.boolean(obj, "pausedScaleOut", path, False)
    if ref is None or max_replicas is None or min_replicas is None or not metrics:
        return None
    return GPUScalerSpec(
        scale_target_ref=ref,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        polling_interval_seconds=polling or 15,
        startup_seconds=startup if startup is not None else DEFAULT_STARTUP_SECONDS,
        startup_auto=startup_auto,
        metrics=tuple(metrics),
        behavior=behavior,
        fallback=fallback,
        paused=paused,
        paused_scale_in=paused_scale_in,
        paused_scale_out=paused_scale_out,
        formula=formula,
    )


# --------------------------------------------------------------------------- pause annotations

#: Quick toggles on the GPUScaler object (``kubectl annotate gsc llm
#: gpuautoscaler.io/paused-scale-in=true``), as KEDA's ``autoscaling.keda.sh/paused``,
#: ``paused-scale-in`` and ``paused-scale-out`` on a ScaledObject. Each ORs with its spec
#: field: either one pauses, and ``"false"`` on the annotation does not lift a pause
#: the spec holds. An annotation changes no ``generation``; it is read on every poll.
PAUSED_ANNOTATION = "gpuautoscaler.io/paused"
PAUSED_SCALE_IN_ANNOTATION = "gpuautoscaler.io/paused-scale-in"
PAUSED_SCALE_OUT_ANNOTATION = "gpuautoscaler.io/paused-scale-out"

#: (the pause's name, the spec attribute, the spec field, the annotation): the name is the
#: reason of the controller's ``Paused`` condition and of the Event when it starts.
_PAUSES = (
    ("Paused", "paused", "spec.paused", PAUSED_ANNOTATION),
    ("ScaleInPaused", "paused_scale_in", "spec.pausedScaleIn", PAUSED_SCALE_IN_ANNOTATION),
    ("ScaleOutPaused", "paused_scale_out", "spec.pausedScaleOut", PAUSED_SCALE_OUT_ANNOTATION),
)


@dataclass(frozen=True)
class Pause:
    """One pause in force: ``reason`` (``Paused``, ``ScaleInPaused`` or ``ScaleOutPaused``)
    and ``source``, what set it in words (``spec.pausedScaleIn``, or
    ``annotation gpuautoscaler.io/paused-scale-in='true'``)."""

    reason: str
    source: str


@dataclass(frozen=True)
class Paused:
    """The spec with the pause annotations applied, and the pauses in force (none: empty)."""

    spec: GPUScalerSpec
    pauses: tuple[Pause, ...] = ()


def apply_pause_annotations(spec: GPUScalerSpec, annotations: Mapping[str, str]) -> Paused:
    """The spec-level pauses with the object's annotations ORed in: the controller's edge,
    so that the core reads only ``spec.paused``, ``paused_scale_in`` and ``paused_scale_out``.

    An annotation's value is ``"true"`` or ``"false"`` (any case, spaces ignored). Any other
    value (``"yes"``, ``""``) pauses, as KEDA's ``paused`` does with a value that is not a
    boolean: someone set it to stop scaling, and the source says what value was read.
    """
    pauses: list[Pause] = []
    flags: dict[str, bool] = {}
    for reason, attr, field_path, annotation in _PAUSES:
        sources = [field_path] if getattr(spec, attr) else []
        raw = annotations.get(annotation)
        if raw is not None:
            value = raw.strip().lower()
            if value != "false":
                note = "" if value == "true" else " (neither true nor false: taken as true)"
                sources.append(f"annotation {annotation}={_cut(raw)}{note}")
        flags[attr] = bool(sources)
        if sources:
            pauses.append(Pause(reason, " and ".join(sources)))
    if all(flags[attr] == getattr(spec, attr) for attr in flags):
        return Paused(spec, tuple(pauses))
    return Paused(
        replace(
            spec,
            paused=flags["paused"],
            paused_scale_in=flags["paused_scale_in"],
            paused_scale_out=flags["paused_scale_out"],
        ),
        tuple(pauses),
    )


@dataclass(frozen=True)
class NameRule:
    """What the API server asks of a name-like field: a pattern, a length, and the words
    of the error that says so."""

    pattern: re.Pattern[str]
    max_length: int
    expected: str


API_VERSION_NAME = NameRule(
    API_VERSION_PATTERN, MAX_API_VERSION_LENGTH, "'v1' or GROUP/VERSION (e.g. 'apps/v1', 'leaderworkerset.x-k8s.io/v1')"
)
KIND_NAME = NameRule(
    KIND_PATTERN,
    MAX_KIND_LENGTH,
    f"a Kind name (a letter, then letters, digits or '-'; at most {MAX_KIND_LENGTH} characters, "
    f"e.g. 'LeaderWorkerSet')",
)
SUBDOMAIN_NAME = NameRule(
    DNS_SUBDOMAIN,
    MAX_NAME_LENGTH,
    f"a DNS-1123 subdomain (lower-case letters, digits, '-', '.'; at most {MAX_NAME_LENGTH} characters)",
)
LABEL_NAME = NameRule(DNS_LABEL, 63, "a DNS-1123 label (lower-case letters, digits, '-'; at most 63 characters)")


def _named(r: FieldReader, path: str, text: str | None, rule: NameRule) -> str | None:
    """``text`` when it is a name by ``rule`` (or None, already reported); else an error at ``path``, None."""
    if text is None or (len(text) <= rule.max_length and rule.pattern.fullmatch(text) is not None):
        return text
    r.error(path, f"expected {rule.expected}, got {_cut(text)}")
    return None


def _cut(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...") + f" ({len(text)} characters)"


def _check_metric_limits(r: FieldReader, raw: Any, path: str) -> None:
    """The CRD's length limits on one raw metric, beside the metric's own parsing (which
    holds targets to >= 0.001): names up to 253 characters, queries up to 4,096."""
    if not isinstance(raw, Mapping):
        return
    for key, limit in (("name", MAX_NAME_LENGTH), ("query", MAX_QUERY_LENGTH)):
        value = raw.get(key)
        if isinstance(value, str) and len(value) > limit:
            r.error(f"{path}.{key}", f"expected at most {limit} characters, got {len(value)}")


def parse_scaler(doc: Any, source: str = "<document>") -> GPUScaler:
    """Parse a whole GPUScaler object (apiVersion, kind, metadata, spec).

    As the API server does, the name must be a DNS-1123 subdomain (``llm-7b``, up to 253
    characters) and the namespace a DNS-1123 label (up to 63); unknown top-level fields
    are refused (``kubectl apply``'s strict field validation)."""
    r = FieldReader(source)
    obj = r.mapping(doc, "document")
    if obj is None:
        raise SpecError(r.errors)
    r.unknown(obj, "", TOP_LEVEL_FIELDS)
    if obj.get("apiVersion") != API_VERSION:
        r.error("apiVersion", f"expected {API_VERSION!r}, got {_describe_short(obj.get('apiVersion'))}")
    if obj.get("kind") != KIND:
        r.error("kind", f"expected {KIND!r}, got {_describe_short(obj.get('kind'))}")
    meta = r.mapping(obj.get("metadata"), "metadata")
    name, namespace, generation = "", "default", 0
    if meta is not None:
        name = r.string(meta, "name", "metadata", None) or ""
        if name:
            _named(r, "metadata.name", name, SUBDOMAIN_NAME)
        namespace = r.string(meta, "namespace", "metadata", "default") or "default"
        _named(r, "metadata.namespace", namespace, LABEL_NAME)
        gen = meta.get("generation")
        generation = gen if isinstance(gen, int) and not isinstance(gen, bool) else 0
    spec = _parse_spec(r, obj.get("spec"), "spec")
    if r.errors or spec is None:
        raise SpecError(r.errors or [FieldError(source, "spec", "invalid")])
    return GPUScaler(name=name, namespace=namespace, spec=spec, generation=generation)


def _describe_short(value: Any) -> str:
    return _cut(value) if isinstance(value, str) else describe_value(value)


def load_scaler(path: str | Path) -> GPUScaler:
    """Read one GPUScaler from a YAML file. I/O and YAML errors become :class:`SpecError`.

    The file is read by the project's one YAML loader (:mod:`autoscaler.safe_yaml`):
    bytes that are not UTF-8, duplicate keys and alias bombs are refused with their line.
    """
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise SpecError([FieldError(source, "file", f"cannot read: {e.strerror or e}")]) from None
    try:
        docs = load_documents(decode(data))
    except YAMLProblem as e:
        where = f"line {e.line}" if e.line else "document"
        raise SpecError([FieldError(source, where, e.message)]) from None
    if len(docs) != 1:
        raise SpecError([FieldError(source, "document", f"expected exactly one YAML document, got {len(docs)}")])
    return parse_scaler(docs[0].value, source)
