#!/usr/bin/env python3
"""Tabulates experiments/simulated/run.sh's reports: per mode and thread count, the virtual time
of the epoch, samples/s and the speed-up over simulated sequential SGD, the time to a test
accuracy, staleness, Leashed-SGD's failed CASes, and what the host spent.

    experiments/simulated/table.py DIR [--target PERCENT]   (default 80)
"""
import json
import pathlib
import re
import sys


def main(argv):
    if not argv or argv[0].startswith('-'):
        sys.exit(__doc__)
    folder = pathlib.Path(argv[0])
    target = float(argv[argv.index('--target') + 1]) / 100 if '--target' in argv else 0.80
    rows = []
    for path in sorted(folder.glob('*_t*.json')):
        m = re.fullmatch(r'(.+)_t(\d+)\.json', path.name)
        if not m:
            continue
        r = json.loads(path.read_text())['runs'][0]
        reach = next((e['seconds'] for e in r['evaluations'] if e['accuracy'] >= target), None)
        rows.append((m.group(1), int(m.group(2)), r, reach))
    seq = next((r for mode, t, r, _ in rows if mode == 'sequential'), None)
    base = seq['samples_per_second'] if seq else None
    print(f'| mode | threads | virtual s | samples/s | x sequential | to {100 * target:.0f}% (s) | '
          'final acc % | staleness mean (p99) | failed CAS / step | dropped % | host s |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    order = ['sequential', 'hogwild', 'leashed', 'leashed-b1', 'locked', 'replicas', 'bounded_staleness', 'synchronous', 'atomic_add']
    rows.sort(key=lambda x: (order.index(x[0]) if x[0] in order else len(order), x[1]))
    for mode, threads, r, reach in rows:
        train = r['wall_seconds'] - r['pause_seconds']
        acc = r.get('final_evaluation', {}).get('accuracy')
        speed = f"{r['samples_per_second'] / base:.2f}" if base else '-'
        st = r['staleness']
        print(f"| {mode} | {threads} | {train:.3f} | {r['samples_per_second']:,.0f} | {speed} | "
              f"{'-' if reach is None else f'{reach:.3f}'} | {'-' if acc is None else f'{100 * acc:.2f}'} | "
              f"{st['mean']:.1f} ({st['p99']}) | {r['cas_retries']['mean']:.2f} | "
              f"{100 * r['updates_dropped'] / r['steps']:.1f} | "
              f"{r['simulation']['host_seconds']:.1f} |")


if __name__ == '__main__':
    main(sys.argv[1:])
