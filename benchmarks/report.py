"""Turning a run's numbers into a table (stdout), JSON and a PNG chart of jobs' ratios to the peers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: (title, path in a system's row, format, higher is better; None: no ratio to the peers)
COLUMNS = [
    ("enqueue/s", ("enqueue", "rate"), "{:,.0f}", True),
    ("bulk/s", ("bulk", "rate"), "{:,.0f}", True),
    ("drain/s proc", ("drain_processes", "rate"), "{:,.0f}", True),
    ("drain/s thr", ("drain_threads", "rate"), "{:,.0f}", True),
    ("p50 ms", ("latency", "p50_ms"), "{:.2f}", False),
    ("p99 ms", ("latency", "p99_ms"), "{:.2f}", False),
    ("mix/s", ("mix", "rate"), "{:,.0f}", True),
    ("trips/task", ("counted", "round_trips"), "{:.2f}", False),
    ("cmds/task", ("counted", "commands"), "{:.1f}", False),
    ("worker µs/task", ("drain_processes", "worker_cpu_us"), "{:.0f}", False),
    ("redis µs/task", ("drain_processes", "redis_cpu_us"), "{:.0f}", False),
    ("worker MB", ("drain_processes", "memory_mb"), "{:.0f}", False),
    ("idle cmds/s", ("idle", "commands_per_s"), "{:.1f}", False),
    ("idle CPU %", ("idle", "cpu_percent"), "{:.1f}", False),
]
#: How it scales: the second table.
SCALING = [
    ("short wait p50", ("long_short", "wait_p50_ms"), "{:,.1f}", False),
    ("short wait p99", ("long_short", "wait_p99_ms"), "{:,.1f}", False),
    ("short wait max", ("long_short", "wait_max_ms"), "{:,.1f}", False),
    ("short >1 s", ("long_short", "behind_long"), "{:.0f}", None),
    ("long/short s", ("long_short", "total_s"), "{:.2f}", False),
    ("enq/s empty", ("deep", "enqueue_empty"), "{:,.0f}", True),
    ("enq/s deep", ("deep", "enqueue_deep"), "{:,.0f}", True),
    ("enq deep/empty", ("deep", "enqueue_ratio"), "{:.2f}", None),
    ("drain/s shallow", ("deep", "drain_empty"), "{:,.0f}", True),
    ("drain/s deep", ("deep", "drain_deep"), "{:,.0f}", True),
    ("drain deep/shal", ("deep", "drain_ratio"), "{:.2f}", None),
    ("drain/s 1 queue", ("many_queues", "one"), "{:,.0f}", True),
    ("drain/s 10 q", ("many_queues", "ten"), "{:,.0f}", True),
    ("10 q / 1 q", ("many_queues", "ratio"), "{:.2f}", None),
    ("bytes/waiting", ("memory", "bytes_per_task"), "{:,.0f}", False),
    ("1st task s", ("first_task", "seconds"), "{:.2f}", False),
]


def value(row: dict[str, Any], path: tuple[str, str]) -> float | None:
    part = row.get(path[0])
    if not part:
        return None
    if path == ("counted", "round_trips"):
        return part["enqueue_client"] + part["drain_client"]
    if path == ("counted", "commands"):
        return sum(part.values())
    return part.get(path[1])


def cell(row: dict[str, Any], path: tuple[str, str], fmt: str) -> str:
    """A figure; "n/a" where the system cannot run the workload, "—" where it was not run."""
    if path[0] not in row:
        return "—"
    v = value(row, path)
    return "n/a" if v is None else fmt.format(v)


def table(results: dict[str, Any], columns: list[tuple[str, tuple[str, str], str, bool | None]] = COLUMNS) -> str:
    systems = results["systems"]
    width = max(len(name) for name in systems) + 2
    lines = ["".ljust(width) + "".join(title.rjust(16) for title, *_ in columns)]
    for name, row in systems.items():
        lines.append(name.ljust(width) + "".join(cell(row, path, fmt).rjust(16) for _, path, fmt, _ in columns))
    return "\n".join(lines)


def markdown(results: dict[str, Any], columns: list[tuple[str, tuple[str, str], str, bool | None]] = COLUMNS) -> str:
    """The same table in Markdown, for docs/performance.md and the closing notes of a change."""
    lines = ["| | " + " | ".join(title for title, *_ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, row in results["systems"].items():
        lines.append(f"| {name} | " + " | ".join(cell(row, path, fmt) for _, path, fmt, _ in columns) + " |")
    return "\n".join(lines)


def ratios(results: dict[str, Any], ours: str) -> dict[str, dict[str, float]]:
    """How many times better `ours` is than each peer, per column (above 1: better)."""
    systems = results["systems"]
    mine = systems[ours]
    out: dict[str, dict[str, float]] = {}
    for name, row in systems.items():
        if name.startswith("jobs"):
            continue
        for title, path, _, higher in COLUMNS + SCALING:
            a, b = value(mine, path), value(row, path)
            if higher is None or a is None or b is None or not a or not b:
                continue
            out.setdefault(title, {})[name] = a / b if higher else b / a
    return out


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    default, tuned = ratios(results, "jobs"), ratios(results, "jobs --prefetch 0")
    titles = [t for t, *_ in COLUMNS + SCALING
              if t in default and not t.startswith("idle") and t not in ("worker MB", "enq/s empty", "drain/s shallow")]
    peers = sorted({p for t in titles for p in default[t]})
    fig, axes = plt.subplots(1, 2, figsize=(max(16, len(titles) * 0.9), 6), sharey=True)
    for axis, data, name in ((axes[0], default, "jobs (defaults)"), (axes[1], tuned, "jobs --prefetch 0")):
        width = 0.8 / max(1, len(peers))
        for i, peer in enumerate(peers):
            xs = [j + i * width for j in range(len(titles))]
            axis.bar(xs, [data.get(t, {}).get(peer, 0) for t in titles], width, label=f"vs {peer}")
        axis.axhline(1, color="black", linewidth=0.8)
        axis.axhline(2, color="grey", linewidth=0.8, linestyle="--")
        axis.set_yscale("log")
        axis.set_xticks([j + 0.4 - width / 2 for j in range(len(titles))], titles, rotation=45, ha="right")
        axis.set_title(f"{name}: times better than each peer (log scale; >1 = jobs better)")
    axes[0].legend()
    m = results["machine"]
    fig.suptitle(f"{results['date']} · {m['cpus']} CPUs, {m['cpu']} · Python {m['python']} · {m['redis'].split()[2]}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _depth(results: dict[str, Any]) -> int:
    return max((row["deep"]["depth"] for row in results["systems"].values() if row.get("deep")), default=0)


def write(results: dict[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    results["ratios"] = {name: ratios(results, name) for name in results["systems"] if name.startswith("jobs")}
    print("\n" + table(results))
    print("\nHow it scales (long/short: ms, short tasks behind a 2 s one; deep: "
          f"{_depth(results):,} waiting; memory: Redis bytes per waiting task)")
    print(table(results, SCALING))
    for name, per_column in results["ratios"].items():
        print(f"\n{name}: times better than the best peer")
        for title, per_peer in per_column.items():
            best = min(per_peer.items(), key=lambda item: item[1])
            print(f"  {title:18} {best[1]:6.2f}x  (closest: {best[0]})")
    data = json.dumps(results, indent=2, default=lambda x: round(x, 4))
    (folder / f"{results['date']}.json").write_text(data)
    (folder / "latest.json").write_text(data)
    if "jobs" in results["systems"] and "jobs --prefetch 0" in results["systems"]:
        chart(results, folder / "latest.png")
        print(f"\nchart: {folder / 'latest.png'}")


if __name__ == "__main__":  # python -m benchmarks.report [results.json]: a run's two tables in Markdown
    import sys

    run = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results" / "latest.json")
                     .read_text())
    print(markdown(run), markdown(run, SCALING), sep="\n\n")
