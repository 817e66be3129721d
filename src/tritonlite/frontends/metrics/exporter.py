"""The metrics endpoint: ``GET /metrics`` on ``--metrics-port`` (default 8002).

As Triton's ``HTTPMetricsServer``: any method but GET is 405 ``{"error":"Method Not
Allowed"}``; ``/metrics`` (exactly) answers the Prometheus text of
:class:`~tritonlite.frontends.metrics.collector.TritonCollector`; any other path answers
200 with an empty body. Served by uvicorn in the server's event loop, like the HTTP
frontend. A background task refreshes the CPU/memory gauges every
``--metrics-interval-ms`` (in a worker thread) and gives newly loaded model versions
their latency observers when summaries or histograms are on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tritonlite.core.interfaces import ServerApi
from tritonlite.frontends.common.listener import EmbeddedUvicorn
from tritonlite.frontends.metrics.collector import TritonCollector
from tritonlite.frontends.metrics.config import MetricsConfig
from tritonlite.frontends.metrics.exposition import CONTENT_TYPE, render
from tritonlite.frontends.metrics.system import SystemGauges

__all__ = ["MetricsApp", "MetricsFrontend"]

logger = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
_NOT_ALLOWED = b'{"error":"Method Not Allowed"}'


class MetricsApp:
    """ASGI app answering ``GET /metrics`` from a collector."""

    def __init__(self, collector: TritonCollector) -> None:
        self.collector = collector

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "GET":
            await _reply(send, 405, b"text/plain", _NOT_ALLOWED)
        elif scope["path"] == "/metrics":
            await _reply(send, 200, CONTENT_TYPE.encode(), render(self.collector.collect()))
        else:
            await _reply(send, 200, CONTENT_TYPE.encode(), b"")


async def _reply(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MetricsFrontend:
    """Serves Prometheus metrics for ``server`` on ``address:port``.

    ``metrics_config`` are the ``--metrics-config`` values; ``interval_ms`` is
    ``--metrics-interval-ms``; ``cpu_metrics`` is ``--allow-cpu-metrics``. :meth:`start`
    returns the bound port (``port=0`` picks one); :meth:`stop` closes it.
    """

    def __init__(
        self,
        server: ServerApi,
        *,
        address: str = "0.0.0.0",
        port: int = 8002,
        metrics_config: MetricsConfig | None = None,
        interval_ms: float = 2000,
        cpu_metrics: bool = True,
    ) -> None:
        self.server = server
        self.address = address
        self.port = port
        self.interval_s = max(float(interval_ms), 1.0) / 1000.0
        self.config = metrics_config or MetricsConfig()
        self.system = SystemGauges() if cpu_metrics else None
        self.collector = TritonCollector(server, self.config, self.system)
        self.app = MetricsApp(self.collector)
        self._listener = EmbeddedUvicorn(self.app)
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Bind and start serving; returns the bound port."""
        if self._listener.running:
            raise RuntimeError("MetricsFrontend already started")
        self.collector.attach(self.server.model_statistics())
        self.port = await self._listener.start(self.address, self.port)
        self._refresher = asyncio.create_task(self._refresh(), name="metrics-refresh")
        logger.info("Started Metrics Service at %s:%d", self.address, self.port)
        return self.port

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                if self.system is not None:
                    await asyncio.to_thread(self.system.refresh)
                self.collector.attach(self.server.model_statistics())
            except Exception:  # a failed refresh must not stop the next ones
                logger.exception("metrics refresh failed")

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving (and refreshing)."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        await self._listener.stop(grace)
