#pragma once
// Shared by bench_averaging (in-process nodes) and bench_averaging_mpi (a node per rank): the
// model sizes, memcpy of a model (the bound a round that reads every peer's model once cannot
// beat), and the summary table that sets each round's GB/s against memcpy's at the same size,
// both measured in the same process.

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace asgd_bench {

inline constexpr std::int64_t model_sizes[] = {10000, 100000, 1000000, 10000000};

/// memcpy of range(0) floats; counter GB/s (bytes written per second).
inline void bm_copy(benchmark::State& state) {
  const auto d = static_cast<std::size_t>(state.range(0));
  std::vector<float> a(d, 1.0f), b(d, 2.0f);
  for (auto _ : state) {
    std::memcpy(a.data(), b.data(), d * sizeof(float));
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] =
      benchmark::Counter(4.0 * static_cast<double>(d) * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}

/// The model size of a run named "family/<d>/...".
inline std::string model_size_in(const std::string& name) {
  const auto slash = name.find('/');
  return slash == std::string::npos ? std::string{} : name.substr(slash + 1, name.find('/', slash + 1) - slash - 1);
}

/// One line per run whose name starts with bm_round: its latency (the benchmark's time unit must
/// be microseconds), its GB/s counter, and that as a share of bm_copy's at the same size.
inline void print_round_table(const recorder& r, const char* title) {
  std::map<std::string, double> copy;
  for (const auto& [name, counters] : r.results)
    if (name.rfind("bm_copy/", 0) == 0) copy[model_size_in(name)] = counters.at("GB/s");
  std::printf("\n%-58s %12s %10s %10s\n", title, "latency [us]", "GB/s", "ratio to copy");
  for (const auto& [name, counters] : r.results) {
    if (name.rfind("bm_round", 0) != 0) continue;
    const auto c = copy.find(model_size_in(name));
    const double ratio = c == copy.end() ? 0.0 : counters.at("GB/s") / c->second;
    std::printf("%-58s %12.1f %10.2f %10.3f\n", name.c_str(), counters.at("real_time_ns"), counters.at("GB/s"), ratio);
  }
}

}  // namespace asgd_bench
