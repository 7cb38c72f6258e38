"""Metric types: each one a definition in its own module, registered once in :mod:`.registry`.

This package belongs to the spec layer: pure data and validation, no I/O, so the decision
core, the sources, the dry-run and the simulator may all import it. Adding a metric type
is one new module here (its :class:`~autoscaler.metrics.types.MetricDefinition`), one
line in :data:`autoscaler.metrics.registry.DEFINITIONS` and its tests.
"""
