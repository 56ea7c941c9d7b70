#!/usr/bin/python3
"""Plots and the summary table of the decentralized reproduction (experiments/nodes/run.sh).

    experiments/nodes/plot.py RESULTS_DIR OUTPUT_DIR [NAME]

Reads RESULTS_DIR/mlp_<config>_s<seed>.json (asgd-train reports: every node's, node 0 first)
and writes to OUTPUT_DIR, NAME being "nodes" unless given (e.g. nodes_e8 for a longer run):
  NAME_vs_time.png      node 0's test loss and accuracy against training time (seed 1)
  NAME_vs_samples.png   the same against the samples all nodes processed together
  NAME_bits.png         megabytes each node sent, per configuration
  NAME_summary.md       the table docs/results.md quotes
Uses Debian's python3-matplotlib.
"""
import json
import os
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CONFIGS = ["single", "sync-allreduce", "local-sgd-h8", "lap-sgd-h8", "lpp-sgd-h8", "lap-sgd-h8-rt", "lpp-sgd-h8-rt",
           "swarm-h4", "swarm-h4-qsgd8", "swarm-event-h4", "swarm-event-h4-lattice", "dpsgd-ring"]
LABELS = {
    "single": "one node, 2 threads",
    "sync-allreduce": "synchronous all-reduce (H=1, blocking)",
    "local-sgd-h8": "local SGD (H=8, blocking)",
    "lap-sgd-h8": "LAP-SGD (H=8, non-blocking)",
    "lpp-sgd-h8": "LPP-SGD (H=8, partial steps)",
    "lap-sgd-h8-rt": "LAP-SGD, real-time averager",
    "lpp-sgd-h8-rt": "LPP-SGD, real-time averager",
    "swarm-h4": "random pairs in rounds (H=4)",
    "swarm-h4-qsgd8": "random pairs in rounds + 8-bit QSGD",
    "swarm-event-h4": "SwarmSGD (event-driven, H=4 geometric)",
    "swarm-event-h4-lattice": "SwarmSGD (event-driven) + lattice 16-bit",
    "dpsgd-ring": "D-PSGD (ring, H=1)",
}
NAME = re.compile(r"^mlp_(?P<config>[a-z0-9-]+)_s(?P<seed>\d+)\.json$")


def load(directory):
    runs = {}
    for name in sorted(os.listdir(directory)):
        m = NAME.match(name)
        if not m:
            continue
        with open(os.path.join(directory, name)) as f:
            doc = json.load(f)
        runs.setdefault(m["config"], {})[int(m["seed"])] = doc["runs"]
    return runs


def nodes_of(reports):
    node = reports[0].get("node")
    return node["nodes"] if node else 1


def curves(runs, x_key, out_path):
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    for config in CONFIGS:
        if config not in runs:
            continue
        seed = min(runs[config])
        reports = runs[config][seed]
        r0 = reports[0]
        n = nodes_of(reports)
        evals = r0.get("evaluations", [])
        if x_key == "seconds":
            xs = [e["seconds"] for e in evals]
        else:
            xs = [e["step"] * r0["batch"] * n for e in evals]
        style = "k-" if config == "single" else "-"
        ax_loss.plot(xs, [e["loss"] for e in evals], style, marker=".", label=LABELS[config])
        ax_acc.plot(xs, [100 * e["accuracy"] for e in evals], style, marker=".", label=LABELS[config])
    xlabel = "training time [s] (4 nodes x 2 threads on 2 cores)" if x_key == "seconds" else "samples, all nodes"
    for ax, what in ((ax_loss, "test loss"), (ax_acc, "test accuracy [%] (node 0)")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    ax_acc.set_ylim(80, 90)
    ax_loss.set_ylim(0.3, 0.6)
    ax_acc.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


def bits(runs, out_path):
    configs = [c for c in CONFIGS if c in runs and c != "single"]
    mb = [statistics.mean(runs[c][s][0]["node"]["bytes_sent"] / 1e6 for s in runs[c]) for c in configs]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh([LABELS[c] for c in configs], mb)
    ax.set_xlabel("MB sent by node 0 over the run")
    ax.set_xscale("log")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


def summary(runs):
    lines = [
        "| Configuration | Test accuracy, node 0 (seeds) | Wall time [s] | Samples/s, all nodes | Rounds | "
        "Exchange [s] | Overlapped | MB sent per node | Consensus distance before final average |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for config in CONFIGS:
        if config not in runs:
            continue
        accs, walls, rates, rounds, exch, overlap, mb, cons = [], [], [], [], [], [], [], []
        for seed, reports in sorted(runs[config].items()):
            r0 = reports[0]
            n = nodes_of(reports)
            accs.append(100 * r0["final_evaluation"]["accuracy"])
            walls.append(r0["wall_seconds"] - r0["pause_seconds"])
            rates.append(sum(r["samples_per_second"] for r in reports) if n > 1 else r0["samples_per_second"])
            node = r0.get("node")
            if node and n > 1:
                rounds.append(node["rounds"])
                exch.append(node["exchange_seconds"])
                overlap.append(100 * node["overlap"])
                mb.append(node["bytes_sent"] / 1e6)
                cons.append(node["final_consensus_distance"])

        def fmt(values, spec):
            return format(statistics.mean(values), spec) if values else "–"

        acc = ", ".join(f"{a:.2f}" for a in accs)
        lines.append(
            f"| {LABELS[config]} | {acc} | {fmt(walls, '.1f')} | {fmt(rates, ',.0f')} | {fmt(rounds, '.0f')} | "
            f"{fmt(exch, '.2f')} | {fmt(overlap, '.0f')}{'%' if overlap else ''} | {fmt(mb, '.1f')} | "
            f"{fmt(cons, '.3g')} |"
        )
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: plot.py RESULTS_DIR OUTPUT_DIR [NAME]")
    runs = load(sys.argv[1])
    if not runs:
        sys.exit(f"plot.py: no mlp_<config>_s<seed>.json reports in {sys.argv[1]}")
    out = sys.argv[2]
    name = sys.argv[3] if len(sys.argv) == 4 else "nodes"
    os.makedirs(out, exist_ok=True)
    curves(runs, "seconds", os.path.join(out, f"{name}_vs_time.png"))
    curves(runs, "samples", os.path.join(out, f"{name}_vs_samples.png"))
    bits(runs, os.path.join(out, f"{name}_bits.png"))
    with open(os.path.join(out, f"{name}_summary.md"), "w") as f:
        f.write(summary(runs))


if __name__ == "__main__":
    main()
