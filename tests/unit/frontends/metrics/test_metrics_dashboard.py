"""The Grafana dashboard queries only metrics the exporter serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from http_fake_server import FakeServer

from tritonlite.frontends.metrics.collector import TritonCollector
from tritonlite.frontends.metrics.config import MetricsConfig
from tritonlite.frontends.metrics.exposition import render
from tritonlite.frontends.metrics.system import SystemGauges

DASHBOARD = Path(__file__).parents[4] / "deploy" / "grafana" / "tritonlite-dashboard.json"


def test_dashboard_metrics_exist() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    used = {m for e in exprs for m in re.findall(r"\bnv_[a-z_]+", e)}
    config = MetricsConfig(summary_latencies=True, histogram_latencies=True)
    collector = TritonCollector(FakeServer(), config, SystemGauges())
    collector.attach(collector.server.model_statistics())
    text = render(collector.collect()).decode()
    served = {line.split("{")[0].split()[0] for line in text.splitlines()
              if line and not line.startswith("#")}
    assert used <= served, used - served
    for panel in dashboard["panels"]:
        assert {"id", "type", "title", "gridPos"} <= set(panel)
