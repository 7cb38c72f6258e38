"""A simulated cluster on one machine: the parts the playground, the benchmarks and the
tests run in place of a real one — a Kubernetes API emulator, model servers serving real
``/metrics``, a fake NVML module for the real exporter, and a real Prometheus started on
127.0.0.1 with a temporary data dir."""
