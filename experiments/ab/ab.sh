#!/usr/bin/env bash
# A against B, interleaved: builds DRIVER (a .cpp that prints one number, e.g. samples/s) against
# the headers of two commits, runs the two binaries alternately PAIRS times, and prints each
# pair, then the median of B / A over the pairs with its min-max. This machine's speed drifts
# 1.5-3x between hours (and sometimes within a minute), so only alternated pairs compare.
#
#   experiments/ab/ab.sh REV_A REV_B DRIVER [PAIRS] [-- DRIVER ARGS...]
#   experiments/ab/ab.sh e9290b0 dc476a2 experiments/ab/sparse_hogwild.cpp 12
#
# CXX and CXXFLAGS (default -O2 -DNDEBUG) apply; the drivers need Eigen's and zlib's headers
# only through the reference problems (scripts/setup.sh installs them).
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
rev_a=$1 rev_b=$2 driver=$(realpath "$3")
shift 3
pairs=12
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  pairs=$1
  shift
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: PAIRS must be a positive whole number, not '$pairs'" >&2; exit 2; }
[ -f "$driver" ] || { echo "ab.sh: no driver file '$driver'" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cxx=${CXX:-c++}
build() {  # build REV NAME: the driver against REV's include/
  mkdir -p "$tmp/$2"
  git -C "$root" archive "$1" include | tar -x -C "$tmp/$2" ||
    { echo "ab.sh: cannot read include/ at '$1'" >&2; exit 2; }
  # shellcheck disable=SC2086
  "$cxx" -std=c++20 ${CXXFLAGS:--O2 -DNDEBUG} -I"$tmp/$2/include" -isystem /usr/include/eigen3 "$driver" \
    -o "$tmp/$2/run" -pthread -lz
}
build "$rev_a" a &
build "$rev_b" b &
wait %1 && wait %2
ratios=()
for i in $(seq "$pairs"); do
  a=$("$tmp/a/run" "$@")
  b=$("$tmp/b/run" "$@")
  r=$(python3 -c "print(f'{$b / $a:.3f}')")
  ratios+=("$r")
  echo "pair $i: A $a  B $b  B/A $r"
done
python3 - "${ratios[@]}" <<'PY'
import statistics, sys
r = sorted(float(x) for x in sys.argv[1:])
print(f"B / A: median {statistics.median(r):.3f} ({r[0]:.3f}-{r[-1]:.3f}), {len(r)} alternated pairs")
PY
