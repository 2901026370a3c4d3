"""uvicorn's h11 protocol with a deadline for request headers: a connection that has not sent a
whole request within HEADER_TIMEOUT_S of opening (or of its previous response) is closed, so
idle and slow-header clients cannot hold the server's connection slots."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0


def header_timeout_s() -> float:
    """HEADER_TIMEOUT_S, or $LLMFIT_HEADER_TIMEOUT seconds (0.1 to 600)."""
    try:
        return min(max(float(os.environ.get("LLMFIT_HEADER_TIMEOUT", HEADER_TIMEOUT_S)), 0.1), 600.0)
    except ValueError:
        return HEADER_TIMEOUT_S


class HeaderDeadlineProtocol(H11Protocol):
    """H11Protocol + a per-request header deadline."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(header_timeout_s(), self._expire)

    def _expire(self) -> None:
        waiting = self.cycle is None or self.cycle.response_complete  # no request in progress
        if waiting and not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers have the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)
