"""From measurements to the JSON and markdown reports.

Per workload and server: throughput is the median over rounds; p50 and p99 are taken over
the latencies of every round pooled; CPU per request is the median over rounds. Ratios are
tritonlite / Triton and come from the *paired* rounds (the two servers measured back to
back in the same round): the median of the per-round ratios, so that drift of the machine
between rounds cancels out.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.servers import LABELS
from bench.workloads import Recorder, Workload

A, B, ECHO = "tritonlite", "reference", "echo"


@dataclass
class Cell:
    """Everything measured for one workload on one server."""

    status: str = "ok"  # ok | unsupported | failed
    reason: str = ""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)

    def add(self, rec: Recorder) -> dict[str, Any]:
        elapsed = rec.elapsed or math.nan
        row = {
            "throughput": rec.units / elapsed if rec.ok else 0.0,
            "requests_per_s": rec.ok / elapsed if rec.ok else 0.0,
            "ok": rec.ok,
            "errors": rec.errors,
            "elapsed_s": rec.elapsed,
            "p50_ms": _pct(rec.latencies_ns, 50),
            "p99_ms": _pct(rec.latencies_ns, 99),
            "server_cpu_us_per_req": rec.server_cpu_s / rec.ok * 1e6 if rec.ok else None,
            "client_cpu_us_per_req": rec.client_cpu_s / rec.ok * 1e6 if rec.ok else None,
            "server_cpu_util": rec.server_cpu_s / elapsed if rec.elapsed else None,
            "client_cpu_util": rec.client_cpu_s / elapsed if rec.elapsed else None,
            "error_samples": rec.error_samples,
        }
        self.rounds.append(row)
        self.latencies_ns.extend(rec.latencies_ns)
        return row

    def summary(self) -> dict[str, Any]:
        if self.status != "ok" or not self.rounds:
            return {"status": self.status, "reason": self.reason}
        return {
            "status": self.status,
            "throughput": _median(r["throughput"] for r in self.rounds),
            "requests_per_s": _median(r["requests_per_s"] for r in self.rounds),
            "p50_ms": _pct(self.latencies_ns, 50),
            "p99_ms": _pct(self.latencies_ns, 99),
            "server_cpu_us_per_req": _median(r["server_cpu_us_per_req"] for r in self.rounds),
            "client_cpu_us_per_req": _median(r["client_cpu_us_per_req"] for r in self.rounds),
            "server_cpu_util": _median(r["server_cpu_util"] for r in self.rounds),
            "client_cpu_util": _median(r["client_cpu_util"] for r in self.rounds),
            "ok": sum(r["ok"] for r in self.rounds),
            "errors": sum(r["errors"] for r in self.rounds),
            "error_samples": sorted({s for r in self.rounds for s in r["error_samples"]})[:5],
            "rounds": self.rounds,
        }


def _pct(values: list[int], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.int64), q)) / 1e6


def _median(values: Any) -> float | None:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else None


def _paired_ratio(a: Cell, b: Cell, key: str) -> float | None:
    ratios = [ra[key] / rb[key] for ra, rb in zip(a.rounds, b.rounds, strict=False)
              if ra.get(key) and rb.get(key)]
    return statistics.median(ratios) if ratios else None


def workload_summary(workload: Workload, cells: dict[str, Cell]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": workload.name, "group": workload.group, "title": workload.title,
        "unit": workload.unit, "transport": workload.transport,
        "cpu_per": workload.unit_per_request,
        "server_cores": workload.server_cores,
        "servers": {name: cell.summary() for name, cell in cells.items()},
    }
    a, b = cells.get(A), cells.get(B)
    if a and b and a.status == b.status == "ok" and a.rounds and b.rounds:
        out["ratio"] = {
            "throughput": _paired_ratio(a, b, "throughput"),
            "p50": _paired_ratio(a, b, "p50_ms"),
            "p99": _paired_ratio(a, b, "p99_ms"),
            "server_cpu_per_req": _paired_ratio(a, b, "server_cpu_us_per_req"),
        }
        r = out["ratio"]
        no_errors = not any(c.summary().get("errors") for c in (a, b))
        out["meets_goal"] = bool(no_errors and r["throughput"] is not None and r["p99"]
                                 is not None and r["throughput"] >= 1.0 and r["p99"] <= 1.0)
    echo = cells.get(ECHO)
    if a and echo and a.status == echo.status == "ok" and a.rounds and echo.rounds:
        out["ratio_to_echo"] = _paired_ratio(a, echo, "throughput")
    return out


# --------------------------------------------------------------------------- markdown
DASH, TIMES = "\u2013", "\u00d7"  # placeholder for "no value"; the ratio sign
#: The workload groups the benchmark's issue names (1-7); 8 and 9 were added after it.
ISSUE_GROUPS = frozenset("1234567")


def _num(value: float | None) -> str:
    if value is None:
        return DASH
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _ms(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}{TIMES}"


def _get(summary: dict[str, Any] | None, key: str, fmt: Any) -> str:
    """One server's value; a workload it could not run shows its status once, in the
    throughput column, and a dash elsewhere."""
    if summary is None:
        return DASH
    if summary["status"] != "ok":
        return summary["status"] if key == "throughput" else DASH
    return fmt(summary.get(key))


CLIENT_BOUND = 0.85  # client core busy at least this much: the client, not the server, limits


def _throughput(summary: dict[str, Any] | None) -> str:
    """Throughput, marked with "(c)" when the client's core was the bottleneck."""
    text = _get(summary, "throughput", _num)
    if summary and summary["status"] == "ok" and (summary.get("client_cpu_util") or 0) >= (
            CLIENT_BOUND):
        text += " (c)"
    return text


def _pair(sa: dict[str, Any] | None, sb: dict[str, Any] | None, key: str, fmt: Any) -> str:
    return f"{_get(sa, key, fmt)} / {_get(sb, key, fmt)}"


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    servers = meta["servers"]
    both = A in servers and B in servers
    versions = meta["server_versions"]
    lines = [
        f"# tritonlite benchmark, {meta['date']}",
        "",
        f"- machine: {meta['machine']['cores']} cores ({meta['machine']['cpu']}), "
        f"load average before the run {meta['machine']['loadavg_before']}",
        f"- command: `{meta['command']}`",
        f"- mode: {meta['mode']}, {meta['rounds']} round(s) of {meta['duration_s']} s per "
        f"workload per server after {meta['warmup_s']} s of warm-up, interleaved "
        f"({meta['order']})",
        f"- pinning: {meta['pinning']}",
        f"- client: {meta['client']}",
        "- servers: " + ", ".join(f"{LABELS[s]} ({versions.get(s, '')})" for s in servers),
        "",
    ]
    la, lb = LABELS[A], LABELS[B]
    if both:
        lines += [
            f"Ratios are {la} / {lb}: the median of the per-round ratios of the two servers "
            f"measured back to back. The goal is throughput ratio >= 1 and p99 ratio <= 1. "
            "CPU columns: CPU time per request of the server (process and children) and of "
            "the client; lower is better.",
            "",
            *_goal_lines(report),
            f"| workload | metric | {la} | {lb} | ratio | p50 ms (tl / T) | p99 ms (tl / T) | "
            "p99 ratio | server CPU us/req (tl / T) | CPU ratio | client CPU us/req (tl / T) "
            f"| {la} / echo | errors (tl / T) | goal |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
        ]
    else:
        only = servers[0] if servers else A
        lines += [
            f"| workload | metric | {LABELS[only]} | p50 ms | p99 ms | server CPU us/req | "
            f"client CPU us/req | {LABELS[only]} / echo | errors |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
    for w in report["workloads"]:
        s = w["servers"]
        if both:
            sa, sb = s.get(A), s.get(B)
            r = w.get("ratio", {})
            goal = {True: "yes", False: "no"}.get(w.get("meets_goal"), DASH)
            lines.append(
                f"| {w['name']} | {w['unit']} | {_throughput(sa)} | "
                f"{_throughput(sb)} | {_ratio(r.get('throughput'))} | "
                f"{_pair(sa, sb, 'p50_ms', _ms)} | {_pair(sa, sb, 'p99_ms', _ms)} | "
                f"{_ratio(r.get('p99'))} | {_pair(sa, sb, 'server_cpu_us_per_req', _num)} | "
                f"{_ratio(r.get('server_cpu_per_req'))} | "
                f"{_pair(sa, sb, 'client_cpu_us_per_req', _num)} | "
                f"{_ratio(w.get('ratio_to_echo'))} | {_pair(sa, sb, 'errors', str)} | "
                f"{goal} |")
        else:
            only = servers[0] if servers else A
            so = s.get(only)
            lines.append(
                f"| {w['name']} | {w['unit']} | {_throughput(so)} | "
                f"{_get(so, 'p50_ms', _ms)} | {_get(so, 'p99_ms', _ms)} | "
                f"{_get(so, 'server_cpu_us_per_req', _num)} | "
                f"{_get(so, 'client_cpu_us_per_req', _num)} | "
                f"{_ratio(w.get('ratio_to_echo'))} | {_get(so, 'errors', str)} |")
    lines += ["", "Workloads:", ""]
    lines += [f"- `{w['name']}` ({w['group']}): {w['title']}; CPU per {w['cpu_per']}"
              for w in report["workloads"]]
    for extra in (_scaling_lines(report), _echo_lines(report), _error_lines(report)):
        if extra:
            lines += ["", *extra]
    lines += ["", "Notes:", "", *[f"- {n}" for n in meta.get("notes", [])]]
    return "\n".join(lines) + "\n"


def _round_ratio(num: dict[str, Any], den: dict[str, Any], key: str) -> float | None:
    """Median over rounds of num/den for one server (both measured in every round)."""
    ratios = [a[key] / b[key] for a, b in zip(num.get("rounds", []), den.get("rounds", []),
                                               strict=False) if a.get(key) and b.get(key)]
    return statistics.median(ratios) if ratios else None


def within_server(report: dict[str, Any],
                  pairs: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """For each (numerator, denominator, label) whose two workloads ran: per server, the
    median over rounds of the per-round throughput and server-CPU-per-request ratios."""
    by_name = {w["name"]: w for w in report["workloads"]}
    out = []
    for num, den, label in pairs:
        if num not in by_name or den not in by_name:
            continue
        row: dict[str, Any] = {"comparison": label, "numerator": num, "denominator": den,
                               "servers": {}}
        for server in report["meta"]["servers"]:
            sn = by_name[num]["servers"].get(server, {})
            sd = by_name[den]["servers"].get(server, {})
            if sn.get("status") == sd.get("status") == "ok":
                row["servers"][server] = {
                    "throughput": _round_ratio(sn, sd, "throughput"),
                    "server_cpu_per_req": _round_ratio(sn, sd, "server_cpu_us_per_req"),
                    "errors": sn.get("errors", 0) + sd.get("errors", 0),
                }
        out.append(row)
    return out


def _goal_lines(report: dict[str, Any]) -> list[str]:
    """Where the goal was met: the issue's workloads (groups 1-7) apart from the extra
    ones, each with the rows that missed it; a blank line after."""
    rows = [w for w in report["workloads"] if "meets_goal" in w]
    lines = []
    for label, issue in (("workloads the issue names (groups 1-7)", True),
                         ("extra workloads (added after it)", False)):
        subset = [w for w in rows if (w["group"].split()[0] in ISSUE_GROUPS) == issue]
        if not subset:
            continue
        missed = [w for w in subset if not w["meets_goal"]]
        text = f"- Goal met on {len(subset) - len(missed)} of the {len(subset)} {label}"
        if missed:
            text += "; missed: " + ", ".join(
                f"`{w['name']}` (throughput {_ratio(w['ratio'].get('throughput'))}, "
                f"p99 {_ratio(w['ratio'].get('p99'))})" for w in missed)
        lines.append(text + ".")
    return [*lines, ""] if lines else []


def _scaling_lines(report: dict[str, Any]) -> list[str]:
    rows = report.get("within_server") or []
    if not rows:
        return []
    servers = report["meta"]["servers"]
    head = " | ".join(f"{LABELS[s]} throughput | {LABELS[s]} server CPU/req" for s in servers)
    lines = [
        "## Scaling and batching (within each server)",
        "",
        "Each ratio compares two workloads on the **same** server in the same run: the median "
        "over rounds of (numerator / denominator) of the throughput (above 1x: a gain) and of "
        "the server CPU per request (below 1x: a saving). Batch-1 requests throughout. "
        "\"count 2 / count 1\": `instance_group count`. \"dynamic / none\": with and "
        "without `dynamic_batching` (max 32, 500 us queue delay); the tiny pair is "
        "identity_fp32_db vs identity_fp32, the busy pair is the same ~1 ms-per-execute "
        "model with and without it. The tiny identity has almost no work per call to "
        "amortize; the busy model shows what batching buys. The ~2 ms-per-request scaling "
        "pair runs with the server on every core (it then shares the client's core); the "
        "tiny-identity scaling pair keeps the one-core pin, where a second instance is "
        "only a second process on the same core and cannot scale.",
        "",
        f"| comparison | numerator / denominator | {head} |",
        "|---|---|" + "--:|--:|" * len(servers),
    ]
    for row in rows:
        cells = []
        for s in servers:
            r = row["servers"].get(s)
            if r is None:
                cells.append(f"{DASH} | {DASH}")
            else:
                errs = f" ({r['errors']} errors)" if r["errors"] else ""
                cells.append(f"{_ratio(r['throughput'])}{errs} | "
                             f"{_ratio(r['server_cpu_per_req'])}")
        lines.append(f"| {row['comparison']} | `{row['numerator']}` / `{row['denominator']}` "
                     f"| {' | '.join(cells)} |")
    return lines


def _echo_lines(report: dict[str, Any]) -> list[str]:
    rows = []
    for w in report["workloads"]:
        echo = w["servers"].get(ECHO)
        if echo and echo.get("status") == "ok":
            rows.append(f"| {w['name']} | {_num(echo['throughput'])} | "
                        f"{_ms(echo['p50_ms'])} / {_ms(echo['p99_ms'])} | "
                        f"{_num(echo['server_cpu_us_per_req'])} | "
                        f"{_num(echo['client_cpu_us_per_req'])} | {echo['errors']} |")
    if not rows:
        return []
    return ["Echo ceiling: a bare grpcio sync server / a bare asyncio HTTP server that echo "
            "the inputs with no model, driven by the same client in the same rounds.", "",
            "| workload | req/s | p50 / p99 ms | server CPU us/req | client CPU us/req | errors |",
            "|---|--:|--:|--:|--:|--:|", *rows]


def _error_lines(report: dict[str, Any]) -> list[str]:
    out = []
    for w in report["workloads"]:
        for server, s in w["servers"].items():
            if s.get("status") != "ok":
                out.append(f"- `{w['name']}` on {LABELS[server]}: {s['status']}, "
                           f"{s.get('reason', '')}")
            elif s.get("error_samples"):
                out.append(f"- `{w['name']}` on {LABELS[server]}: {s['errors']} errors, e.g. "
                           + "; ".join(s["error_samples"][:3]))
    return ["Errors and unsupported workloads:", "", *out] if out else []
