"""Solver-process task functions for pool tests (module-level, so spawned processes can import them)."""

from __future__ import annotations

import time
from typing import Any


def hold_memory(task: Any) -> dict:
    """Touch 400 MiB and hold it, like a runaway solve."""
    ballast = b"x" * (400 * 2**20)
    time.sleep(60)
    return {"size": len(ballast)}


def answer(task: Any) -> dict:
    return {"ok": True}


_kept: list[bytes] = []


def keep_memory(task: Any) -> dict:
    """Touch 350 MiB and keep it after answering, like a solve whose memory the process never gives back."""
    _kept.append(b"x" * (350 * 2**20))
    return {"kept": len(_kept)}
