#!/usr/bin/env bash
# What a user's translation unit costs to compile: CPU seconds (user + system) and peak memory of
# one compiler process, median of N runs (default 3), for
#   umbrella + trainer     examples/01_minimal.cpp: <asgd/asgd.hpp> and one trainer
#   fine-grained + trainer examples/06_instantiate_once/main.cpp with the trainer instantiated
#                          in it (its header's `extern template` line removed)
#   ... separate           the same with ASGD_SEPARATE_COMPILATION (asgd_src.cpp compiled apart)
#   fine-grained, extern   the same file as shipped: the trainer is instantiated elsewhere
#   the instantiating TU   examples/06_instantiate_once/line_trainer.cpp
#   ... separate           the same with ASGD_SEPARATE_COMPILATION (as the example builds it)
#   asgd_src.cpp           <asgd/src.hpp>: the non-template functions, compiled once
#   headers only           the three fine-grained headers, nothing used
#   fine-grained, precompiled  fine-grained + trainer (and ... separate) with those three
#                          headers precompiled (CMake's target_precompile_headers); the
#                          precompiled header is built first with the same flags, not counted
#
#   scripts/compile-time.sh [runs]        CXX and CXXFLAGS (default -O3 -DNDEBUG, CMake's Release) apply
#   scripts/compile-time.sh --instructions
#
# Run it on a quiet machine: the figures are CPU time, but two compilers on two cores share caches.
# With --instructions it counts, once per TU, the instructions the compiler executes (valgrind's
# cachegrind without its cache model, about 30x slower): two runs gave the same count to six
# digits, where the CPU time of this script's VMs drifts 1.3-2x within a day, so a change of a few
# percent shows.
set -euo pipefail
cd "$(dirname "$0")/.."
instructions=false
if [[ ${1:-} == --instructions ]]; then
  instructions=true
  command -v valgrind >/dev/null || {
    echo "compile-time.sh: --instructions needs valgrind (apt-get install valgrind)" >&2
    exit 1
  }
  set -- 1
fi
runs=${1:-3}
cxx=${CXX:-c++}
flags=(-std=c++20 ${CXXFLAGS:--O3 -DNDEBUG} -Iinclude -isystem /usr/include/eigen3)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cp examples/06_instantiate_once/*.{hpp,cpp} "$tmp/"
mkdir "$tmp/implicit"
cp examples/06_instantiate_once/main.cpp "$tmp/implicit/"
grep -v '^extern template' examples/06_instantiate_once/line_trainer.hpp >"$tmp/implicit/line_trainer.hpp"
cmp -s examples/06_instantiate_once/line_trainer.hpp "$tmp/implicit/line_trainer.hpp" && {
  echo "compile-time.sh: line_trainer.hpp has no 'extern template' line to remove" >&2
  exit 1
}
printf '#include <asgd/consistency/leashed.hpp>\n#include <asgd/trainer.hpp>\n#include <asgd/update/momentum.hpp>\n' \
  >"$tmp/headers.cpp"
# The precompiled headers: GCC finds NAME.gch, Clang NAME.pch, beside a header that -include names.
pch_ext=gch
$cxx --version | grep -qi clang && pch_ext=pch
for mode in header_only separate; do
  mkdir "$tmp/pch_$mode"
  cp "$tmp/headers.cpp" "$tmp/pch_$mode/asgd_pch.hpp"
  define=()
  [[ $mode == separate ]] && define=(-DASGD_SEPARATE_COMPILATION)
  "$cxx" "${flags[@]}" "${define[@]}" -x c++-header "$tmp/pch_$mode/asgd_pch.hpp" -o "$tmp/pch_$mode/asgd_pch.hpp.$pch_ext"
done

# One compile: prints "cpu_seconds peak_kib", read from the child's rusage.
measure() {
  python3 - "$@" <<'EOF'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.2f} {r.ru_maxrss}")
EOF
}

# One compile under cachegrind: prints the instructions of the driver and its children (cc1plus, as).
count() {
  valgrind --tool=cachegrind --cache-sim=no --trace-children=yes --cachegrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    awk '/I *refs/ { gsub(",", "", $NF); n += $NF } END { print n }'
}

row() {  # row NAME SOURCE [FLAG...]
  local name=$1 source=$2 cpu=() mem=() i out
  shift 2
  if $instructions; then
    out=$(count "$cxx" "${flags[@]}" "$@" -c "$source" -o "$tmp/out.o")
    printf '%-26s %8.2fe9 instructions\n' "$name" "$(python3 -c "print($out / 1e9)")"
    return
  fi
  for ((i = 0; i < runs; i++)); do
    out=$(measure "$cxx" "${flags[@]}" "$@" -c "$source" -o "$tmp/out.o")
    cpu+=("${out% *}")
    mem+=("${out#* }")
  done
  python3 - "$name" "${cpu[*]}" "${mem[*]}" <<'EOF'
import statistics, sys
cpu = [float(x) for x in sys.argv[2].split()]
mem = [int(x) for x in sys.argv[3].split()]
print(f"{sys.argv[1]:<26} {statistics.median(cpu):7.2f} s  ({min(cpu):.2f}-{max(cpu):.2f})  {statistics.median(mem) / 1024:6.0f} MiB")
EOF
}

if $instructions; then
  echo "$($cxx --version | head -1); flags: ${flags[*]}; instructions executed, one run each"
else
  echo "$($cxx --version | head -1); flags: ${flags[*]}; median of $runs runs (min-max)"
  printf '%-26s %9s  %11s  %10s\n' "translation unit" "CPU" "" "peak memory"
fi
row "umbrella + trainer" examples/01_minimal.cpp
row "fine-grained + trainer" "$tmp/implicit/main.cpp"
row "... separate" "$tmp/implicit/main.cpp" -DASGD_SEPARATE_COMPILATION
row "fine-grained, extern" "$tmp/main.cpp"
row "the instantiating TU" "$tmp/line_trainer.cpp"
row "... separate" "$tmp/line_trainer.cpp" -DASGD_SEPARATE_COMPILATION
row "asgd_src.cpp" "$tmp/asgd_src.cpp" -DASGD_SEPARATE_COMPILATION
row "headers only" "$tmp/headers.cpp"
# -Werror=invalid-pch: a precompiled header that does not fit fails the run instead of being
# skipped in silence.
row "fine-grained, precompiled" "$tmp/implicit/main.cpp" -Werror=invalid-pch -include "$tmp/pch_header_only/asgd_pch.hpp"
row "... separate, precompiled" "$tmp/implicit/main.cpp" -DASGD_SEPARATE_COMPILATION -Werror=invalid-pch \
  -include "$tmp/pch_separate/asgd_pch.hpp"
