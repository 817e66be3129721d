"""The HTTP/REST frontend: KServe v2 plus Triton's extensions, on ``--http-port``.

Modules, outside in:

* ``server``: :class:`~tritonlite.frontends.http.server.HttpFrontend`, in one of two
  shapes (``--http-server``; why, measured, is there).
* ``native``: the HTTP/1.1 connection protocol over the httptools parser (the default).
* ``app``: Triton's routes in Triton's order, served as a raw ASGI app (what uvicorn
  runs) or called directly by ``native``; body reading bounded by
  ``--http-max-input-size``, writing replies part by part, Server-Sent Events.
* ``handlers``: one handler per endpoint: decode, one ``ServerApi`` call, encode.
* ``codec`` / ``generate`` / ``messages``: request and response bodies (pure); the tensor
  rules shared with gRPC are in ``frontends.common``.
* ``tritonjson`` / ``jsondata``: JSON as Triton's rapidjson-based code reads and writes it,
  with its error texts and number notation.
* ``compression``: ``Content-Encoding`` / ``Accept-Encoding``.
* ``errors``: the one kind -> status table.

``Accept-Encoding: gzip`` on big replies -- the decision. Triton compresses every
inference reply a client accepts compressed, and ``tritonclient.http.aio`` (aiohttp)
accepts gzip on every request, so Triton spends ~100-130 ms of CPU per 4 MiB reply for
a ~10% saving on float tensors. tritonlite honours the header exactly like Triton for
replies up to 64 KiB; a larger reply is compressed only if a 64 KiB sample shrinks by at
least 10% (zeros, masks, images do), at level 1 in a worker thread, and is otherwise sent
uncompressed -- always allowed in HTTP, and every client reads ``Content-Encoding``.
Compressed request bodies are inflated in a worker thread when they are big.

A client that disconnects cancels its request in the core, as in Triton (the model sees
``request.is_cancelled()``). The native transport sees the close itself; under uvicorn a
request still running after 50 ms watches its connection, and ``generate_stream``
watches it between events.

Deliberate differences from Triton 2.51 (each has a ``tritonlite_only`` conformance test):

* Error bodies are always labelled ``application/json`` (Triton says ``text/plain`` on
  some paths; the body is the same ``{"error": ...}``).
* ``--http-max-input-size`` bounds the whole request body (Triton 2.51 has no limit;
  newer Triton limits only the JSON part); a corrupt or empty compressed body is a clear
  400 instead of an inflated-to-nothing request.
* Large incompressible replies are not gzipped (above).
* Forwarded headers (``--http-header-forward-pattern``) arrive with lower-case names
  (HTTP/1.1 header names are case-insensitive; both transports lower-case them).
"""
