#!/usr/bin/env python3
"""The table of experiments/simulated/gossip_limits.sh's runs: per configuration and node count,
the steps a node had taken (its own steps, at batch 16 but for `mean`) when its model first
evaluated at each TARGET% test accuracy, as "median node / last node" ("-": a node never did), and
the final test accuracy (after the final average); medians over the seeds run. Steps count in
the evaluations' spacing (about 59 steps: 64 evaluations in 3,750 steps).

    experiments/simulated/gossip_limits_table.py DIR [TARGET%...]     (target: 85 by default)
"""
import json
import pathlib
import re
import statistics
import sys

NAMES = {
    "alone": "one node alone, batch 16 (the same run in every column)",
    "mean": "the nodes' exact mean (one node, batch 16 x nodes)",
    "dpsgd": "D-PSGD (ring, blocking rounds every step)",
    "swarm": "SwarmSGD, H = 8",
    "swarm_h1": "SwarmSGD, H = 1",
    "swarm_free": "SwarmSGD, H = 8, free network",
    "swarm_h1_free": "SwarmSGD, H = 1, free network",
    "adpsgd": "AD-PSGD",
    "adpsgd_free": "AD-PSGD, free network",
    "alone_shard": "no exchange: each node on its shard alone",
}


def steps_to(path, targets):
    """{target: (median node's step, last node's step) or None, "accuracy": final %}."""
    runs = json.loads(path.read_text())["runs"]
    out = {"accuracy": 100 * runs[0]["final_evaluation"]["accuracy"]}
    for t in targets:
        firsts = [next((e["step"] for e in r["evaluations"] if e["accuracy"] >= t / 100), None) for r in runs]
        out[t] = None if None in firsts else (statistics.median(firsts), max(firsts))
    return out


def load(folder, targets):
    """{(config, nodes): [steps_to per seed]} from DIR/CONFIG_nNODES_sSEED.json."""
    runs = {}
    for p in sorted(pathlib.Path(folder).glob("*.json")):
        m = re.fullmatch(r"(\w+?)_n(\d+)_s(\d+)\.json", p.name)
        if m and m[1] in NAMES:
            runs.setdefault((m[1], int(m[2])), []).append(steps_to(p, targets))
    return runs


def cell(seeds, targets):
    parts = []
    for t in targets:
        reached = [s[t] for s in seeds]
        if None in reached:
            parts.append("-")
        else:
            parts.append(f"{statistics.median(m for m, _ in reached):.0f} / {statistics.median(l for _, l in reached):.0f}")
    return ", ".join(parts) + f"; {statistics.median(s['accuracy'] for s in seeds):.1f}%"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    targets = [float(t) for t in sys.argv[2:]] or [85.0]
    runs = load(sys.argv[1], targets)
    if not runs:
        sys.exit(f"gossip_limits_table.py: no reports under {sys.argv[1]}")
    counts = sorted({n for (name, n) in runs if name != "alone"})
    seeds = max(len(s) for s in runs.values())
    print("Each cell: a node's steps to " + ", ".join(f"{t:g}%" for t in targets) +
          " (median node / last node); final test accuracy" + (f"; medians of {seeds} seeds" if seeds > 1 else ""))
    print()
    head = ["configuration"] + [f"{n} nodes" for n in counts]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, label in NAMES.items():
        row = [label]
        for n in counts:
            found = runs.get((name, 1 if name == "alone" else n))
            row.append(cell(found, targets) if found else "")
        if any(row[1:]):
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
