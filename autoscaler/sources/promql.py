"""Pure PromQL builders and escaping. No I/O: every function here is table-tested.

Label values reach PromQL only through :func:`quote` (a double-quoted string with
``\\``, ``"`` and newlines escaped) and, inside ``=~`` matchers, :func:`regex_literal`
first (RE2 metacharacters escaped), so a namespace can never change a query's meaning.
Namespace and pod names are also validated as Kubernetes names before use: anything
else is a bug or an attack, and is refused with :class:`PromQLError`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from autoscaler.sources.signals import SeriesSpec

#: A DNS-1123 label (namespaces): at most 63 of [a-z0-9-], alphanumeric at both ends.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
#: A DNS-1123 subdomain (pod and workload names): at most 253 chars, dot-separated labels.
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")
_AGGREGATIONS = ("max", "min", "avg", "sum")

#: The label that tells a batched query's value series from its timestamp series.
FIELD_LABEL = "gpu_autoscaler_field"

#: The window a counter's rate is taken over: ``rate(NAME[60s])``. Chosen as
#: ``max(1m, 4 x scrape interval)`` for the usual 15 s scrape: ``rate()`` needs two
#: samples inside the window, and four leave room for a missed scrape or two (with a 30 s
#: scrape, set 120 s: ``PrometheusSettings.rate_window_seconds``). Longer smooths more
#: but lags: a burst that began 15 s ago shows at about 15/60 = 25 % of its rate in a 1 m
#: window. Prometheus extrapolates to the window's edges, so a steady 1,500 tokens/s reads
#: 1,500 whatever the scrape phase. The catch: a pod whose series is younger than the
#: window is extrapolated only half a scrape interval past its first sample, so in its
#: first minute it reads low (15 s of samples in a 60 s window: about (15 + 7.5) / 60 =
#: 40 % of its rate at the first poll), pulling a per-replica average down just after a
#: scale-up. A pod with a single sample has no rate at all: it is missing, not 0.
DEFAULT_RATE_WINDOW_SECONDS = 60.0


class PromQLError(ValueError):
    """A name or value that must not go into a query."""


def quote(value: str) -> str:
    """A PromQL double-quoted string literal: ``a"b`` -> ``"a\\"b"``."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def regex_literal(value: str) -> str:
    """``value`` as an RE2 pattern matching only itself: ``a.b`` -> ``a\\.b``."""
    return _RE2_SPECIAL.sub(r"\\\1", value)


def check_namespace(name: str) -> str:
    if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        raise PromQLError(
            f"namespace {name!r} is not a Kubernetes namespace name (expected at most 63 of a-z, 0-9 and '-')"
        )
    return name


def check_object_name(name: str) -> str:
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise PromQLError(f"name {name!r} is not a Kubernetes object name (expected a DNS-1123 subdomain)")
    return name


def check_metric_name(name: str) -> str:
    if not _METRIC_NAME.fullmatch(name):
        raise PromQLError(f"metric name {name!r} is not valid in PromQL")
    return name


def check_label_name(name: str) -> str:
    if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
        raise PromQLError(f"label name {name!r} is not valid in PromQL")
    return name


def matcher(label: str, value: str) -> str:
    """``label="value"``, escaped."""
    return f"{check_label_name(label)}={quote(value)}"


def any_of(label: str, values: Collection[str]) -> str:
    """``label="a"`` for one value, ``label=~"a|b"`` for several (sorted, de-duplicated)."""
    distinct = sorted(set(values))
    if not distinct:
        raise PromQLError(f"no values for {label}")
    if len(distinct) == 1:
        return matcher(label, distinct[0])
    return f"{check_label_name(label)}=~{quote('|'.join(regex_literal(v) for v in distinct))}"


def selector(metric: str, matchers: Sequence[str] = ()) -> str:
    """``metric{m1,m2}`` (or bare ``metric``) from already-built matchers."""
    check_metric_name(metric)
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric


def namespace_matchers(namespaces: Collection[str] | None) -> list[str]:
    """Matchers limiting a batched query to pods of the given namespaces (None: all).

    ``pod!=""`` is always there: a GPU not allocated to any pod carries no ``pod`` label
    and must not form a ``(namespace="", pod="")`` group.
    """
    out = []
    if namespaces is not None:
        out.append(any_of("namespace", [check_namespace(n) for n in namespaces]))
    out.append('pod!=""')
    return out


def window(seconds: float) -> str:
    """A PromQL range in whole seconds: 60 -> ``60s`` (at least 1 s)."""
    return f"{max(1, round(seconds))}s"


def series_expr(series: SeriesSpec, matchers: Sequence[str], rate_window: float | None = None) -> str:
    """The series' selector (``or`` its older names), a counter as its rate:
    ``rate(inference_prompt_tokens_total{...}[60s])``;
    ``vllm:kv_cache_usage_perc{...} or vllm:gpu_cache_usage_perc{...}`` (set operators
    match on labels without the metric name, so a pod with both keeps the first)."""
    span = window(DEFAULT_RATE_WINDOW_SECONDS if rate_window is None else rate_window)
    parts = [selector(name, matchers) for name in series.metrics]
    if series.counter:
        parts = [f"rate({p}[{span}])" for p in parts]
    return " or ".join(parts)


def _raw_expr(series: SeriesSpec, matchers: Sequence[str]) -> str:
    return " or ".join(selector(name, matchers) for name in series.metrics)


def per_pod(series: SeriesSpec, namespaces: Collection[str] | None, rate_window: float | None = None) -> str:
    """One number per ``(namespace, pod)`` in the signal's unit, e.g.
    ``avg by (namespace, pod) (gpu_sm_active_ratio{namespace="a",pod!=""}) * 100``, or for
    a counter ``max by (namespace, pod) (rate(inference_prompt_tokens_total{...}[60s]))``."""
    if series.aggregation not in _AGGREGATIONS:
        raise PromQLError(f"unknown aggregation {series.aggregation!r}")
    inner = series_expr(series, namespace_matchers(namespaces), rate_window)
    expr = f"{series.aggregation} by (namespace, pod) ({inner})"
    return expr if series.scale == 1 else f"{expr} * {series.scale:g}"


def per_pod_timestamps(series: SeriesSpec, namespaces: Collection[str] | None) -> str:
    """The oldest sample time among each pod's series: ``min by (namespace, pod)
    (timestamp(...))``. The oldest, so a pod with one fresh and one frozen GPU series
    counts as stale rather than half-measured. For a counter, the time of its last raw
    sample: ``timestamp(rate(...))`` would be the evaluation time, and a counter that
    stopped being scraped 40 s ago still has a rate in a 60 s window."""
    inner = _raw_expr(series, namespace_matchers(namespaces))
    return f"min by (namespace, pod) (timestamp({inner}))"


def batched(series: SeriesSpec, namespaces: Collection[str] | None, rate_window: float | None = None) -> str:
    """Values and sample times for every pod in ONE query.

    An instant query stamps each result with the evaluation time, not the sample's, so
    a value frozen for four minutes still looks current (Prometheus looks back 5 min).
    ``timestamp()`` gives the real sample time; the two vectors are told apart by
    ``gpu_autoscaler_field`` ("value" / "timestamp") and joined with ``or`` (their label
    sets differ, so nothing is dropped). For 4,000 pods that is 8,000 result rows.
    """
    return (
        f'label_replace({per_pod(series, namespaces, rate_window)}, "{FIELD_LABEL}", "value", "", "") or '
        f'label_replace({per_pod_timestamps(series, namespaces)}, "{FIELD_LABEL}", "timestamp", "", "")'
    )


def over_pods(series: SeriesSpec, namespace: str, pod_regex: str, rate_window: float | None = None) -> str:
    """Per-pod values of one workload for ``record``: ``avg by (pod) (m{namespace="ns",pod=~"re"}) * 100``;
    a counter as its rate, so the recording holds what the controller would have seen.

    ``pod_regex`` is a pattern we built from a validated name (see
    :func:`workload_pod_regex`), so it is quoted but not escaped again.
    """
    if series.aggregation not in _AGGREGATIONS:
        raise PromQLError(f"unknown aggregation {series.aggregation!r}")
    inner = series_expr(
        series, [matcher("namespace", check_namespace(namespace)), f"pod=~{quote(pod_regex)}"], rate_window
    )
    expr = f"{series.aggregation} by (pod) ({inner})"
    return expr if series.scale == 1 else f"{expr} * {series.scale:g}"


#: Kubernetes' "safe" alphabet for generated name parts (pod-template-hash and the
#: random pod suffix): no vowels, no 0/1/3, so a ReplicaSet hash never spells a word.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def workload_pod_regex(kind: str, name: str) -> str:
    """The names a workload's pods get, as an RE2 pattern.

    A Deployment ``llm`` makes pods ``llm-<hash>-<5 chars>`` (``llm-7d9f8b6c4d-x2x9z``),
    so ``llm-[safe]{1,10}-[safe]{5}`` matches them but not ``llm-big-...`` of another
    Deployment (``big`` contains a vowel). A StatefulSet's pods are ``name-0``,
    ``name-1``...; anything else gets ``name-.+``.
    """
    check_object_name(name)
    base = regex_literal(name)
    if kind == "Deployment":
        return f"{base}-[{_SAFE}]{{1,10}}-[{_SAFE}]{{5}}"
    if kind == "StatefulSet":
        return f"{base}-[0-9]+"
    return f"{base}-.+"
