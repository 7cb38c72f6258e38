"""``GPUUtilization``: how busy each replica's GPUs are, in percent 0..100, per pod.

``signal: smActive`` (the default) is the share of SMs with work (DCGM's SM_ACTIVE,
or our exporter's ``gpu_sm_active_ratio``); ``signal: utilization`` is NVML's plain
counter, which reads 100 % while one kernel runs on one SM. A pod with two GPUs at 0.30
and 0.50 SM activity reads avg = 0.40, times 100 = 40 %. ``DCGM_FI_PROF_SM_ACTIVE`` is a
0..1 ratio; ``DCGM_FI_DEV_GPU_UTIL`` is already a percent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from autoscaler.fields import FieldReader
from autoscaler.metrics.types import Fields, MetricDefinition, MetricType, SeriesSpec, Signal, SignalChoice

if TYPE_CHECKING:
    pass

KEY = "gpu_utilization"
SM_ACTIVE = Signal("sm_active")
UTILIZATION = Signal("utilization")
#: The spec's ``signal`` choices and the signal each one reads.
SIGNALS = SignalChoice({"smActive": SM_ACTIVE, "utilization": UTILIZATION})


def _parse(r: FieldReader, obj: Mapping[str, Any], path: str) -> Fields | None:
    return {"signal": SIGNALS.parse(r, obj, path)}


DEFINITION = MetricDefinition(
    type=MetricType.GPU_UTILIZATION,
    target_kinds=("averageUtilization", "averageValue", "value"),
    per_pod=True,
    key=KEY,
    fields=("signal",),
    parse=_parse,
    signal_of=SIGNALS.of,
    series={
        "ours": {
            SM_ACTIVE: SeriesSpec("gpu_sm_active_ratio", "avg", 100.0),
            UTILIZATION: SeriesSpec("gpu_utilization_ratio", "avg", 100.0),
        },
        "dcgm": {
            SM_ACTIVE: SeriesSpec("DCGM_FI_PROF_SM_ACTIVE", "avg", 100.0),
            UTILIZATION: SeriesSpec("DCGM_FI_DEV_GPU_UTIL", "avg", 1.0),
        },
    },
    ceiling=100.0,
)
