"""pb_utils.MetricFamily values from every instance reach /metrics next to nv_* ones."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from prometheus_client.parser import text_string_to_metric_families

MODELS = Path(__file__).resolve().parent / "models"


def scrape(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {s.name + str(sorted(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_custom_metrics_are_exported(start_server) -> None:
    server = start_server(MODELS, ["--model-control-mode=explicit", "--load-model=metered"])
    client = grpcclient.InferenceServerClient(server.grpc_url)
    for value in (0.5, 5.0, 50.0, 7.0):
        x = grpcclient.InferInput("X", [1], "FP32")
        x.set_data_from_numpy(np.array([value], np.float32))
        client.infer("metered", [x])
    deadline = time.monotonic() + 10
    while True:
        samples = scrape(server.metrics_url)
        label = "[('model', 'metered')]"
        if samples.get("requests_seen_total" + label) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # (the parser reports a counter's samples with a _total suffix; the exposition has none)
    assert samples["requests_seen_total" + label] == 4  # summed over both instances
    assert samples["last_input" + label] in (7.0, 50.0)  # a gauge: the last set wins
    assert samples["input_values_count" + label] == 4
    assert samples["input_values_sum" + label] == 62.5
    assert samples["input_values_bucket[('le', '1'), ('model', 'metered')]"] == 1
    assert samples["input_values_bucket[('le', '10'), ('model', 'metered')]"] == 3
    assert samples["nv_inference_count_total[('model', 'metered'), ('version', '1')]"] == 4
