"""Structured logs: one JSON object a line (or readable lines on a terminal),
for our own events and for uvicorn's and kafka-python's alike, carrying the
request id and event id bound in the context."""

from __future__ import annotations

import logging
import sys

import structlog

_configured: tuple[str, bool] | None = None


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    global _configured
    if _configured == (level, json):
        return
    _configured = (level, json)
    shared_processors: list = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        # Drop below-level calls before any processor runs: hot paths log at info.
        processors=[structlog.stdlib.filter_by_level, *shared_processors, structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # kafka-python logs every reconnect attempt; its warnings are enough.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))

