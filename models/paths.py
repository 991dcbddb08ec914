"""JSON paths that name where an input problem is: `$.mmps[3].cost[0]`, `$.scenarios[0].value["claims api"]`."""

from __future__ import annotations

import json
import re
from typing import Any


def json_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """Render a location like ('mmps', 3, 'cost', 0) as '$.mmps[3].cost[0]'."""
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else key(str(part))
    return path


def key(name: str) -> str:
    """One path step for an object key: `.name`, or `["..."]` when the key is not a plain word."""
    return f".{name}" if _PLAIN_KEY.fullmatch(name) else f"[{json.dumps(name)}]"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
