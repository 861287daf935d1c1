"""Writing files so that a crash, a full disk or a second writer never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from evollm.errors import EvollmError


class FileExists(EvollmError):
    pass


def write_atomic(target: Path, text: str, *, overwrite: bool = False) -> None:
    """Write `text` to a temporary file beside `target`, then rename it into place.

    Without `overwrite`, an existing target is refused (FileExists, exit 1).
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise FileExists(f"{target} exists; use --force to overwrite it")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode any new file would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            # link() fails if the target appeared meanwhile: no race can overwrite it.
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise FileExists(f"{target} exists; use --force to overwrite it") from None
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
