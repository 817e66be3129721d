"""The gRPC ceiling: a bare grpcio *sync* server (``ThreadPoolExecutor(max_workers=8)``, the
fastest Python gRPC shape in /work/shared/PERFORMANCE-NOTES.md) whose ModelInfer echoes
every input back as an output (``INPUTn`` -> ``OUTPUTn``). No model, no worker process, no
scheduling: what any Python gRPC server pays just to receive and answer a request.
"""

from __future__ import annotations

from concurrent import futures

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

MAX_MESSAGE = 2**31 - 1


class EchoServicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    def ServerLive(self, request, context):
        return service_pb2.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return service_pb2.ServerReadyResponse(ready=True)

    def ModelReady(self, request, context):
        return service_pb2.ModelReadyResponse(ready=True)

    def ModelInfer(self, request, context):
        reply = service_pb2.ModelInferResponse(
            model_name=request.model_name, model_version="1", id=request.id)
        for tensor in request.inputs:
            out = reply.outputs.add()
            out.name = tensor.name.replace("INPUT", "OUTPUT", 1)
            out.datatype = tensor.datatype
            out.shape.extend(tensor.shape)
        reply.raw_output_contents.extend(request.raw_input_contents)
        return reply


def serve(port: int, workers: int = 8) -> grpc.Server:
    """Start the echo server on ``0.0.0.0:port`` and return it (already started)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=[("grpc.max_send_message_length", MAX_MESSAGE),
                 ("grpc.max_receive_message_length", MAX_MESSAGE)],
    )
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(EchoServicer(), server)
    server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    return server
