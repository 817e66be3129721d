"""The /metrics endpoint: routes, a real socket on port 0, the refresh task."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest
from http_fake_server import FakeServer

from tritonlite.core.stats import ModelStats
from tritonlite.frontends.metrics.config import MetricsConfig
from tritonlite.frontends.metrics.exporter import MetricsFrontend


def fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


async def test_metrics_routes_over_a_socket() -> None:
    frontend = MetricsFrontend(FakeServer(), address="127.0.0.1", port=0, interval_ms=50)
    port = await frontend.start()
    try:
        base = f"http://127.0.0.1:{port}"
        status, ctype, body = await asyncio.to_thread(fetch, base + "/metrics")
        assert (status, ctype) == (200, "text/plain; charset=utf-8")
        assert b'nv_inference_count{model="echo",version="1"} 0' in body
        assert await asyncio.to_thread(fetch, base + "/other") == (
            200, "text/plain; charset=utf-8", b"")
        status, _, body = await asyncio.to_thread(fetch, base + "/metrics", "POST")
        assert (status, body) == (405, b'{"error":"Method Not Allowed"}')
    finally:
        await frontend.stop(0.1)


async def test_refresh_updates_gauges_and_attaches_observers() -> None:
    fake = FakeServer()
    frontend = MetricsFrontend(fake, address="127.0.0.1", port=0, interval_ms=20,
                               metrics_config=MetricsConfig(summary_latencies=True))
    await frontend.start()
    try:
        assert all(s.observer is not None for s in fake.model_statistics())
        fake.stats["echo"] = ModelStats("echo", "1")
        assert frontend.system is not None
        for _ in range(100):
            await asyncio.sleep(0.02)
            if fake.stats["echo"].observer is not None:
                break
        assert fake.stats["echo"].observer is not None
        assert frontend.system.memory_total_bytes > frontend.system.memory_used_bytes > 0
    finally:
        await frontend.stop()
    assert frontend._refresher is None


async def test_without_cpu_metrics() -> None:
    frontend = MetricsFrontend(FakeServer(), port=0, cpu_metrics=False)
    assert frontend.system is None
    await frontend.start()
    with pytest.raises(RuntimeError, match="already started"):
        await frontend.start()
    await frontend.stop()
