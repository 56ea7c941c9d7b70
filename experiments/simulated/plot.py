#!/usr/bin/python3
"""The curves of the simulated shared-memory sweeps, as the Leashed-SGD paper draws them.

    experiments/simulated/plot.py RUN_DIR OUTPUT_DIR [--momentum MOMENTUM_DIR] [--nodes NODES_DIR]
                                  [--nodes-lr NODES_LR_DIR] [--target PERCENT]

RUN_DIR holds experiments/simulated/run.sh's reports (MODE_tTHREADS.json, every mode at
momentum 0.9); MOMENTUM_DIR, if given, experiments/simulated/momentum.sh's. Writes to OUTPUT_DIR:
  sim_time_to_target.png   simulated seconds to the test-accuracy target (80% unless --target)
                           against threads, each mode at momentum 0.9
  sim_staleness.png        mean staleness against threads (the 99th percentile dashed)
  sim_throughput.png       samples/s against threads, as a multiple of sequential SGD's
  sim_momentum.png         (with --momentum) time to the target and final accuracy against
                           threads, each mode at its best momentum (highest median final
                           accuracy over the seeds) beside the same mode at 0.9
  sim_nodes.png            (with --nodes: experiments/simulated/nodes.sh's reports) virtual time
                           until every node reached 70% test accuracy, and the final accuracy,
                           against nodes, each method (medians over the seeds), titled with
                           the link and the all-reduce model of the runs' cost model
  sim_nodes_lr.png         (with --nodes-lr: experiments/simulated/nodes_lr.sh's reports, seed
                           1) at the same steps a node, virtual time until every node reached
                           75% at the learning rate that got there soonest, and the best final
                           accuracy over the rates, against nodes; dashed: at the default 0.01
Uses Debian's python3-matplotlib.
"""
import json
import pathlib
import re
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from momentum_table import load as load_momentum  # noqa: E402
from nodes_lr_table import load as load_nodes_lr, soonest  # noqa: E402
from nodes_table import NAMES, summary  # noqa: E402

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "hogwild": "HOGWILD!",
    "leashed": "Leashed-SGD",
    "leashed-b1": "Leashed-SGD, persistence 1",
    "locked": "lock-based",
    "replicas": "replicas (H = 4)",
    "bounded_staleness": "bounded staleness (K = 4)",
    "synchronous": "synchronous",
    "atomic_add": "atomic add",
}


def reach(report, target):
    return next((e["seconds"] for e in report["evaluations"] if e["accuracy"] >= target), None)


def load_runs(folder):
    """{mode: {threads: report}} from run.sh's MODE_tTHREADS.json."""
    runs = {}
    for path in sorted(folder.glob("*_t*.json")):
        m = re.fullmatch(r"(.+)_t(\d+)\.json", path.name)
        if m:
            runs.setdefault(m[1], {})[int(m[2])] = json.loads(path.read_text())["runs"][0]
    return runs


def by_threads(series):
    """The modes' lines: every mode but sequential, in LABELS' order, then any other."""
    order = [m for m in LABELS if m in series] + sorted(m for m in series if m not in LABELS and m != "sequential")
    return [(m, sorted(series[m].items())) for m in order]


def finish(ax, logy):
    """Log scales where there is something to scale (a smoke run may reach no target), a legend
    where there are lines."""
    ax.set_xscale("log", base=2)
    xs = sorted({float(x) for line in ax.get_lines() if line.get_marker() not in (None, "None", "") for x in line.get_xdata()})
    if xs:
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    if logy and any(len(line.get_xdata()) for line in ax.get_lines()):
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7 if ax.get_subplotspec().get_geometry()[1] == 1 else 6)


def plot_lines(path, title, ylabel, series, logy=False, reference=None, note=None):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for mode, points in by_threads(series):
        xs = [t for t, v in points if v is not None]
        ys = [v for t, v in points if v is not None]
        if xs:
            ax.plot(xs, ys, marker="o", label=LABELS.get(mode, mode))
    if reference is not None:
        ax.axhline(reference[1], color="grey", linestyle=":", label=reference[0])
    finish(ax, logy)
    ax.set_xlabel("threads (simulated)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if note:
        ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=7, color="grey")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_runs(runs, out, target):
    seq = runs.get("sequential", {}).get(1)
    pct = f"{100 * target:g}%"
    times = {m: {t: reach(r, target) for t, r in v.items()} for m, v in runs.items() if m != "sequential"}
    plot_lines(out / "sim_time_to_target.png", f"Time to {pct} test accuracy (MLP, momentum 0.9, simulated)",
               "simulated seconds", times, logy=True,
               reference=("sequential SGD", reach(seq, target)) if seq and reach(seq, target) else None,
               note="a mode that never reached the target at a thread count has no point there")
    stale = {m: {t: r["staleness"]["mean"] for t, r in v.items()} for m, v in runs.items() if m != "sequential"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    never = []  # modes whose updates are never stale (synchronous): nothing to draw on a log scale
    for i, (mode, points) in enumerate(by_threads(stale)):
        points = [(t, v) for t, v in points if v > 0]
        if not points:
            never.append(LABELS.get(mode, mode))
            continue
        color = f"C{i}"
        ax.plot([t for t, _ in points], [v for _, v in points], marker="o", color=color, label=LABELS.get(mode, mode))
        ax.plot([t for t, _ in points], [runs[mode][t]["staleness"]["p99"] for t, _ in points], linestyle="--",
                color=color, alpha=0.5)
    if never:
        ax.text(0.99, 0.01, "staleness 0 at every thread count: " + ", ".join(never), transform=ax.transAxes,
                fontsize=7, color="grey", ha="right")
    finish(ax, True)
    ax.set_xlabel("threads (simulated)")
    ax.set_ylabel("staleness [updates] (mean; p99 dashed)")
    ax.set_title("Staleness against threads (MLP, simulated)")
    fig.tight_layout()
    fig.savefig(out / "sim_staleness.png", dpi=110)
    plt.close(fig)
    if seq:
        speed = {m: {t: r["samples_per_second"] / seq["samples_per_second"] for t, r in v.items()}
                 for m, v in runs.items() if m != "sequential"}
        plot_lines(out / "sim_throughput.png", "Throughput against threads (MLP, simulated)",
                   "samples/s / sequential SGD's", speed, logy=True, reference=("sequential SGD", 1.0))


def plot_momentum(runs, out, target):
    pct = f"{100 * target:g}%"
    modes = sorted({m for m, t, _ in runs if m != "sequential"}, key=lambda m: list(LABELS).index(m) if m in LABELS else 99)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for i, mode in enumerate(modes):
        threads = sorted({t for m, t, _ in runs if m == mode})
        best_t, best_a, nine_t, nine_a = [], [], [], []
        for t in threads:
            present = [mu for m, tt, mu in runs if m == mode and tt == t]
            top = max(present, key=lambda mu: statistics.median(100 * r["final_evaluation"]["accuracy"] for r in runs[(mode, t, mu)]))
            for mu, times, accs in ((top, best_t, best_a), (0.9, nine_t, nine_a)):
                reports = runs.get((mode, t, mu), [])
                got = [x for x in (reach(r, target) for r in reports) if x is not None]
                # The median over the seeds that got there, where most did.
                times.append(statistics.median(got) if reports and 2 * len(got) > len(reports) else None)
                accs.append(statistics.median(100 * r["final_evaluation"]["accuracy"] for r in reports) if reports else None)
        color = f"C{i}"
        label = LABELS.get(mode, mode)
        for ax, best, nine in ((left, best_t, nine_t), (right, best_a, nine_a)):
            ax.plot([t for t, v in zip(threads, best) if v is not None], [v for v in best if v is not None],
                    marker="o", color=color, label=f"{label}, best momentum")
            ax.plot([t for t, v in zip(threads, nine) if v is not None], [v for v in nine if v is not None],
                    marker="x", linestyle=":", color=color, label=f"{label}, 0.9")
    finish(left, True)
    finish(right, False)
    left.get_legend() and left.get_legend().remove()  # one legend for both panels
    for ax in (left, right):
        ax.set_xlabel("threads (simulated)")
    left.set_ylabel(f"simulated seconds to {pct} (median, seeds that got there)")
    left.set_title(f"Time to {pct}: each mode at its best momentum")
    right.set_ylabel("final test accuracy [%] (median of the seeds)")
    right.set_title("Final accuracy after 2 epochs")
    fig.tight_layout()
    fig.savefig(out / "sim_momentum.png", dpi=110)
    plt.close(fig)


def plot_nodes(folder, out, target=70.0):
    runs = {}  # (method, nodes) -> [summary per seed]
    for path in sorted(folder.glob("*.json")):
        m = re.fullmatch(r"(\w+?)_n(\d+)_s(\d+)\.json", path.name)
        if m:
            runs.setdefault((m[1], int(m[2])), []).append(summary(path, [target]))
    if not runs:
        sys.exit(f"plot.py: no nodes.sh reports in {folder}")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for method, label in NAMES.items():
        counts = sorted(n for (k, n) in runs if k == method)
        times = [(n, [r[target] for r in runs[(method, n)]]) for n in counts]
        # A point where every seed got there: the median over them, in milliseconds.
        reached = [(n, 1e3 * statistics.median(v)) for n, v in times if None not in v]
        left.plot([n for n, _ in reached], [v for _, v in reached], marker="o", label=label)
        right.plot(counts, [statistics.median(r["accuracy"] for r in runs[(method, n)]) for n in counts], marker="o",
                   label=label)
    finish(left, True)
    finish(right, False)
    left.set_ylabel(f"virtual ms until every node reached {target:g}%")
    left.set_title(f"Time to {target:g}% against nodes (no point: a seed never got there)")
    right.set_ylabel("final test accuracy [%] (after the final average)")
    right.set_title("Final accuracy")
    # The runs' link, and how their cost model charged an all-reduce (in_process when a report
    # predates the key).
    costs = dict(re.findall(r"^(\w+) = (.+)$", json.loads(next(folder.glob("*.json")).read_text()).get("cost_model", ""),
                            re.M))
    for ax in (left, right):
        ax.set_xlabel("nodes (simulated, one worker each, node 0 2x slower)")
    if "link_bandwidth" in costs:
        fig.suptitle(f"link {float(costs['link_bandwidth']) * 8 / 1e9:g} Gb/s, "
                     f"{float(costs['link_latency_seconds']) * 1e6:g} us a message; "
                     f"all-reduce: {costs.get('link_all_reduce', 'in_process')}")
    fig.tight_layout()
    fig.savefig(out / "sim_nodes.png", dpi=110)
    plt.close(fig)


def plot_nodes_lr(folder, out, target=75.0):
    runs = {}  # method -> {nodes: {lr: [seed 1's summary]}}
    for (method, nodes), by_lr in load_nodes_lr(folder, [target], seed=1).items():
        runs.setdefault(method, {})[nodes] = by_lr
    if not runs:
        sys.exit(f"plot.py: no nodes_lr.sh reports in {folder}/lr_*/")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for method, label in NAMES.items():
        if method not in runs:
            continue
        counts = sorted(runs[method])
        best, default = [], []
        for n in counts:
            by_lr = runs[method][n]
            first = soonest(by_lr, target)
            if first is not None:
                best.append((n, 1e3 * first[1], first[0]))
            if 0.01 in by_lr and by_lr[0.01][0][target] is not None:
                default.append((n, 1e3 * by_lr[0.01][0][target]))
        line, = left.plot([b[0] for b in best], [b[1] for b in best], marker="o", label=label)
        for n, ms, lr in best:
            left.annotate(f"{lr:g}", (n, ms), textcoords="offset points", xytext=(4, 4), fontsize=7,
                          color=line.get_color())
        left.plot([d[0] for d in default], [d[1] for d in default], ls="--", marker=".", color=line.get_color())
        right.plot(counts, [max(r[0]["accuracy"] for r in runs[method][n].values()) for n in counts], marker="o",
                   color=line.get_color(), label=label)
        right.plot(counts, [runs[method][n][0.01][0]["accuracy"] if 0.01 in runs[method][n] else float("nan")
                            for n in counts], ls="--", marker=".", color=line.get_color())
    finish(left, True)
    finish(right, False)
    left.set_ylabel(f"virtual ms until every node reached {target:g}%")
    left.set_title(f"Time to {target:g}% at the soonest learning rate (labelled)")
    right.set_ylabel("final test accuracy [%], the best rate's")
    right.set_title("Best final accuracy over the rates")
    for ax in (left, right):
        ax.set_xlabel("nodes, 234 steps each (node 0 2x slower); dashed: lr 0.01")
    fig.tight_layout()
    fig.savefig(out / "sim_nodes_lr.png", dpi=110)
    plt.close(fig)


def main(argv):
    if len(argv) < 2 or argv[0].startswith("-"):
        sys.exit(__doc__)
    run_dir, out = pathlib.Path(argv[0]), pathlib.Path(argv[1])
    target = float(argv[argv.index("--target") + 1]) / 100 if "--target" in argv else 0.80
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(run_dir)
    if not runs:
        sys.exit(f"plot.py: no MODE_tTHREADS.json reports in {run_dir}")
    plot_runs(runs, out, target)
    if "--momentum" in argv:
        momentum = load_momentum(pathlib.Path(argv[argv.index("--momentum") + 1]))
        if not momentum:
            sys.exit("plot.py: no momentum.sh reports in the --momentum folder")
        plot_momentum(momentum, out, target)
    if "--nodes" in argv:
        plot_nodes(pathlib.Path(argv[argv.index("--nodes") + 1]), out)
    if "--nodes-lr" in argv:
        plot_nodes_lr(pathlib.Path(argv[argv.index("--nodes-lr") + 1]), out)


if __name__ == "__main__":
    main(sys.argv[1:])
