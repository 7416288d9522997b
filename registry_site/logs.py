"""Log formats: plain text by default, one JSON object per line with LOG_FORMAT=json.

The JSON line carries the time, level, logger and message, the request id of the request
being answered (when there is one), and every field the caller gave in `extra=` (the
request log's user, route, method, status and duration; a background job's `job` and its
counts).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from models_app.context import get_request_id

# The attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if not line.get("request_id"):
            request_id = get_request_id()
            if request_id:
                line["request_id"] = request_id
            else:
                line.pop("request_id", None)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)
