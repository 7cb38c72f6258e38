"""A formula's proposal (``spec.formula``): one replica count from an expression over the
scaler's metrics, in place of the proposals of the metrics it names. Pure.

What a name stands for: the metric's target-wide value. For a per-pod metric that is
the sum of the samples of its ready pods (the classes of
:func:`autoscaler.core.proposal.classify_pods`: loading, stuck, unschedulable and
deleting pods are set aside as for every metric); for a target-wide one, its value. So
with queues of 6 and 10 and KV caches at 60 % and 40 % on two ready pods,
``queue_depth + 0.5 * kv_cache_usage`` is ``16 + 0.5 x 100 = 66``.

The result is proposed by HPA's rules for one target-wide number (the same code as a
``Prometheus`` metric, :func:`autoscaler.core.proposal.propose`): against
``averageValue: 30`` it asks ``ceil(66 / 30) = 3`` (External rule; no change while
``66 / (30 x current)`` is inside the tolerance band), against ``value: 30`` it asks
``ceil(66 / 30 x 2 ready) = 5`` (Object rule). The answer is a count of replicas for the
whole load, not a ratio to the ready ones, so replicas still loading are already part of
``current``: 2 ready at queue 8 with 2 loading, ``queue_depth`` against 4, asks
``ceil(16 / 4) = 4``, a hold, where a calculator blind to them asks 4 + 2 = 6 (reported as
the ``Loading`` limit, as the per-pod rule does).

Faults make the proposal invalid, and :func:`autoscaler.core.decide` then holds as for any
unavailable metric (never a scale-down on missing data): a named metric that failed,
has no usable sample or value, a division by zero, a result that is NaN or infinite.
A ready pod without a sample of a named per-pod metric is load unseen: an answer below
current then keeps current (as :func:`~autoscaler.core.proposal.propose` does for the
square-root rule). A negative result counts as 0 (``queue_depth - 5`` with 3 waiting
asks for the fewest replicas, not for a negative count).

Which term led, for the reason: in a sum, the term contributing most (``16 + 0.5 x 100``:
``kv_cache_usage``, 50 > 16); in ``max(...)``/``min(...)``, the argument that won; in a
product or quotient of two metrics, the product itself (``queue_depth / running_requests``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import NamedTuple

from autoscaler.core.proposal import MAX_VALUE, PodClasses, Tolerance, propose
from autoscaler.core.types import MetricObservation, MetricProposal, Observation
from autoscaler.expression import Call, Expr, Name, Negate, Number, text
from autoscaler.spec import FORMULA_KEY, FormulaSpec, GPUScalerSpec, MetricSpec


@dataclass(frozen=True)
class FormulaProposal(MetricProposal):
    """A formula's proposal, keyed :data:`~autoscaler.spec.FORMULA_KEY`; ``led`` names the
    term that contributed most (``queue_depth``), for the reason and the conditions."""

    led: str = ""


class Evaluation(NamedTuple):
    """An expression's value and the term that led, or the error that left it undefined."""

    value: float
    led: str | None = None
    error: str | None = None


class _Undefined(Exception):
    """Raised inside :func:`evaluate` (division by zero); becomes an Evaluation's error."""


class _Part(NamedTuple):
    value: float
    led: str | None
    #: For a sum or difference: each term's signed contribution and its leader.
    terms: tuple[tuple[float, str | None], ...] = ()


def evaluate(expr: Expr, values: Mapping[str, float]) -> Evaluation:
    """``expr`` over ``values`` (a value for every name), with its leading term.

    ``queue_depth + 0.5 * kv_cache_usage`` over 16 and 100 is 66, ``kv_cache_usage`` led
    (0.5 x 100 = 50 > 16); ``max(queue_depth, 2)`` over 1 is 2, led by ``2``;
    ``queue_depth / running_requests`` over 4 and 0 is undefined (division by zero)."""
    try:
        part = _eval(expr, values)
    except _Undefined as e:
        return Evaluation(math.nan, None, str(e))
    if not math.isfinite(part.value):
        return Evaluation(part.value, part.led, f"the result is {part.value}")
    return Evaluation(part.value, part.led if part.led is not None else text(expr))


def _eval(expr: Expr, values: Mapping[str, float]) -> _Part:
    if isinstance(expr, Number):
        return _Part(expr.value, None)
    if isinstance(expr, Name):
        return _Part(values[expr.key], expr.key)
    if isinstance(expr, Negate):
        inner = _eval(expr.operand, values)
        return _Part(-inner.value, inner.led, tuple((-v, led) for v, led in _terms(inner)))
    if isinstance(expr, Call):
        args = [_eval(a, values) for a in expr.args]
        pick = max if expr.function == "max" else min
        won = pick(range(len(args)), key=lambda i: args[i].value)  # the first of equals wins
        return _Part(args[won].value, args[won].led if args[won].led is not None else text(expr.args[won]))
    left, right = _eval(expr.left, values), _eval(expr.right, values)
    if expr.op in "+-":
        sign = 1.0 if expr.op == "+" else -1.0
        terms = _terms(left) + tuple((sign * v, led) for v, led in _terms(right))
        value = left.value + right.value if expr.op == "+" else left.value - right.value
        named = [(v, led) for v, led in terms if led is not None]
        led = max(named, key=lambda t: t[0])[1] if named else None  # first of the largest
        return _Part(value, led, terms)
    if expr.op == "/" and right.value == 0:
        raise _Undefined(f"division by zero in {text(expr)} ({text(expr.right)} is 0)")
    value = left.value * right.value if expr.op == "*" else left.value / right.value
    if left.led is not None and right.led is not None:
        return _Part(value, text(expr))
    return _Part(value, left.led if left.led is not None else right.led)


def _terms(part: _Part) -> tuple[tuple[float, str | None], ...]:
    return part.terms or ((part.value, part.led),)


class _Named(NamedTuple):
    """The value a metric's name stands for, or why there is none; ``unseen``: ready pods
    without a sample; ``all_loading``: no ready pod reports because every one is loading."""

    value: float | None
    error: str | None = None
    unseen: bool = False
    all_loading: bool = False


def named_value(metric: MetricSpec, obs: Observation, classes: PodClasses) -> _Named:
    """What ``metric``'s name stands for in a formula this poll (see the module docstring)."""
    mo = obs.metrics.get(metric.key)
    if mo is None or mo.error is not None:
        return _Named(None, mo.error if mo is not None and mo.error else "no data for this metric")
    if not metric.per_pod:
        v = mo.value
        if v is None or not 0 <= v < math.inf:
            return _Named(None, "no valid value")
        return _Named(min(v, MAX_VALUE))
    candidates = classes.candidates
    ready = {p: v for p, v in mo.per_pod.items() if p in candidates and 0 <= v < math.inf}
    if not ready:
        if (classes.loading or classes.unschedulable) and not candidates:
            return _Named(None, all_loading=True)
        return _Named(None, "no samples for ready pods" if candidates else "no ready pods of the scale target")
    return _Named(sum(min(v, MAX_VALUE) for v in ready.values()), unseen=len(ready) < len(candidates))


def propose_formula(
    spec: GPUScalerSpec, obs: Observation, tolerance: Tolerance, classes: PodClasses
) -> tuple[MetricProposal, ...]:
    """The proposals that join ``max``: those of the metrics the formula does not name, in
    spec order, and the formula's in the place of the first metric it names (the first
    of equal proposals leads, as in HPA)."""
    formula = spec.formula
    assert formula is not None
    named = formula.names
    out: list[MetricProposal] = []
    placed = False
    for m in spec.metrics:
        if m.key not in named:
            out.append(propose(m, obs, tolerance, classes, spec.min_replicas))
        elif not placed:
            out.append(formula_proposal(spec, formula, obs, tolerance, classes))
            placed = True
    return tuple(out)


def formula_proposal(
    spec: GPUScalerSpec, formula: FormulaSpec, obs: Observation, tolerance: Tolerance, classes: PodClasses
) -> FormulaProposal:
    """The formula's proposal: its value by HPA's rule for one target-wide number, or invalid."""
    target = formula.target
    base = FormulaProposal(key=FORMULA_KEY, target_kind=target.kind, target=target.amount)
    metrics = {m.key: m for m in spec.metrics}
    values: dict[str, float] = {}
    unseen = loading = False
    for key in formula.names:
        got = named_value(metrics[key], obs, classes)
        if got.all_loading:
            loading = True
        elif got.value is None:
            return _invalid(base, f"{key}: {got.error}")
        else:
            values[key] = got.value
            unseen = unseen or got.unseen
    if loading:
        # Every replica is still loading (or waits for a node): nothing reports load yet.
        # Not a metrics failure and no reason to scale either way, as the per-pod rule says.
        why = "still loading its model" if classes.loading else "waiting for a node"
        return replace(
            base, replicas=obs.current_replicas, reason=f"every replica is {why}: hold", loading_adjusted=True
        )
    result = evaluate(formula.tree, values)
    if result.error is not None:
        return _invalid(base, result.error)
    value = max(result.value, 0.0)
    led = result.led or formula.names[0]
    # Pods whose GPU is lost serve nothing: a sum over ready pods already leaves them out,
    # so the replicas asked for the load are healthy ones, and the lost ones come on top
    # (as the per-pod rule adds them). Only against averageValue: the Object rule's
    # ``ready pods`` counts Ready pods, these among them.
    broken = 0
    if classes.unhealthy and target.kind == "averageValue" and any(metrics[k].per_pod for k in formula.names):
        broken = len(classes.unhealthy)
    one = propose(_as_metric(formula), _alone(obs, value, broken), tolerance, classes, spec.min_replicas)
    if one.replicas is None:
        return _invalid(base, one.error or "invalid")
    n, why = one.replicas + broken, f"{text(formula.tree)} = {value:g} ({led} led): {one.reason}"
    if broken:
        why = f"{why}; + {broken} with a GPU unhealthy = {n}"
    if unseen and n < obs.current_replicas:
        n, why = obs.current_replicas, f"{why}; ready pods without samples: keep current"
    without = None
    if classes.loading and n >= obs.current_replicas and any(metrics[k].per_pod for k in formula.names):
        # What a calculator blind to loading replicas would ask for: this answer plus
        # them again on top (a second scale-up for the same load). Only where a per-pod
        # metric is named: a formula of target-wide values alone reads no pod, as a
        # Prometheus metric does not.
        without = n + len(classes.loading)
    return replace(
        base,
        replicas=n,
        usage=value,
        ratio=one.ratio,
        reason=why,
        loading_adjusted=without is not None,
        replicas_without_loading=without,
        led=led,
    )


#: The longest leading name: ``status.leadingMetric``'s maxLength in the CRD (a metric's
#: own name is at most this long too). A longer term is cut: ``formula (a_very_lo... led)``.
MAX_LEADING = 253


def name_leading(leading: MetricProposal) -> MetricProposal:
    """The leading proposal as the reason and ``ScalingActive`` name it: a formula's with
    its leading term, ``formula (queue_depth led)``; any other as it is."""
    if isinstance(leading, FormulaProposal) and leading.led:
        room = MAX_LEADING - len(f"{leading.key} ( led)")
        led = leading.led if len(leading.led) <= room else leading.led[: room - 3] + "..."
        return replace(leading, key=f"{leading.key} ({led} led)")
    return leading


def _invalid(base: FormulaProposal, error: str) -> FormulaProposal:
    return replace(base, error=error, reason=f"{base.key}: unavailable ({error})")


@lru_cache(maxsize=64)
def _as_metric(formula: FormulaSpec) -> MetricSpec:
    """The formula as a target-wide metric, so that its value takes the very rules a
    ``Prometheus`` metric's does. (Cached: one per formula, asked every poll.)"""
    return MetricSpec(type="Prometheus", target=formula.target, name=FORMULA_KEY, query=formula.expression)


def _alone(obs: Observation, value: float, broken: int = 0) -> Observation:
    """The formula's value as the one metric of ``obs``; ``broken`` replicas (a GPU lost)
    are not counted among the current ones the tolerance band compares against."""
    status = obs.status_replicas if obs.status_replicas is not None else obs.current_replicas
    return Observation(
        current_replicas=max(obs.current_replicas - broken, 0),
        pods=obs.pods,
        metrics={FORMULA_KEY: MetricObservation(value=value)},
        status_replicas=max(status - broken, 0),
    )
