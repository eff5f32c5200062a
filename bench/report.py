"""The results as a plain-text table (the JSON has everything, the table the headline)."""

from __future__ import annotations

from typing import Any

from bench.report_llm import judge_section, llm_section
from bench.report_sections import (
    eval_section,
    latency_section,
    memory_section,
    profile_section,
    scale_out_section,
    throughput_section,
)


def cluster_line(kafka: dict[str, Any]) -> str:
    """How many brokers the figures were measured on, and how its topics were replicated."""
    n = kafka["brokers"]
    return (
        f"{n} broker{'s' if n != 1 else ''} on this machine, topics at replication factor "
        f"{kafka['replication_factor']}, min.insync.replicas {kafka['min_insync_replicas']}"
    )


def header(res: dict[str, Any]) -> list[str]:
    """The run, the machine, the cluster and what else used the CPU meanwhile."""
    out: list[str] = []
    m = res.get("machine", {})
    out.append(
        f"selftaught-consumer benchmark  {res.get('started_at', '')}  mode={res.get('mode')}"
        f"  label={res.get('label') or '-'}"
    )
    out.append(
        f"machine: {m.get('nproc')} cpus ({m.get('cpu_model')}), {m.get('mem_total_gib')} GiB, "
        f"python {m.get('python')}, load avg at start {m.get('loadavg_at_start')}, "
        f"hot path compiled {m.get('compiled_hot_modules', '?')} (mypyc), "
        f"git {m.get('git_head')}{' + local changes to consumer/' if m.get('consumer_changes') else ''}"
    )
    kafka = m.get("kafka")
    if kafka:
        out.append(f"kafka: {cluster_line(kafka)}")
    acct = res.get("cpu_accounting") or {}
    if acct:
        others = ", ".join(f"{o['what']} {o['cpu_s']}s" for o in acct.get("top_others", [])[:4])
        out.append(
            f"other processes used {acct.get('cpu_s_others')} CPU-s over {acct.get('wall_s')} s "
            f"of this run (top: {others or 'none'})"
        )
    out.append("")
    return out


def render(res: dict[str, Any]) -> str:
    out = header(res)

    thr = res.get("throughput")
    if thr and "error" not in thr:
        out.extend(throughput_section(thr))

    mem = res.get("memory")
    prof = (mem or {}).get("profile")
    if prof and "error" not in prof:
        out.extend(profile_section(prof))
    elif prof:
        out.append(f"2. Profile: {prof.get('error')}")
        out.append("")

    llm = res.get("llm")
    if llm and "error" not in llm:
        out.extend(llm_section(llm))
        out.extend(judge_section(llm))

    lat = res.get("latency")
    if lat and "error" not in lat:
        out.extend(latency_section(lat))

    if mem and "error" not in mem:
        out.extend(memory_section(mem))

    sc = res.get("scale_out")
    if sc and "error" not in sc:
        out.extend(scale_out_section(sc))

    ev = res.get("eval")
    if isinstance(ev, dict):
        out.extend(eval_section(ev))

    for key in ("throughput", "memory", "llm", "latency", "scale_out", "eval"):
        sec = res.get(key)
        if isinstance(sec, dict) and "error" in sec:
            out.append(f"{key}: FAILED: {sec['error'][:300]}")
    if res.get("duration_s"):
        out.append(f"total {res['duration_s']:.0f} s; JSON: {res.get('json_path')}")
    return "\n".join(out)
