#pragma once
// Shared by asgd's benchmarks: a console reporter that also keeps every run's counters, and a
// registry of summary printers that turn them into ratio tables after the runs.

#include <asgd/version.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace asgd_bench {

/// A benchmark's fixed iteration count, or 1 in a smoke run (ASGD_BENCH_SMOKE set, as the test
/// run's bench:* tests do): they check that it runs and reports, and the measurement loops
/// (7 MLP trainings, 2,000 MPI rounds) made them the slowest tests of the run.
inline benchmark::IterationCount iterations(benchmark::IterationCount n) {
  return std::getenv("ASGD_BENCH_SMOKE") != nullptr ? 1 : n;
}

/// The median of a benchmark's repetitions (the upper one for an even count).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Records what the figures belong to: asgd's version and git hash, the compiler, the cores, the
/// optimisation. ASGD_GIT, ASGD_COMPILER and ASGD_BENCH_OPTIMIZATION come from
/// bench/CMakeLists.txt; a build at another level than -O3 (the test suite's, for its smoke
/// runs) says on every run that its timings are not the library's.
inline void add_context() {
  benchmark::AddCustomContext("asgd_version", std::string(asgd::version_string));
  benchmark::AddCustomContext("git", ASGD_GIT);
  benchmark::AddCustomContext("compiler", ASGD_COMPILER);
  benchmark::AddCustomContext("hardware_threads", std::to_string(std::thread::hardware_concurrency()));
#ifdef ASGD_BENCH_OPTIMIZATION
  benchmark::AddCustomContext("optimization", ASGD_BENCH_OPTIMIZATION);
  if (std::string(ASGD_BENCH_OPTIMIZATION) != "-O3") {
    std::fprintf(stderr,
                 "***WARNING*** this benchmark was built at %s (ASGD_BENCH_OPTIMIZATION, the test suite's level for "
                 "its smoke runs): its timings are not the library's. Configure with "
                 "-DASGD_BENCH_OPTIMIZATION=-O3 for figures.\n",
                 ASGD_BENCH_OPTIMIZATION);
  }
#endif
}

/// Prints as the console reporter does and remembers each run's name and counters.
class recorder : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      auto& entry = results[r.benchmark_name()];
      for (const auto& [k, c] : r.counters) entry[k] = c.value;
      entry["real_time_ns"] = r.GetAdjustedRealTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, std::map<std::string, double>> results;
};

using summary = std::function<void(const recorder&)>;

inline std::vector<summary>& summaries() {
  static std::vector<summary> s;
  return s;
}

/// Registers a summary printed after all benchmarks ran.
inline bool add_summary(summary s) {
  summaries().push_back(std::move(s));
  return true;
}

inline void print_summaries(const recorder& r) {
  for (const auto& s : summaries()) s(r);
}

/// A benchmark program's main after its own checks: runs the registered benchmarks (with
/// Google Benchmark's command line) and prints the summaries.
inline int run_benchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  recorder reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summaries(reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace asgd_bench
