"""Metric sources: where the loop's numbers come from.

``base`` holds the seam (the :class:`~autoscaler.sources.base.MetricSource` Protocol,
the batched snapshot and our error type), ``signals`` the table of series behind each
built-in signal (ours, dcgm-exporter's, vLLM's), ``promql`` the pure query builders and
escaping, and ``prometheus`` the one adapter over ``prometheus_api_client``.
"""
