#!/usr/bin/env python3
"""The table of experiments/simulated/nodes.sh's runs: per method and node count, medians over
the seeds (with their range) of the virtual seconds until every node's model reached each
TARGET% test accuracy, the final test accuracy (after the final average), the run's virtual
seconds, the megabytes a node sent, and the host's seconds.

    experiments/simulated/nodes_table.py DIR [TARGET%...]     (targets: 70 75 by default)
"""
import json
import pathlib
import re
import statistics
import sys

NAMES = {"allreduce": "all-reduce SGD", "dpsgd": "D-PSGD (ring)", "adpsgd": "AD-PSGD", "swarm": "SwarmSGD"}


def summary(path, targets):
    runs = json.loads(path.read_text())["runs"]
    out = {}
    for t in targets:
        firsts = [next((e["seconds"] for e in r["evaluations"] if e["accuracy"] >= t / 100), None) for r in runs]
        out[t] = None if None in firsts else max(firsts)
    out["accuracy"] = 100 * runs[0]["final_evaluation"]["accuracy"]
    out["seconds"] = max(r["wall_seconds"] - r["pause_seconds"] for r in runs)
    out["mb"] = statistics.mean(r["node"]["bytes_sent"] for r in runs) / 1e6
    out["host"] = max(r["simulation"]["host_seconds"] for r in runs)
    return out


def cell(values, fmt):
    if any(v is None for v in values):
        reached = len([v for v in values if v is not None])
        return f"not reached ({reached}/{len(values)} seeds)" if reached else "not reached"
    m = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return fmt.format(m)
    return (fmt + " ({}-{})").format(m, fmt.format(min(values)), fmt.format(max(values)))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    targets = [float(t) for t in sys.argv[2:]] or [70.0, 75.0]
    runs = {}
    for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
        m = re.fullmatch(r"(\w+?)_n(\d+)_s(\d+)\.json", p.name)
        if m:
            runs.setdefault((m[1], int(m[2])), []).append(summary(p, targets))
    head = ["method", "nodes"] + [f"virtual ms to {t:g}%" for t in targets]
    head += ["final acc %", "virtual ms in all", "MB a node sent", "host s", "seeds"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in NAMES:
        for nodes in sorted(n for (k, n) in runs if k == name):
            rs = runs[(name, nodes)]
            row = [NAMES[name], str(nodes)]
            row += [cell([None if r[t] is None else 1e3 * r[t] for r in rs], "{:.1f}") for t in targets]
            row += [cell([r["accuracy"] for r in rs], "{:.1f}"), cell([1e3 * r["seconds"] for r in rs], "{:.1f}"),
                    cell([r["mb"] for r in rs], "{:.1f}"), cell([r["host"] for r in rs], "{:.0f}"), str(len(rs))]
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
