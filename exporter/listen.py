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

import ipaddress
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_address(address: str) -> tuple[str, int]:
    """``:8080`` -> ("", 8080) (all interfaces); ``127.0.0.1:0`` -> a free port;
    ``[::1]:9000`` -> ("::1", 9000). ValueError with the expectation otherwise: an IPv6
    host goes in brackets (``::1:9000`` is ambiguous and refused)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT or :PORT (e.g. :8080) with a port 0..65535, got {address!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if "[" in host or "]" in host or (":" in host and not _is_ipv6(host)):
        raise ValueError(f"expected HOST:PORT with an IPv6 host in brackets, as in [::1]:9000, got {address!r}")
    return host, int(port)


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def family_of(host: str) -> socket.AddressFamily | None:
    """AF_INET or AF_INET6 for a literal or a name; None for "" (every interface)."""
    if host in ("", "::"):
        return None
    if ":" in host:
        return socket.AF_INET6
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return infos[0][0] if infos else socket.AF_INET


def listening_socket(host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (port 0: any free port).

    The family follows the host: an IPv6 literal (``::1``) binds IPv6, a name or an IPv4
    literal IPv4 (a name as it resolves). ``""`` and ``::`` are every interface, one
    dual-stack socket (``IPV6_V6ONLY=0``, whatever the host's ``bindv6only`` default), so
    ``:8080`` and ``[::]:8080`` serve IPv4 clients too (as ``::ffff:127.0.0.1``); IPv4
    alone where the host has no IPv6. Raises ``OSError`` (port in use, address not here).
    """
    family = family_of(host)
    if family is None:
        if socket.has_ipv6:
            try:
                return _listen(socket.AF_INET6, "::", port, backlog, dual_stack=True)
            except OSError:
                pass  # IPv6 compiled in but switched off on this host: IPv4 alone
        return _listen(socket.AF_INET, "", port, backlog)
    return _listen(family, host, port, backlog)


def _listen(
    family: socket.AddressFamily, host: str, port: int, backlog: int, *, dual_stack: bool = False
) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart while old sockets linger
        if dual_stack:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class AdoptedServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer on a socket that is already bound and listening
    (:func:`listening_socket`), with daemon request threads."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, sock: socket.socket, handler: type[BaseHTTPRequestHandler]) -> None:
        self.address_family = sock.family
        super().__init__(sock.getsockname()[:2], handler, bind_and_activate=False)
        self.socket.close()  # the unbound one socketserver made; ours is bound and listening
        self.socket = sock
        self.server_address = sock.getsockname()
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


def bind(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A bound (not yet serving) server for ``host:port``; OSError when it cannot bind."""
    return AdoptedServer(listening_socket(host, port), handler)
