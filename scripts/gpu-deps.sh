#!/usr/bin/env bash
# Fills .gpu-deps/ with the Debian packages scripts/gpu-check.sh needs on a GPU machine that has
# CUDA, CMake and a compiler but cannot fetch anything (Eigen, doctest, Google Benchmark, zlib,
# libdeflate, Open MPI and its libraries, Fashion-MNIST): about 42 MB of .deb files, unpacked
# there under /tmp, never into /. Run it here (apt-get download needs no root), then hand the
# folder over with the working tree (for the device tool: carry [".gpu-deps"]).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/.gpu-deps
packages=(
  libeigen3-dev doctest-dev libbenchmark-dev libbenchmark1debian zlib1g zlib1g-dev libdeflate-dev libdeflate0
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libhwloc15 libhwloc-plugins libevent-core-2.1-7
  libevent-pthreads-2.1-7 libpmix2 libfabric1 libucx0 libibverbs1 librdmacm1 libpsm2-2 libpsm-infinipath1
  libnl-3-200 libnl-route-3-200 libnuma1 libmunge2 libltdl7
  dataset-fashion-mnist
)
mkdir -p "$dir"
rm -f "$dir"/*.deb
# apt-get download writes into the current folder; as root it warns that _apt cannot write there.
(cd "$dir" && apt-get download "${packages[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
count=$(find "$dir" -name '*.deb' | wc -l)
if [ "$count" -ne "${#packages[@]}" ]; then
  echo "gpu-deps: got $count of ${#packages[@]} packages in $dir (apt-get update first?)" >&2
  exit 1
fi
echo "gpu-deps: ${#packages[@]} packages, $(du -sh "$dir" | cut -f1), in $dir"
