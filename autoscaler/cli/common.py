"""What every ``gpu-autoscaler`` command shares: how it fails, how it checks a URL, a
scaler file, a kubeconfig and an output file, and how it survives a standard output
that cannot be written (``> /dev/full``, a closed pipe).

Exit codes (Contract 4): 0 success, 1 runtime failure, 2 bad input with a message
naming the file or option, the field and what was expected — never a traceback.
"""

from __future__ import annotations

import errno
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click

from autoscaler.safe_output import OutputRefused, replacing
from autoscaler.safe_yaml import YAMLProblem, decode, load_documents
from autoscaler.spec import GPUScaler, SpecError, load_scaler


def fail(message: str, code: int) -> NoReturn:
    """``error: <message>`` on stderr, then exit ``code`` (1 runtime, 2 bad input)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_scaler_or_exit(path: str) -> GPUScaler:
    """The GPUScaler in ``path``, or every error on stderr and exit 2."""
    try:
        return load_scaler(path)
    except SpecError as e:
        for err in e.errors:
            click.echo(f"error: {err}", err=True)
        sys.exit(2)


def check_url(option: str, url: str) -> str:
    """An ``http://`` or ``https://`` URL with a host (and a port, if any, in 1..65535),
    or exit 2: ``http://[::1`` and ``http://host:99999`` are refused here rather than
    as a traceback from the HTTP client later."""
    problem = None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        problem = str(e)
    else:
        if parts.scheme not in ("http", "https"):
            problem = "expected http:// or https://"
        elif not parts.hostname:
            problem = "no host"
        elif port == 0:
            problem = "port 0"
        elif any(c.isspace() or ord(c) < 32 for c in url):
            problem = "spaces or control characters"
    if problem is not None:
        fail(f"{option}: expected an http:// or https:// URL such as http://127.0.0.1:9090, got {url!r} ({problem})", 2)
    return url


def finite_seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A click callback: refuse ``inf`` and ``nan`` for an option in seconds (exit 2)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"expected a finite number of seconds, got {value}")
    return value


def check_kubeconfig(path: str) -> None:
    """Exit 2 unless ``path`` is a YAML mapping (what a kubeconfig is): a file that is
    not YAML, not UTF-8, or a list would otherwise escape the Kubernetes client's
    loader as a traceback."""
    try:
        docs = load_documents(decode(Path(path).read_bytes()))
    except OSError as e:
        fail(f"{path}: cannot read the kubeconfig: {e.strerror or e}", 2)
    except YAMLProblem as e:
        fail(f"{path}: {e}; expected a kubeconfig (YAML)", 2)
    if len(docs) != 1 or not isinstance(docs[0].value, dict):
        fail(f"{path}: expected a kubeconfig (one YAML mapping with clusters, contexts and users)", 2)


@contextmanager
def output_file(path: str, extensions: tuple[str, ...], what: str) -> Iterator[str]:
    """A temporary path to write ``what`` to, renamed over ``path`` on success
    (:func:`autoscaler.safe_output.replacing`). A path that is not a regular file, or
    with an extension we do not write, exits 2 before anything is written; a failed
    write exits 1 and leaves ``path`` as it was."""
    try:
        with replacing(path, extensions) as tmp:
            yield tmp
    except OutputRefused as e:
        fail(f"cannot write {what}: {e}", 2)
    except OSError as e:
        fail(f"{path}: cannot write {what}: {e.strerror or e}", 1)


_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EFBIG, errno.EDQUOT}


class Group(click.Group):
    """The command group, with one guard: when standard output cannot be written (a
    full disk, a closed pipe), say so on stderr and exit 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()
            return result
        except OSError as e:
            if e.errno not in _OUTPUT_ERRNOS:
                raise
            _silence_stdout()
            fail(f"cannot write the output: {e.strerror or e}", 1)


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's last flush of what is still
    buffered succeeds quietly (it would print 'Exception ignored' and exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real fd (CliRunner): nothing to silence
        pass
