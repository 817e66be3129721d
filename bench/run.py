"""tritonlite vs the reference Triton, side by side: ``python -m bench.run [--quick]``.

Starts the servers on ``bench/models`` (each pinned to core 0 with ``taskset``; the
instance-scaling workloads get a second copy of each started on every core), pins
this client process to core 1, runs every workload against every server interleaved
(round 1: A B, round 2: B A, ...) and writes ``bench/results/<timestamp>.json`` and
``.md``. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import os
import platform
import shlex
import signal
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report as reporting
from bench.frames import load_frames
from bench.servers import BENCH, LABELS, MODELS, Server, make_server
from bench.workloads import WITHIN_SERVER, Recorder, Workload, all_workloads

CLIENT_CORE = 1
CLIENT_TEXT = (
    "one Python process; gRPC: grpc.aio {grpc} with tritonclient's generated messages, "
    "requests pre-built and pre-serialized outside the timed loop; HTTP: a raw asyncio "
    "HTTP/1.1 client on uvloop (binary tensors, keep-alive, one connection per caller, "
    "no Accept-Encoding)"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1 round of short measurements (default 1 s each)")
    parser.add_argument("--servers", default="tritonlite,reference",
                        help="comma-separated: tritonlite, reference (default both)")
    parser.add_argument("--only", action="append", default=[], metavar="WORKLOAD",
                        help="run only workloads whose name starts with this (repeatable, "
                        "or comma-separated)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; --quick: 1)")
    parser.add_argument("--duration", type=float,
                        help="seconds per measurement (default 4; --quick: 1)")
    parser.add_argument("--warmup", type=float,
                        help="seconds of unrecorded warm-up per workload and server "
                        "(default: half the duration, at most 1 s)")
    parser.add_argument("--no-echo", action="store_true", help="skip the echo ceiling")
    parser.add_argument("--server-cores", default="0", metavar="CORES",
                        help="comma-separated cores the servers are pinned to (default 0); "
                        "workloads marked 'server on all cores' (instance scaling) run "
                        "against a second copy of each server started on every core")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin (automatic on a machine with fewer than 2 cores)")
    parser.add_argument("--output-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--publish", action="store_true",
                        help="also write the markdown report to bench/RESULTS.md")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (1.0 if args.quick else 4.0)
    if args.warmup is None:
        args.warmup = min(1.0, args.duration / 2)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in args.servers:
        if s not in ("tritonlite", "reference"):
            parser.error(f"unknown server {s!r}")
    args.only = [o.strip() for item in args.only for o in item.split(",") if o.strip()]
    try:
        args.server_cores = {int(c) for c in args.server_cores.split(",") if c.strip()}
    except ValueError:
        parser.error(f"--server-cores: not a list of core numbers: {args.server_cores!r}")
    if not args.server_cores:
        parser.error("--server-cores: no core given")
    return args


def select(workloads: list[Workload], only: list[str]) -> list[Workload]:
    if not only:
        return workloads
    chosen = [w for w in workloads if any(w.name.startswith(o) for o in only)]
    if not chosen:
        raise SystemExit(f"no workload matches {only}; see --list")
    return chosen


def _loop_factory(transport: str) -> Any:
    if transport == "http":
        try:
            import uvloop
        except ImportError:
            return None
        return uvloop.new_event_loop
    return None  # grpc.aio wants the default loop


def measure(workload: Workload, server: Server, duration: float) -> tuple[Recorder, str]:
    """Run one measurement; returns the recorder and "" or why it failed."""
    rec = Recorder(server.cpu_seconds)
    timeout = duration * 5 + 120
    try:
        with asyncio.Runner(loop_factory=_loop_factory(workload.transport)) as runner:
            runner.run(asyncio.wait_for(workload.run(server, rec, duration), timeout))
    except Exception as exc:  # the measurement failed as a whole: report it, go on
        rec.failure(f"measurement failed: {exc!r}"[:300])
        if not rec.elapsed and rec.started:
            rec.end()
        return rec, repr(exc)[:300]
    return rec, ""


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu or "unknown", "kernel": platform.release(),
            "python": platform.python_version(),
            "loadavg_before": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _line(workload: Workload, server: str, rnd: int, row: dict[str, Any]) -> str:
    def f(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    return (f"[round {rnd}] {workload.name:<20} {LABELS[server]:<12} "
            f"{f(row['throughput'], ',.1f'):>10} {workload.unit:<11} "
            f"p50 {f(row['p50_ms'], '.2f')} ms  p99 {f(row['p99_ms'], '.2f')} ms  "
            f"server {f(row['server_cpu_us_per_req'], ',.0f')} µs/req  "
            f"client {f(row['client_cpu_us_per_req'], ',.0f')} µs/req  "
            f"ok {row['ok']}  errors {row['errors']}")


#: The server copies of a run, by placement ("pinned" | "all"), then by server name.
ServerSets = dict[str, dict[str, Server]]


def make_server_sets(names: list[str], logs: Path, workloads: list[Workload],
                     pinned: set[int] | None, all_cores: set[int]) -> ServerSets:
    """The servers to start: each pinned to ``pinned`` (or unpinned when None), plus,
    when pinning and a workload wants every core, a second copy of tritonlite and Triton
    started on every core. A copy started there sizes itself for such a machine (its
    thread pools, Triton's too), which moving the pinned copy's threads later would not
    show."""
    sets: ServerSets = {"pinned": {n: make_server(n, logs, pinned) for n in names}}
    if pinned is not None and any(w.server_cores == "all" for w in workloads):
        sets["all"] = {n: make_server(n, logs, all_cores, log_name=f"{n}-all-cores")
                       for n in names if n != "echo"}
    return sets


def run_benchmark(args: argparse.Namespace, sets: ServerSets,
                  workloads: list[Workload]) -> dict[str, dict[str, reporting.Cell]]:
    cells: dict[str, dict[str, reporting.Cell]] = {w.name: {} for w in workloads}
    warmed: set[tuple[str, str]] = set()
    for rnd in range(1, args.rounds + 1):
        for workload in workloads:
            servers = sets.get(workload.server_cores, sets["pinned"])
            order = [s for s in args.servers if s in servers]
            if rnd % 2 == 0:
                order.reverse()
            if workload.echo and "echo" in servers:
                order.append("echo")
            for name in order:
                server = servers[name]
                cell = cells[workload.name].setdefault(name, reporting.Cell())
                if cell.status != "ok":
                    continue
                if server.proc is not None and server.proc.poll() is not None:
                    cell.status, cell.reason = "failed", (
                        f"server exited with {server.proc.returncode}")
                    continue
                if workload.transport == "http" and not server.probe_http():
                    cell.status = "unsupported"
                    cell.reason = f"HTTP port {server.http_port} does not answer"
                    _log(f"[round {rnd}] {workload.name:<20} {LABELS[name]:<12} unsupported "
                         "(no HTTP endpoint)")
                    continue
                if (workload.name, name) not in warmed and args.warmup > 0:
                    measure(workload, server, args.warmup)
                    warmed.add((workload.name, name))
                rec, failure = measure(workload, server, args.duration)
                row = cell.add(rec)
                if failure:
                    row["failure"] = failure
                _log(_line(workload, name, rnd, row) + (f"  FAILED {failure}" if failure
                                                         else ""))
    return cells


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frames = functools.cache(load_frames)
    workloads = select(all_workloads(frames), args.only)
    if args.list:
        for w in workloads:
            print(f"{w.name:<20} {w.unit:<12} {w.title}")
        return 0

    all_cores = set(os.sched_getaffinity(0))
    pin = not args.no_pin and len(all_cores) >= 2
    if pin and args.server_cores - all_cores:
        raise SystemExit(f"--server-cores {sorted(args.server_cores)}: this machine has "
                         f"cores {sorted(all_cores)}")
    if pin:
        # Before any thread exists (grpc's included), so every client thread inherits it.
        os.sched_setaffinity(0, {CLIENT_CORE})
    started = dt.datetime.now().astimezone()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    logs = args.output_dir / f"{stamp}-logs"
    names = list(args.servers)
    if not args.no_echo and any(w.echo for w in workloads):
        names.append("echo")
    sets = make_server_sets(names, logs, workloads, args.server_cores if pin else None,
                            all_cores)
    servers = [server for group in sets.values() for server in group.values()]

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    cells: dict[str, dict[str, reporting.Cell]] = {}
    try:
        for server in servers:
            server.start()
        for server in servers:
            t0 = time.monotonic()
            server.wait_ready()
            _log(f"{LABELS[server.name]} ({server.log_path.stem}) ready in "
                 f"{time.monotonic() - t0:.1f} s "
                 f"(pid {server.pid}, {server.process_count()} processes, "
                 f"gRPC {server.grpc_port}, HTTP {server.http_port})")
        if any(w.name.startswith("seed") for w in workloads):
            frames()
        cells = run_benchmark(args, sets, workloads)
    finally:
        for server in servers:
            server.stop()

    command = "python -m bench.run " + shlex.join(argv if argv is not None else sys.argv[1:])
    versions = {"tritonlite": _version("tritonlite"), "reference": "tritonserver 2.51",
                "echo": "grpcio sync + asyncio HTTP"}
    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M %Z"),
        "command": command.strip(),
        "mode": "quick" if args.quick else "full",
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "order": "A B, then B A, alternating; the echo ceiling after them",
        "servers": [s for s in args.servers],
        "server_versions": versions,
        "pinning": (f"servers `taskset -c {','.join(map(str, sorted(args.server_cores)))}` "
                    f"(children inherit it), client `sched_setaffinity({{{CLIENT_CORE}}})`; "
                    "workloads marked 'server on all cores' run against a second copy of "
                    "each server started under "
                    f"`taskset -c {','.join(map(str, sorted(all_cores)))}` "
                    "(sharing the client's core)") if pin else "none",
        "client": CLIENT_TEXT.format(grpc=_version("grpcio")),
        "machine": _machine(),
        "models": str(MODELS.relative_to(MODELS.parent.parent)),
        "notes": [
            "Every answer is checked (identity: every byte; JPEG: base64 + SOI/EOI + a "
            "640x480x3 SOF header on every frame, a full cv2.imdecode on every 16th; "
            "sequences: the exact running sum; decoupled: OUT = 0..99 then the empty final "
            "response). A wrong answer is an error and not throughput.",
            "MB/s counts 10^6 bytes of request tensor per second (the same bytes come back).",
            "server CPU us/req = (utime+stime of the server process and all its "
            "descendants, after minus before the timed window) / correct answers. For the "
            "decoupled workloads a request is 100 responses. When the client's core "
            "saturates (client CPU us/req times req/s near 1 s/s), throughput hides the server's "
            "cost: compare the CPU column instead.",
            "(c) after a throughput: the client's core was at least 85% busy in that "
            "workload, so the client, not the server, set the pace; read the server CPU "
            "column there.",
            "p50/p99 pool the latencies of all rounds; throughput and CPU are medians over "
            "rounds; ratios are medians of per-round paired ratios.",
        ],
    }
    summary = {"meta": meta,
               "workloads": [reporting.workload_summary(w, cells.get(w.name, {}))
                             for w in workloads]}
    summary["within_server"] = reporting.within_server(summary, WITHIN_SERVER)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.output_dir / f"{stamp}.json"
    md_path = args.output_dir / f"{stamp}.md"
    json_path.write_text(json.dumps(summary, indent=2, default=str))
    text = reporting.markdown(summary)
    md_path.write_text(text)
    (args.output_dir / "latest.json").write_text(json.dumps(summary, indent=2, default=str))
    (args.output_dir / "latest.md").write_text(text)
    if args.publish:
        (BENCH / "RESULTS.md").write_text(text)
    print(text)
    _log(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
