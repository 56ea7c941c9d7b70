#!/usr/bin/env python3
"""The table of experiments/simulated/gossip_limits.sh's runs: per configuration and node count,
the steps a node had taken (its own steps, at batch 16 but for `mean`) when its model first
evaluated at each TARGET% test accuracy, as "median node / last node" ("-": a node never did), and
the final test accuracy (after the final average); medians over the seeds run, with the median
node's range over them (min-max) where several seeds ran. Steps count in the evaluations' spacing
(3,750 steps over the evaluations: 59 steps for gossip_limits.sh's 64). Then how the nodes mixed:
a node's interactions (rounds), the due ones it skipped while its last was in flight, the mean
steps from an interaction's due step to its average landing (mix lag), the virtual ms an
interaction took (exchange seconds over rounds), and of those the ms spent waiting for a published
copy's lock held by another node's exchange ("-" in reports without it); medians over the nodes.

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
    "swarm_lattice": "SwarmSGD, H = 8, 16-bit lattice",
    "adpsgd": "AD-PSGD",
    "adpsgd_free": "AD-PSGD, free network",
    "alone_shard": "no exchange: each node on its shard alone",
}


def steps_to(runs, targets):
    """{target: (median node's step, last node's step) or None, "accuracy": final %}."""
    out = {"accuracy": 100 * runs[0]["final_evaluation"]["accuracy"]}
    for t in targets:
        firsts = [next((e["step"] for e in r["evaluations"] if e["accuracy"] >= t / 100), None) for r in runs]
        out[t] = None if None in firsts else (statistics.median(firsts), max(firsts))
    return out


def mixing(runs):
    """Medians over a run's nodes of its interactions, skipped ones, mix lag, ms an interaction
    and ms of it waiting for copies (None where the reports do not say); None for a run without
    nodes."""
    nodes = [r["node"] for r in runs if r.get("node", {}).get("nodes", 1) > 1]
    if not nodes:
        return None
    return {
        "rounds": statistics.median(n["rounds"] for n in nodes),
        "skipped": statistics.median(n["skipped_interactions"] for n in nodes),
        "lag": statistics.median(n["mix_lag"] for n in nodes),
        "ms": statistics.median(1e3 * n["exchange_seconds"] / max(n["rounds"], 1) for n in nodes),
        "wait": statistics.median(1e3 * n["copy_wait_seconds"] / max(n["rounds"], 1) for n in nodes)
        if all("copy_wait_seconds" in n for n in nodes) else None,
    }


def load(folder, targets):
    """{(config, nodes): [(steps_to, mixing) per seed]} from DIR/CONFIG_nNODES_sSEED.json, and the
    models the reports name."""
    runs, models = {}, set()
    for p in sorted(pathlib.Path(folder).glob("*.json")):
        m = re.fullmatch(r"(\w+?)_n(\d+)_s(\d+)\.json", p.name)
        if m and m[1] in NAMES:
            report = json.loads(p.read_text())
            models.add(report["model"])
            runs.setdefault((m[1], int(m[2])), []).append((steps_to(report["runs"], targets), mixing(report["runs"])))
    return runs, models


def print_table(head, rows):
    """A markdown table of the rows that have a cell filled."""
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        if any(row[1:]):
            print("| " + " | ".join(row) + " |")


def mixing_cell(found):
    if not found:
        return ""
    med = {k: statistics.median(m[k] for m in found) for k in found[0] if k != "wait"}
    waits = [m["wait"] for m in found if m["wait"] is not None]
    wait = f"{statistics.median(waits):.2f}" if len(waits) == len(found) else "-"
    return f"{med['rounds']:.0f}, {med['skipped']:.0f}; {med['lag']:.1f}; {med['ms']:.2f}, {wait}"


def cell(seeds, targets):
    parts = []
    for t in targets:
        reached = [s[t] for s in seeds]
        if None in reached:
            parts.append("-")
        else:
            mid = [m for m, _ in reached]
            spread = f" ({min(mid):.0f}-{max(mid):.0f})" if len(mid) > 1 else ""
            parts.append(f"{statistics.median(mid):.0f}{spread} / {statistics.median(l for _, l in reached):.0f}")
    return ", ".join(parts) + f"; {statistics.median(s['accuracy'] for s in seeds):.1f}%"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    targets = [float(t) for t in sys.argv[2:]] or [85.0]
    runs, models = load(sys.argv[1], targets)
    if not runs:
        sys.exit(f"gossip_limits_table.py: no reports under {sys.argv[1]}")
    counts = sorted({n for (name, n) in runs if name != "alone"})
    print("Model: " + ", ".join(sorted(models)) + "\n")
    seeds = max(len(s) for s in runs.values())
    print("Each cell: a node's steps to " + ", ".join(f"{t:g}%" for t in targets) +
          " (median node / last node); final test accuracy" +
          (f"; medians of {seeds} seeds, the median node's range over them in brackets" if seeds > 1 else ""))
    print()
    head = ["configuration"] + [f"{n} nodes" for n in counts]
    rows = []
    for name, label in NAMES.items():
        found = [runs.get((name, 1 if name == "alone" else n)) for n in counts]  # alone: one run for all
        rows.append([label] + [cell([s for s, _ in f], targets) if f else "" for f in found])
    print_table(head, rows)
    print()
    print("Each cell: a node's interactions, skipped; mix lag in steps; ms an interaction, of them waiting for copies")
    print()
    print_table(head, [[label] + [mixing_cell([m for _, m in runs.get((name, n), []) if m is not None]) for n in counts]
                       for name, label in NAMES.items()])


if __name__ == "__main__":
    main()
