"""A structured access log without personal data: no IP, no query string, no headers."""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse


class AccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,  # the query may hold tokens or visitors' data: never logged
                "status": response.status,
                "duration_ms": round(time * 1000, 2),
            },
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


class WithoutRequestDetails(logging.Filter):
    """aiohttp's low-level parser logs the start of a request it cannot read (an over-long URL
    or header), which may carry tokens or visitors' data: keep that such a request came, no more."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is not None or record.args:
            error = record.exc_info[1] if record.exc_info else None
            record.msg = f"unreadable HTTP request refused ({type(error).__name__})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def hide_request_details_from_aiohttp_logs() -> None:
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, WithoutRequestDetails) for f in logger.filters):
        logger.addFilter(WithoutRequestDetails())
