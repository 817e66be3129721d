"""Prometheus metrics on ``--metrics-port``: ``GET /metrics`` in Triton's names and format.

* ``exporter``: :class:`~tritonlite.frontends.metrics.exporter.MetricsFrontend` (the
  endpoint, and the task refreshing CPU/memory gauges every ``--metrics-interval-ms``).
* ``collector``: the ``nv_*`` families, built from ``ServerApi.model_statistics()`` at
  scrape time, so they equal the statistics endpoints of both protocols.
* ``exposition``: the text format as Triton's prometheus-cpp writes it.
* ``latency`` / ``config``: the optional summaries and histogram (``--metrics-config``).
* ``system``: CPU utilization and memory.
"""
