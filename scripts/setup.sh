#!/usr/bin/env bash
# Installs every Debian package asgd needs to build, test and benchmark. Idempotent: packages that are
# already installed are skipped, so the README's commands can call it on every run.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config   # toolchain
  libeigen3-dev                                  # asgd::asgd dependency (dense math)
  doctest-dev libbenchmark-dev                   # tests and benchmarks
  zlib1g-dev libdeflate-dev                      # gzip for IDX files (libdeflate: asgd-train's fast path)
  libopenmpi-dev openmpi-bin                     # asgd::mpi, the MPI transport, and mpirun for its tests
  dataset-fashion-mnist                          # the real data (/usr/share/datasets/fashion-mnist)
  python3-matplotlib                             # the reproduction plots (experiments/)
  clang libclang-rt-14-dev                       # second compiler; sanitizer runtimes and libFuzzer for clang
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
