// The benchmarks' main: records the context (asgd version, git hash, compiler, cores), runs the
// registered benchmarks, and prints each benchmark file's summary table (ratios computed from
// numbers measured in this same process; see bench_support.hpp).
#include "bench_support.hpp"

#include <asgd/version.hpp>

#include <benchmark/benchmark.h>

#include <thread>

int main(int argc, char** argv) {
  benchmark::AddCustomContext("asgd_version", std::string(asgd::version_string));
  benchmark::AddCustomContext("git", ASGD_GIT);
  benchmark::AddCustomContext("compiler", ASGD_COMPILER);
  benchmark::AddCustomContext("hardware_threads", std::to_string(std::thread::hardware_concurrency()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  asgd_bench::recorder reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  asgd_bench::print_summaries(reporter);
  benchmark::Shutdown();
  return 0;
}
