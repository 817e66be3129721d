"""pb_utils.MetricFamily: a counter, a gauge and a histogram, labelled by model."""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        labels = {"model": args["model_name"], "source": "conformance"}
        # Triton deletes a family's metrics with the family object: keep the families.
        self.families = [
            pb_utils.MetricFamily(
                name="pb_conf_requests",
                description="requests pb_metrics saw",
                kind=pb_utils.MetricFamily.COUNTER,
            ),
            pb_utils.MetricFamily(
                name="pb_conf_last_input",
                description="the last X",
                kind=pb_utils.MetricFamily.GAUGE,
            ),
            pb_utils.MetricFamily(
                name="pb_conf_input_values",
                description="X values",
                kind=pb_utils.MetricFamily.HISTOGRAM,
            ),
        ]
        self.count = self.families[0].Metric(labels=labels)
        self.last = self.families[1].Metric(labels=labels)
        self.hist = self.families[2].Metric(labels=labels, buckets=[1.0, 10.0])

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
            self.count.increment(1)
            self.last.set(float(x[0]))
            self.hist.observe(float(x[0]))
            # Y: the counter's value as the model reads it back.
            y = x.copy()
            y[0] = self.count.value()
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("Y", y)]))
        return responses
