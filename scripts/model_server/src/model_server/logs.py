"""Structured logs: one JSON object per line on stdout (what CloudWatch Logs and
Kubernetes log shippers ingest line by line)."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from typing import Any

_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": event}
    line.update({k: v for k, v in fields.items() if v is not None})
    text = json.dumps(line, default=str)
    with _lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
