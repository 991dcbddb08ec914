"""Files a test makes unwritable: read-only database files and folders, as the service meets them."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def unwritable(path: Path) -> Iterator[Path]:
    """`path` (a file or a folder) cannot be written by this process until the block ends. Root writes
    through permission bits, so as root the file is made immutable (`chattr +i`); otherwise its write bits
    are cleared."""
    as_root = os.geteuid() == 0
    mode = path.stat().st_mode
    if as_root:
        chattr = shutil.which("chattr")
        assert chattr, "chattr is needed to make a file unwritable for root"
        subprocess.run([chattr, "+i", str(path)], check=True)
    else:
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        assert not os.access(path, os.W_OK), f"{path} is still writable"
        yield path
    finally:
        if as_root:
            subprocess.run([shutil.which("chattr") or "chattr", "-i", str(path)], check=True)
        else:
            path.chmod(mode)
