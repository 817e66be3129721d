"""What the HTTP and gRPC frontends share: the protocol-independent half of their codecs.

* ``tensors``: datatype names, typed values -> tensor bytes with Triton's conversion rules,
  duplicate inputs, the error for an unknown datatype and how Triton words it once the
  model is known.
* ``parameters``: the reserved request parameters (sequence, priority, timeout,
  ``triton_*``) and header forwarding.
* ``shared_memory``: tensors in system shared memory regions (inputs as views of the
  region, requested outputs checked and marked for the core to write).
* ``listener``: uvicorn embedded in the server's event loop (the HTTP and metrics
  endpoints listen with it).

Each frontend keeps only its wire format: protobuf messages for gRPC, JSON and raw body
bytes for HTTP. Apart from ``listener``, everything here is pure and knows no transport.
"""
