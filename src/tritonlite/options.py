"""ServerOptions: every server setting, once. The CLI flags are generated from it.

Flag names are Triton's (``--model-repository``, ``--exit-on-error``...), so a
``tritonserver`` command line works with ``tritonlite`` unchanged. Each field's metadata
holds its help text; boolean flags accept ``--flag``, ``--flag=true`` and ``--flag false``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _opt(default: Any, help: str, *, repeat: bool = False, flag: str = "",
         choices: tuple[str, ...] = ()) -> Any:
    kw: dict[str, Any] = {"metadata": {"help": help, "repeat": repeat, "flag": flag,
                                       "choices": choices}}
    if isinstance(default, (list, tuple)):
        kw["default_factory"] = lambda: tuple(default)
    else:
        kw["default"] = default
    return field(**kw)


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    model_repository: tuple[str, ...] = _opt(
        (), "Path to a model repository; repeat for several.", repeat=True)
    model_control_mode: str = _opt("none", "none | explicit | poll (explicit/poll: later issue).")
    load_model: tuple[str, ...] = _opt((), "Model to load at start in explicit mode.",
                                       repeat=True)
    strict_readiness: bool = _opt(True, "Ready only when every model is ready.")
    exit_on_error: bool = _opt(True, "Exit if any model fails to load at start-up.")
    exit_timeout_secs: int = _opt(30, "How long shutdown waits for in-flight requests.")
    allow_grpc: bool = _opt(True, "Serve the gRPC protocol.")
    grpc_port: int = _opt(8001, "gRPC port (0: any free port).")
    grpc_address: str = _opt("0.0.0.0", "gRPC bind address.")
    grpc_server: str = _opt(
        "auto", "auto | native (tritonlite's own HTTP/2 transport on the server's loop) | "
        "threaded (grpcio's thread-pool server bridged to the loop) | aio (grpc.aio on the "
        "loop). auto is native: measured (bench/), it spends about a third of grpcio's CPU "
        "per small call. The grpcio shapes alone apply the keepalive enforcement options.",
        choices=("auto", "native", "threaded", "aio"))
    allow_http: bool = _opt(True, "Serve the HTTP/REST protocol.")
    http_port: int = _opt(8000, "HTTP port (0: any free port).")
    http_address: str = _opt("0.0.0.0", "HTTP bind address.")
    http_server: str = _opt(
        "auto", "auto | native (tritonlite's own HTTP/1.1 protocol over the httptools parser, "
        "on the server's loop) | uvicorn (uvicorn serving the ASGI app). auto is native: "
        "measured (bench/), it spends less CPU per small request.",
        choices=("auto", "native", "uvicorn"))
    http_max_input_size: int = _opt(64 << 20, "Largest accepted HTTP request body, in bytes.")
    allow_metrics: bool = _opt(True, "Serve Prometheus metrics.")
    metrics_port: int = _opt(8002, "Metrics port (0: any free port).")
    metrics_address: str = _opt("0.0.0.0", "Metrics bind address.")
    metrics_interval_ms: int = _opt(2000, "How often CPU/memory gauges refresh, in ms.")
    metrics_config: tuple[str, ...] = _opt(
        (), "Metrics setting=value: counter_latencies, summary_latencies, summary_quantiles, "
        "histogram_latencies (Triton's --metrics-config).", repeat=True)
    allow_cpu_metrics: bool = _opt(True, "Report CPU utilization and memory gauges.")
    allow_gpu_metrics: bool = _opt(True, "Accepted for Triton compatibility (no GPU metrics).")
    http_header_forward_pattern: str = _opt(
        "", "Regex; HTTP request headers whose name matches become string parameters.")
    grpc_header_forward_pattern: str = _opt(
        "", "Regex; gRPC request metadata whose key matches becomes string parameters.")
    http_thread_count: int = _opt(
        8, "Accepted for Triton compatibility; HTTP runs on the server's event loop.")
    disable_auto_complete_config: bool = _opt(
        False, "Do not call a model's auto_complete_config.")
    strict_model_config: bool = _opt(False, "Deprecated Triton alias of the flag above.")
    model_config_name: str = _opt("", "Use <model>/configs/<name>.pbtxt when it exists.")
    backend_config: tuple[str, ...] = _opt(
        (), "backend,key=value (python: shm-default-byte-size, default-max-batch-size, ...).",
        repeat=True)
    cache_config: tuple[str, ...] = _opt(
        (), "Response cache, e.g. local,size=1048576 (Triton's --cache-config).", repeat=True)
    sched_batch: bool = _opt(
        True, "Run the server and its model workers under Linux SCHED_BATCH: a woken thread "
        "waits for the running one to block instead of preempting it (fewer context "
        "switches per request; see cpu_policy.py). tritonlite only.")
    busy_poll_us: int = _opt(
        300, "After the last request in flight is answered, keep polling for the next one "
        "this many microseconds before sleeping: a client sending one request at a time "
        "then finds the server's core awake (see core/busy_poll.py). Costs CPU only "
        "while otherwise idle, and backs off while clients come back later than this; "
        "0 turns it off. Off with --grpc-server threaded or aio (their threads would wait "
        "for it). tritonlite only.")
    log_verbose: int = _opt(0, "Verbose log level (model Logger.log_verbose shows at >= 1).")
    log_info: bool = _opt(True, "Log info messages.")
    log_warning: bool = _opt(True, "Log warnings.")
    log_error: bool = _opt(True, "Log errors.")

    def backend_setting(self, backend: str, key: str, default: str) -> str:
        """The last ``--backend-config=backend,key=value`` given, else ``default``."""
        value = default
        for item in self.backend_config:
            be, _, kv = item.partition(",")
            k, _, v = kv.partition("=")
            if be == backend and k == key:
                value = v
        return value

    @property
    def auto_complete(self) -> bool:
        return not (self.disable_auto_complete_config or self.strict_model_config)


def option_fields() -> list[Any]:
    return list(fields(ServerOptions))
