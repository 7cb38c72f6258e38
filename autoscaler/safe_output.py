"""Writing an output file without replacing what is not ours.

Every command that writes a file (``dry-run --plot``, ``record -o``, ``simulate --plot``)
goes through :func:`replacing`: the new content is written to a temporary file beside
the target, with the target's extension, and renamed over it only when complete. So a
failed write leaves the old file as it was, and a reader never sees half a file.

A rename replaces whatever has the name, so the target is checked first, and again just
before the rename: it must be a regular file or not exist. A symlink, a FIFO, a device
node (as root, ``--plot /dev/sda``) or a directory is refused with
:class:`OutputRefused` (the CLI exits 2) and left untouched. The extension must be one
the writer can produce (``.png``, ``.svg``, ``.pdf`` for plots; ``.csv`` for a
recording), so ``plot.jpeg`` is not silently written as PNG.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

PLOT_EXTENSIONS = (".png", ".svg", ".pdf")
CSV_EXTENSIONS = (".csv",)


class OutputRefused(ValueError):
    """An output path we will not write: not a regular file, or an unknown extension."""


def check_output(path: str, extensions: tuple[str, ...]) -> None:
    """Raise :class:`OutputRefused` unless ``path`` is a regular file or absent, and ends
    in one of ``extensions`` (case-insensitive)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in extensions:
        raise OutputRefused(
            f"{path}: expected a file name ending in {', '.join(extensions)}, got "
            + (f"{ext!r}" if ext else "no extension")
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise OutputRefused(f"{path}: the folder {parent} does not exist") from None
        return
    except OSError as e:
        raise OutputRefused(f"{path}: cannot check the output file: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise OutputRefused(
            f"{path}: exists and is {_kind(st.st_mode)}; expected a regular file or nothing (left untouched)"
        )


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device node"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


@contextmanager
def replacing(path: str, extensions: tuple[str, ...]) -> Iterator[str]:
    """Yield a temporary path to write; on success rename it over ``path``.

    Raises :class:`OutputRefused` before anything is written when ``path`` may not be
    replaced, and ``OSError`` when writing fails; either way ``path`` is unchanged and
    the temporary file is gone.
    """
    check_output(path, extensions)
    ext = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(suffix=ext, prefix=".tmp-", dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; an output is not
        check_output(path, extensions)  # again: it may have changed while we wrote
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
