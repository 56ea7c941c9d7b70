// The benchmarks' main: records the context (asgd version, git hash, compiler, cores), runs the
// registered benchmarks, and prints each benchmark file's summary table (ratios computed from
// numbers measured in this same process; see bench_support.hpp).
#include "bench_support.hpp"

#include <benchmark/benchmark.h>

int main(int argc, char** argv) {
  asgd_bench::add_context();
  return asgd_bench::run_benchmarks(argc, argv);
}
