"""The access log never holds a pledger's token: emailed links carry ``?token=...`` (valid for a year), and
uvicorn logs every request line. The filter rewrites the logged path, keeping the rest of the line."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

_TOKEN = re.compile(r"((?:^|[?&;])(?:token|manage_token|csrf_token)=)[^&;#\s]*", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(path: str) -> str:
    return _TOKEN.sub(rf"\g<1>{REDACTED}", path)


class RedactTokens(logging.Filter):
    """For uvicorn's access logger, whose record args are (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            path = args[2]
            if isinstance(path, str):
                args[2] = redact(path)
                record.args = tuple(args)
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with the access log's handler redacting tokens."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    config["handlers"]["access"]["filters"] = ["redact_tokens"]
    return config
