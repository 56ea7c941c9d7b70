#!/usr/bin/env python3
"""The table of experiments/simulated/nodes_lr.sh's runs: per method and node count, for each
learning rate, the virtual ms until every node's model reached each TARGET% test accuracy ("-"
where a run never did) and the final test accuracy; then the rate that reached the last target
soonest (ties, which the evaluations' spacing makes, to the better final accuracy; where no rate
got there, the best final accuracy).

    experiments/simulated/nodes_lr_table.py DIR [TARGET%...]     (targets: 70 75 by default)
"""
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from nodes_table import NAMES, summary  # noqa: E402


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    targets = [float(t) for t in sys.argv[2:]] or [70.0, 75.0]
    runs = {}  # (method, nodes) -> {lr: summary}
    for d in pathlib.Path(sys.argv[1]).glob("lr_*"):
        lr = float(d.name[3:])
        for p in d.glob("*_s1.json"):
            m = re.fullmatch(r"(\w+?)_n(\d+)_s1\.json", p.name)
            if m:
                runs.setdefault((m[1], int(m[2])), {})[lr] = summary(p, targets)
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
                r = by_lr.get(lr)
                if r is None:
                    row.append("")
                    continue
                times = ", ".join("-" if r[t] is None else f"{1e3 * r[t]:.1f}" for t in targets)
                row.append(f"{times}; {r['accuracy']:.1f}%")
            reached = {lr: r[last] for lr, r in by_lr.items() if r[last] is not None}
            if reached:
                best = min(reached, key=lambda lr: (reached[lr], -by_lr[lr]["accuracy"]))
                row.append(f"lr {best:g}: {1e3 * reached[best]:.1f} ms")
            else:
                best = max(by_lr, key=lambda lr: by_lr[lr]["accuracy"])
                row.append(f"none; best final at lr {best:g}")
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
