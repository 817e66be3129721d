"""execute returns None in default (non-decoupled) mode: Triton 2.51 hangs, tritonlite errors."""


class TritonPythonModel:
    def execute(self, requests):
        return None
