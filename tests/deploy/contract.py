"""Metric names the dashboards and alerts may use: DESIGN.md Contract 2, plus the
per-scaler gauges agreed with the controller (autoscaler/telemetry.py exports them)."""
from __future__ import annotations

EXPORTER = frozenset({
    "gpu_utilization_ratio",
    "gpu_sm_active_ratio",
    "gpu_sm_occupancy_ratio",
    "gpu_tensor_active_ratio",
    "gpu_dram_bandwidth_ratio",
    "gpu_memory_used_bytes",
    "gpu_memory_total_bytes",
    "gpu_power_watts",
    "gpu_temperature_celsius",
    "gpu_up",
    "inference_queue_depth",
    "inference_running_requests",
    "inference_prompt_tokens_total",
    "inference_generation_tokens_total",
    "inference_kv_cache_usage_ratio",
    # proposed beside Contract 2 (the exporter's per-pod latency histograms)
    "inference_time_to_first_token_seconds",
    "inference_queue_time_seconds",
    "gpu_exporter_scrape_duration_seconds",
    "gpu_exporter_errors_total",
})

# GPU health (issue 13, item 4): names are the exporter's (Contract 2 says so), listed
# in README's exporter section.
EXPORTER_HEALTH = frozenset({
    "gpu_healthy",
    "gpu_clocks_event_reasons",
    "gpu_xid_errors_total",
    "gpu_ecc_errors_total",
})

CONTROLLER = frozenset({
    "gpu_autoscaler_current_replicas",
    "gpu_autoscaler_desired_replicas",
    "gpu_autoscaler_metric_value",
    "gpu_autoscaler_metric_target",
    "gpu_autoscaler_scale_events_total",
    "gpu_autoscaler_reconcile_duration_seconds",
    "gpu_autoscaler_errors_total",
    "gpu_autoscaler_leader",
    "gpu_autoscaler_replica_startup_seconds",
})

# Beyond Contract 2, per scaler {namespace, scaler}: for "pinned at max" and
# "metrics unavailable".
CONTROLLER_AGREED = frozenset({
    "gpu_autoscaler_min_replicas",
    "gpu_autoscaler_max_replicas",
    "gpu_autoscaler_metrics_available",
    "gpu_autoscaler_unschedulable_replicas",
})

HISTOGRAMS = frozenset({
    "gpu_autoscaler_reconcile_duration_seconds",
    "gpu_autoscaler_replica_startup_seconds",
    "inference_time_to_first_token_seconds",
    "inference_queue_time_seconds",
})

ALL = EXPORTER | EXPORTER_HEALTH | CONTROLLER | CONTROLLER_AGREED


def series_names() -> frozenset[str]:
    """Names as they appear in Prometheus (a histogram as its _bucket/_sum/_count)."""
    out = set(ALL - HISTOGRAMS)
    for h in HISTOGRAMS:
        out |= {f"{h}_bucket", f"{h}_sum", f"{h}_count"}
    return frozenset(out)
