#!/usr/bin/python3
"""Plots and tables of the Leashed-SGD reproduction sweep (experiments/leashed/run.sh).

    experiments/leashed/plot.py RESULTS_DIR OUTPUT_DIR

Reads RESULTS_DIR/<model>_<config>_t<threads>_s<seed>.json (asgd-train reports) and writes to
OUTPUT_DIR, for each model:
  <model>_loss_vs_time.png      test loss against training time, 2 and 8 threads (median seed)
  <model>_time_to_target.png    time to the test-accuracy target, per config and thread count
  <model>_staleness.png         staleness distributions at 8 threads
  <model>_cas_retries.png       Leashed-SGD's failed-CAS distributions per thread count
  <model>_throughput.png        samples/s against threads
and summary.md, the tables docs/results.md quotes. Uses Debian's python3-matplotlib.
"""
import json
import math
import os
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Targets, chosen from sequential SGD's curves: reached by every config that converges.
TARGETS = {"mlp": {"accuracy": 0.85, "loss": 0.42}, "cnn": {"accuracy": 0.84, "loss": 0.45}}
CONFIGS = ["sequential", "synchronous", "locked", "hogwild", "leashed", "leashed-b1"]
LABELS = {
    "sequential": "sequential",
    "synchronous": "SYNC",
    "locked": "lock-based (ASYNC)",
    "hogwild": "HOGWILD!",
    "leashed": "Leashed (B unbounded)",
    "leashed-b1": "Leashed (B = 1)",
}
NAME = re.compile(r"^(?P<model>[a-z0-9]+)_(?P<config>[a-z0-9-]+)_t(?P<threads>\d+)_s(?P<seed>\d+)\.json$")


def load(directory):
    runs = []
    for name in sorted(os.listdir(directory)):
        m = NAME.match(name)
        if not m:
            continue
        with open(os.path.join(directory, name)) as f:
            doc = json.load(f)
        report = doc["runs"][0]
        runs.append(
            {
                "model": m["model"],
                "config": m["config"],
                "threads": int(m["threads"]),
                "seed": int(m["seed"]),
                "report": report,
            }
        )
    return runs


def time_to(report, key, target, below):
    """Training seconds until the test metric first reaches the target (None if never)."""
    for e in report.get("evaluations", []):
        v = e[key]
        if v is not None and ((v <= target) if below else (v >= target)):
            return e["seconds"]
    return None


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def group(runs, model):
    out = {}
    for r in runs:
        if r["model"] == model:
            out.setdefault((r["config"], r["threads"]), []).append(r)
    return out


def fmt(v, digits=2):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def plot_loss_vs_time(groups, model, path):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, threads in zip(axes, (2, 8)):
        for config in CONFIGS:
            runs = groups.get((config, 1 if config == "sequential" else threads))
            if not runs:
                continue
            # the run with the median final loss stands for the seeds
            runs = sorted(runs, key=lambda r: r["report"]["final_evaluation"]["loss"])
            rep = runs[len(runs) // 2]["report"]
            xs = [e["seconds"] for e in rep["evaluations"]]
            ys = [e["loss"] for e in rep["evaluations"]]
            ax.plot(xs, ys, marker=".", label=LABELS[config] + (" (1 thread)" if config == "sequential" else ""))
        ax.set_title(f"{model.upper()}, {threads} threads")
        ax.set_xlabel("training time [s]")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test loss")
    axes[0].set_ylim(top=min(1.2, axes[0].get_ylim()[1]))
    for ax in axes:
        if ax.get_lines():
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_time_to_target(groups, model, path):
    target = TARGETS[model]["accuracy"]
    threads_list = [1, 2, 4, 8]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / (len(CONFIGS) - 1)
    for i, config in enumerate(c for c in CONFIGS if c != "sequential"):
        meds, lows, highs = [], [], []
        for t in threads_list:
            vals = [time_to(r["report"], "accuracy", target, False) for r in groups.get((config, t), [])]
            vals = [v for v in vals if v is not None]
            m = statistics.median(vals) if vals else float("nan")
            meds.append(m)
            lows.append(m - min(vals) if vals else 0)
            highs.append(max(vals) - m if vals else 0)
        xs = [j + (i - 2) * width for j in range(len(threads_list))]
        ax.bar(xs, meds, width, yerr=[lows, highs], capsize=2, label=LABELS[config])
    seq = median_or_none(time_to(r["report"], "accuracy", target, False) for r in groups.get(("sequential", 1), []))
    if seq is not None:
        ax.axhline(seq, color="black", linestyle="--", linewidth=1, label="sequential (1 thread)")
    ax.set_xticks(range(len(threads_list)))
    ax.set_xticklabels([f"{t} thread{'s' if t > 1 else ''}" for t in threads_list])
    ax.set_ylabel(f"seconds to {target:.0%} test accuracy")
    ax.set_title(f"{model.upper()}: time to target (median of seeds, bars: min-max; missing: not reached)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def histogram_plot(groups, model, path, key, configs, threads_of, title, xlabel):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for config, threads in ((c, t) for c in configs for t in threads_of(c)):
        runs = groups.get((config, threads))
        if not runs:
            continue
        counts = [0] * 256
        for r in runs:
            for i, c in enumerate(r["report"][key]["counts"]):
                counts[i] += c
        total = sum(counts)
        if total == 0:
            continue
        last = max(i for i, c in enumerate(counts) if c > 0)
        xs = list(range(last + 1))
        ys = [c / total for c in counts[: last + 1]]
        ax.step(xs, ys, where="mid", label=f"{LABELS[config]}, {threads} threads")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of updates")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_throughput(groups, model, path):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for config in CONFIGS:
        threads = [1] if config == "sequential" else [1, 2, 4, 8]
        ys = [median_or_none(r["report"]["samples_per_second"] for r in groups.get((config, t), [])) for t in threads]
        if all(y is None for y in ys):
            continue
        ax.plot(threads, [y if y is not None else float("nan") for y in ys], marker="o", label=LABELS[config])
    ax.set_xscale("log", base=2)
    ax.set_xticks([1, 2, 4, 8])
    ax.set_xticklabels(["1", "2", "4", "8"])
    ax.set_xlabel("threads (2 cores)")
    ax.set_ylabel("samples/s (median of seeds)")
    ax.set_title(f"{model.upper()}: throughput")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_table(groups, model):
    t = TARGETS[model]
    lines = [
        f"#### {model.upper()} (targets: {t['accuracy']:.0%} test accuracy, test loss {t['loss']})",
        "",
        "| config | threads | seeds | samples/s | time to acc. [s] (min–max) | time to loss [s] | final acc. | "
        "mean staleness | failed CAS / update | dropped | peak versions |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in CONFIGS:
        for threads in [1] if config == "sequential" else [1, 2, 4, 8]:
            runs = groups.get((config, threads))
            if not runs:
                continue
            reps = [r["report"] for r in runs]
            tta = [time_to(r, "accuracy", t["accuracy"], False) for r in reps]
            ttl = [time_to(r, "loss", t["loss"], True) for r in reps]
            reached = [v for v in tta if v is not None]
            span = f" ({fmt(min(reached))}–{fmt(max(reached))})" if len(reached) > 1 else ""
            missing = len(tta) - len(reached)
            span += f", {missing} not reached" if missing else ""
            retries = statistics.median(r["cas_retries"]["mean"] for r in reps)
            lines.append(
                f"| {LABELS[config]} | {threads} | {len(reps)} | "
                f"{statistics.median(r['samples_per_second'] for r in reps):,.0f} | "
                f"{fmt(median_or_none(tta))}{span} | {fmt(median_or_none(ttl))} | "
                f"{statistics.median(r['final_evaluation']['accuracy'] for r in reps):.4f} | "
                f"{statistics.median(r['staleness']['mean'] for r in reps):.2f} | {retries:.3f} | "
                f"{sum(r['updates_dropped'] for r in reps) // len(reps)} | "
                f"{max(r['peak_live_versions'] for r in reps)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    runs = load(argv[1])
    if not runs:
        print(f"plot.py: no reports in {argv[1]}", file=sys.stderr)
        return 1
    os.makedirs(argv[2], exist_ok=True)
    tables = []
    for model in sorted({r["model"] for r in runs}):
        groups = group(runs, model)
        out = lambda name: os.path.join(argv[2], f"{model}_{name}.png")  # noqa: E731
        plot_loss_vs_time(groups, model, out("loss_vs_time"))
        plot_time_to_target(groups, model, out("time_to_target"))
        histogram_plot(
            groups, model, out("staleness"), "staleness", [c for c in CONFIGS if c != "sequential"],
            lambda c: [8], f"{model.upper()}: staleness at 8 threads", "staleness (updates between read and write)"
        )
        histogram_plot(
            groups, model, out("cas_retries"), "cas_retries", ["leashed", "leashed-b1"], lambda c: [2, 4, 8],
            f"{model.upper()}: Leashed-SGD failed publications per step", "failed CAS before success or drop"
        )
        plot_throughput(groups, model, out("throughput"))
        tables.append(summary_table(groups, model))
    with open(os.path.join(argv[2], "summary.md"), "w") as f:
        f.write("\n".join(tables))
    print(f"plot.py: {len(runs)} runs -> {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
