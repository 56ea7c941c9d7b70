#!/usr/bin/env python3
"""The table of experiments/simulated/nodes_lr.sh's runs: per method and node count, for each
learning rate, the virtual ms until every node's model reached each TARGET% test accuracy ("-"
where a run never did) and the final test accuracy, medians over the seeds run (with the final
accuracy's range and the seed count where there are several; "-" where any seed never got
there); then the rate that reached the last target soonest (ties, which the evaluations' spacing
makes, to the better final accuracy; where no rate got there, the best final accuracy).

    experiments/simulated/nodes_lr_table.py DIR [TARGET%...]     (targets: 70 75 by default)
"""
import pathlib
import re
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from nodes_table import NAMES, summary  # noqa: E402


def median_of(seeds, key):
    """The median over the seeds, None where a seed has none."""
    values = [s[key] for s in seeds]
    return None if None in values else statistics.median(values)


def load(folder, targets, seed=None):
    """{(method, nodes): {lr: [summary per seed]}} from nodes_lr.sh's DIR/lr_X/ reports (one
    seed's only where `seed` is given)."""
    runs = {}
    for d in pathlib.Path(folder).glob("lr_*"):
        lr = float(d.name[3:])
        for p in sorted(d.glob("*.json")):
            m = re.fullmatch(r"(\w+?)_n(\d+)_s(\d+)\.json", p.name)
            if m and seed in (None, int(m[3])):
                runs.setdefault((m[1], int(m[2])), {}).setdefault(lr, []).append(summary(p, targets))
    return runs


def soonest(by_lr, target):
    """The rate whose median time to `target` is least (ties to the better final accuracy) and
    that time, or None where no rate got there in every seed."""
    reached = {lr: median_of(s, target) for lr, s in by_lr.items() if median_of(s, target) is not None}
    if not reached:
        return None
    best = min(reached, key=lambda lr: (reached[lr], -median_of(by_lr[lr], "accuracy")))
    return best, reached[best]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    targets = [float(t) for t in sys.argv[2:]] or [70.0, 75.0]
    runs = load(sys.argv[1], targets)  # (method, nodes) -> {lr: [summary per seed]}
    if not runs:
        sys.exit(f"nodes_lr_table.py: no reports under {sys.argv[1]}/lr_*/")
    lrs = sorted({lr for by_lr in runs.values() for lr in by_lr})
    head = ["method", "nodes"] + [f"lr {lr:g}" for lr in lrs] + ["soonest"]
    print("Each cell: virtual ms to " + ", ".join(f"{t:g}%" for t in targets) + "; final test accuracy\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    last = targets[-1]
    for name in NAMES:
        for nodes in sorted(n for (k, n) in runs if k == name):
            by_lr = runs[(name, nodes)]
            row = [NAMES[name], str(nodes)]
            for lr in lrs:
                seeds = by_lr.get(lr)
                if seeds is None:
                    row.append("")
                    continue
                times = [median_of(seeds, t) for t in targets]
                cell = ", ".join("-" if t is None else f"{1e3 * t:.1f}" for t in times)
                cell += f"; {median_of(seeds, 'accuracy'):.1f}%"
                if len(seeds) > 1:
                    accs = [s["accuracy"] for s in seeds]
                    cell += f" ({min(accs):.1f}-{max(accs):.1f}, {len(seeds)} seeds)"
                row.append(cell)
            best = soonest(by_lr, last)
            if best is not None:
                row.append(f"lr {best[0]:g}: {1e3 * best[1]:.1f} ms")
            else:
                best = max(by_lr, key=lambda lr: median_of(by_lr[lr], "accuracy"))
                row.append(f"none; best final at lr {best:g}")
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
