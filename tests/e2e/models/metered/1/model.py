import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Custom metrics: a counter, a gauge and a histogram, labelled by model."""

    def initialize(self, args):
        labels = {"model": args["model_name"]}
        self.count = pb_utils.MetricFamily(
            name="requests_seen", description="requests this model saw",
            kind=pb_utils.MetricFamily.COUNTER).Metric(labels=labels)
        self.last = pb_utils.MetricFamily(
            name="last_input", description="the last X", kind=pb_utils.MetricFamily.GAUGE
        ).Metric(labels=labels)
        self.hist = pb_utils.MetricFamily(
            name="input_values", description="X values",
            kind=pb_utils.MetricFamily.HISTOGRAM).Metric(labels=labels, buckets=[1.0, 10.0])

    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "X").as_numpy()
            self.count.increment(1)
            self.last.set(float(x[0]))
            self.hist.observe(float(x[0]))
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("Y", x)]))
        return out
