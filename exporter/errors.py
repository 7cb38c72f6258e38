"""The exporter's own error hierarchy.

Vendor errors (``pynvml.NVMLError``, ``grpc.RpcError``, ``urllib`` and ``kubernetes``
exceptions) are caught in the one module that talks to each vendor and re-raised as
one of these, so the rest of the exporter (and its tests) never imports a vendor
library to handle a failure. Each error carries the ``kind`` under which it is counted
in ``gpu_exporter_errors_total{kind=...}``.
"""

from __future__ import annotations


class ExporterError(Exception):
    """Base of every error the exporter raises on purpose."""

    kind: str = "exporter"


class NvmlError(ExporterError):
    """An NVML call failed.

    ``call`` is the NVML function name (``nvmlDeviceGetPowerUsage``), ``code`` the
    NVML return code (15 = ``NVML_ERROR_GPU_IS_LOST``), so a log line says which call
    failed on which GPU and why.
    """

    kind = "nvml"

    def __init__(self, call: str, code: int, message: str) -> None:
        super().__init__(f"{call}: {message} (NVML error {code})")
        self.call = call
        self.code = code
        self.message = message


class NvmlNotSupported(NvmlError):
    """The GPU does not offer this reading (``NVML_ERROR_NOT_SUPPORTED``).

    Not a fault: power on some boards, utilization on a MIG-enabled GPU. The reading is
    left out and nothing is counted.
    """


class NvmlUnavailable(NvmlError):
    """NVML itself cannot be used: no driver, no ``libnvidia-ml.so.1``, init failed."""


class PodResourcesError(ExporterError):
    """The kubelet's PodResources API could not be read (socket absent, RPC failed)."""

    kind = "podresources"


class TargetError(ExporterError):
    """One model-server target could not be read (``queue_fetch``) or understood
    (``queue_parse``)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class DiscoveryError(ExporterError):
    """Listing this node's pods from the Kubernetes API failed."""

    kind = "discovery"


class ConfigError(ExporterError):
    """Bad configuration given at the edge (CLI options, targets file); exit code 2."""

    kind = "config"


#: Every ``kind`` counted in ``gpu_exporter_errors_total``; the counter starts at 0 for
#: each so that ``rate()`` and alerts see the series before the first error.
ERROR_KINDS: tuple[str, ...] = ("nvml", "gpm", "podresources", "queue_fetch", "queue_parse", "discovery")
