"""Where an HTTP server listens: ``HOST:PORT`` parsing and a bind that works for IPv4,
IPv6 and both at once. Shared by the exporter's server and the controller's
``/metrics``/``/healthz`` endpoint (``autoscaler/controller.py``), so an address means
the same thing to both; it lives here, in the lower of the two packages, because the
controller may reuse the exporter's serving code but the exporter never needs the
controller's.

Addresses: ``:8080`` is every interface, IPv6 and IPv4 together (one dual-stack socket,
``IPV6_V6ONLY=0``; IPv4 alone where the host has no IPv6); ``127.0.0.1:0`` a free port
on loopback; ``[::1]:9000`` IPv6 loopback; a name is resolved and its first address used.
"""
from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_address(address: str) -> tuple[str, int]:
    """``:8080`` -> ("", 8080) (all interfaces); ``127.0.0.1:0`` -> a free port;
    ``[::1]:9000`` -> ("::1", 9000). ValueError with the expectation otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT or :PORT (e.g. :8080), got {address!r}")
    return host.strip("[]"), int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def family_of(host: str) -> socket.AddressFamily | None:
    """AF_INET or AF_INET6 for a literal or a name; None for "" (every interface)."""
    if host in ("", "::"):
        return None
    if ":" in host:
        return socket.AF_INET6
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return infos[0][0] if infos else socket.AF_INET


def bind(host: str, port: int, handler: type[BaseHTTPRequestHandler],
         server: type[ThreadingHTTPServer] = _Server) -> ThreadingHTTPServer:
    """A bound (not yet serving) ``server`` (a ThreadingHTTPServer class: the caller's own,
    with its settings, or one with daemon request threads) for ``host:port``, of the
    right address family. Raises OSError when the address cannot be bound."""
    family = family_of(host)
    if family is None:
        if socket.has_ipv6:
            try:
                return _dual_stack(server)(("::", port), handler)
            except OSError:
                pass  # a host with IPv6 compiled in but switched off: IPv4 alone
        return _of_family(server, socket.AF_INET)(("", port), handler)
    return _of_family(server, family)((host, port), handler)


def _of_family(server: type[ThreadingHTTPServer], family: socket.AddressFamily) -> type[ThreadingHTTPServer]:
    if server.address_family == family:
        return server
    return type(server.__name__, (server,), {"address_family": family})


def _dual_stack(server: type[ThreadingHTTPServer]) -> type[ThreadingHTTPServer]:
    def server_bind(self: ThreadingHTTPServer) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        server.server_bind(self)

    return type(server.__name__, (server,), {"address_family": socket.AF_INET6, "server_bind": server_bind})
