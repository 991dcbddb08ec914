"""Looking at operating-system processes from a test."""

from __future__ import annotations

import os
import re
from pathlib import Path


def group_alive(pgid: int) -> bool:
    """Any process of the group still running (zombies, ended but not yet reaped, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if int(group) == pgid and state not in ("Z", "X"):
            return True
    return False


def children(name: str) -> list[int]:
    """Child processes of this process whose program is `name`, zombies included (a child that
    ended but was never reaped is left behind too)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        program = text[text.index("(") + 1 : text.rindex(")")]
        parent = int(text.rsplit(")", 1)[1].split()[1])
        if program == name and parent == os.getpid():
            found.append(int(stat.parent.name))
    return found


def worker_name(log: str, pid: int) -> str | None:
    """The opaque name a `vmo worker` process logs at start (`worker <name> is process <pid> on <host>`);
    jobs name their worker by it, never by host or process id."""
    found = re.search(rf"worker (\w+) is process {pid} on ", log)
    return found.group(1) if found else None


def alive(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def parents() -> dict[int, int]:
    """The parent of every process: pid -> parent pid."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            found[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every living process below `pid` (children, their children, ...)."""
    parent_of = parents()
    found, frontier = [], {pid}
    while frontier:
        frontier = {child for child, parent in parent_of.items() if parent in frontier}
        found += [child for child in frontier if alive(child)]
    return found


def command_line(pid: int) -> list[str]:
    try:
        return [part.decode(errors="replace") for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except (FileNotFoundError, ProcessLookupError):
        return []


def worker_children(pid: int) -> list[int]:
    """The living `vmo worker` processes whose parent is `pid`."""
    return [c for c, p in parents().items() if p == pid and "worker" in command_line(c) and alive(c)]
