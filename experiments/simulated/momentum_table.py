#!/usr/bin/env python3
"""Tabulates experiments/simulated/momentum.sh's reports.

First, per mode and thread count, the final test accuracy at each momentum (min-max over the
seeds), the simulated seconds to the target (85% unless --target says otherwise) where every
seed reached it, and the mean staleness; the
best momentum (highest median final accuracy) in bold. Then each mode at its best momentum
beside the same mode at 0.9: the comparison of modes that a single momentum for all of them
would distort.

    experiments/simulated/momentum_table.py DIR [--target PERCENT]
"""
import json
import pathlib
import re
import statistics
import sys

ORDER = ['sequential', 'hogwild', 'leashed', 'leashed-b1', 'locked']


def load(folder):
    runs = {}  # (mode, threads, momentum) -> list of reports, one a seed
    for path in sorted(folder.glob('*.json')):
        m = re.fullmatch(r'(.+)_t(\d+)_m([0-9.]+)_s(\d+)\.json', path.name)
        if not m:
            continue
        r = json.loads(path.read_text())['runs'][0]
        runs.setdefault((m.group(1), int(m.group(2)), float(m.group(3))), []).append(r)
    return runs


def accuracy(r):
    return 100 * r['final_evaluation']['accuracy']


TARGET = 0.85


def to_target(r):
    return next((e['seconds'] for e in r['evaluations'] if e['accuracy'] >= TARGET), None)


def cell(reports, best):
    accs = [accuracy(r) for r in reports]
    low, high = f'{min(accs):.1f}', f'{max(accs):.1f}'
    text = f'{low}%' if low == high else f'{low}-{high}%'
    if best:
        text = f'**{text}**'
    times = [to_target(r) for r in reports]
    if all(t is not None for t in times):
        text += f' ({min(times):.2f}-{max(times):.2f})' if len(times) > 1 else f' ({times[0]:.2f})'
    return text


def main(argv):
    if not argv or argv[0].startswith('-'):
        sys.exit(__doc__)
    global TARGET
    if '--target' in argv:
        TARGET = float(argv[argv.index('--target') + 1]) / 100
    runs = load(pathlib.Path(argv[0]))
    momenta = sorted({mu for _, _, mu in runs}, reverse=True)
    groups = sorted({(mode, t) for mode, t, _ in runs},
                    key=lambda g: (ORDER.index(g[0]) if g[0] in ORDER else len(ORDER), g[1]))
    best = {}
    print('| mode | threads | staleness mean | ' + ' | '.join(f'momentum {mu:g}' for mu in momenta) + ' |')
    print('|---|---|---|' + '---|' * len(momenta))
    for mode, t in groups:
        present = [mu for mu in momenta if (mode, t, mu) in runs]
        top = max(present, key=lambda mu: statistics.median(accuracy(r) for r in runs[(mode, t, mu)]))
        best[(mode, t)] = top
        stale = statistics.median(r['staleness']['mean'] for r in runs[(mode, t, top)])
        cells = [cell(runs[(mode, t, mu)], mu == top) if (mode, t, mu) in runs else '' for mu in momenta]
        print(f'| {mode} | {t} | {stale:.1f} | ' + ' | '.join(cells) + ' |')
    print()
    print(f'| threads | mode | best momentum | final acc % (median) | to {100 * TARGET:g}% s (median) | '
          f'samples/s | at 0.9: final acc % | at 0.9: to {100 * TARGET:g}% s |')
    print('|---|---|---|---|---|---|---|---|')
    for t in sorted({t for _, t in best}):
        for mode, tt in groups:
            if tt != t:
                continue
            mu = best[(mode, t)]
            reports = runs[(mode, t, mu)]
            reach = [x for x in (to_target(r) for r in reports) if x is not None]
            at9 = runs.get((mode, t, 0.9), [])
            reach9 = [x for x in (to_target(r) for r in at9) if x is not None]

            def median_or_dash(values, fmt, count):
                if not values:
                    return '-'
                text = format(statistics.median(values), fmt)
                return text if len(values) == count else f'{text} [{len(values)} of {count}]'

            acc9 = f'{statistics.median(accuracy(r) for r in at9):.2f}' if at9 else '-'
            print(f'| {t} | {mode} | {mu:g} | {statistics.median(accuracy(r) for r in reports):.2f} | '
                  f'{median_or_dash(reach, ".3f", len(reports))} | '
                  f'{statistics.median(r["samples_per_second"] for r in reports):,.0f} | '
                  f'{acc9} | {median_or_dash(reach9, ".3f", len(at9))} |')

if __name__ == '__main__':
    main(sys.argv[1:])
