"""``Prometheus``: any PromQL query that returns one target-wide number.

``name`` is its key in observations and recordings, ``query`` the PromQL. With a
``value`` target the answer is HPA's Object rule (``ceil(value / target x ready pods)``);
with ``averageValue`` it is the External rule, ``ceil(value / target)`` — 12,000
tokens/s at 2,500 per replica asks for 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoscaler.fields import FieldReader
from autoscaler.metrics.types import Fields, MetricDefinition, MetricType


def _parse(r: FieldReader, obj: Mapping[str, Any], path: str) -> Fields | None:
    name = r.string(obj, "name", path, None)
    query = r.string(obj, "query", path, None)
    if name is not None and ("," in name or "\n" in name):
        r.error(f"{path}.name", "expected a name without commas or newlines")
        name = None
    if name is None or query is None:
        return None
    return {"name": name, "query": query}


DEFINITION = MetricDefinition(
    type=MetricType.PROMETHEUS,
    target_kinds=("averageValue", "value"),
    per_pod=False,
    fields=("name", "query"),
    parse=_parse,
)
