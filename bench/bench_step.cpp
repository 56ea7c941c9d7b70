// The trainer's own cost per step: everything around the gradient and the update (claiming a
// step, sampling the batch, choosing the block, statistics, loss bins), measured on a problem
// whose gradient and update cost almost nothing, against the same gradient and update called
// in a plain loop. Per mode, one and two workers, interleaved in one process. And what recording
// the run's interleaving adds to such a step.

#include "bench_support.hpp"

#include <asgd/asgd.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace {

// Eight parameters, a gradient of zeros: a step is nothing but the trainer's bookkeeping and a
// store's read and apply of eight floats.
struct idle_problem {
  static constexpr std::string_view name = "idle";
  [[nodiscard]] std::size_t dimension() const { return 8; }
  [[nodiscard]] std::size_t num_samples() const { return 1024; }
  float gradient(std::span<const float>, asgd::batch_view, std::span<float> g) const {
    std::fill(g.begin(), g.end(), 0.0f);
    return 0.0f;
  }
};

constexpr std::size_t steps = 1u << 21;

template <class Mode>
double trainer_ns_per_step(std::size_t threads) {
  asgd::trainer<idle_problem, Mode> t{idle_problem{}, {.threads = threads, .steps = steps, .batch = 1, .lr = 0.01f}};
  const auto r = t.run();
  return 1e9 * (r.wall_seconds - r.pause_seconds) / static_cast<double>(steps);
}

// The calibration: the same gradient and an SGD update of the eight floats in a plain loop.
double plain_ns_per_step() {
  idle_problem p;
  std::vector<float> x(8, 0.0f), g(8);
  const std::size_t batch_index[1] = {0};
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < steps; ++k) {
    p.gradient(x, asgd::batch_view(batch_index), g);
    benchmark::ClobberMemory();  // the compiler may not drop the update of a known-zero gradient
    for (std::size_t i = 0; i < 8; ++i) x[i] -= 0.01f * g[i];
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  return 1e9 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(steps);
}

template <class Mode>
void bm_step_overhead(benchmark::State& state) {
  std::vector<double> plain, one, two;
  for (auto _ : state) {  // interleaved: plain, 1 worker, 2 workers
    plain.push_back(plain_ns_per_step());
    one.push_back(trainer_ns_per_step<Mode>(1));
    if constexpr (Mode::max_workers > 1) two.push_back(trainer_ns_per_step<Mode>(2));
  }
  auto& c = state.counters;
  c["plain ns/step"] = asgd_bench::median(plain);
  c["1T ns/step"] = asgd_bench::median(one);
  c["1T overhead ns"] = asgd_bench::median(one) - asgd_bench::median(plain);
  if (!two.empty()) {
    c["2T ns/step"] = asgd_bench::median(two);
    c["2T min ns/step"] = *std::min_element(two.begin(), two.end());
  }
}

// What a recording (trainer::record) adds to a step that is nothing but bookkeeping: the worst
// case, against the same mode unrecorded, interleaved, 2 workers.
template <class Mode>
void bm_recording_overhead(benchmark::State& state) {
  constexpr std::size_t recorded_steps = std::size_t{1} << 18;  // the recording stays in memory
  auto ns = [&](bool record) {
    asgd::trainer<idle_problem, Mode> t{idle_problem{},
                                        {.threads = 2, .steps = recorded_steps, .batch = 1, .lr = 0.01f}};
    asgd::sim::recording rec;
    if (record) t.record(&rec);
    const auto r = t.run();
    return 1e9 * (r.wall_seconds - r.pause_seconds) / static_cast<double>(recorded_steps);
  };
  std::vector<double> plain, recorded;
  for (auto _ : state) {
    plain.push_back(ns(false));
    recorded.push_back(ns(true));
  }
  state.counters["2T ns/step"] = asgd_bench::median(plain);
  state.counters["2T recorded ns/step"] = asgd_bench::median(recorded);
  state.counters["recording ns/step"] = asgd_bench::median(recorded) - asgd_bench::median(plain);
}

// Five measurements of each mode (one in a smoke run).
const benchmark::IterationCount runs = asgd_bench::iterations(5);
BENCHMARK(bm_step_overhead<asgd::consistency::sequential>)->Iterations(runs)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(bm_step_overhead<asgd::consistency::hogwild>)->Iterations(runs)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(bm_step_overhead<asgd::consistency::locked>)->Iterations(runs)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(bm_step_overhead<asgd::consistency::leashed>)->Iterations(runs)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(bm_recording_overhead<asgd::consistency::locked>)->Iterations(runs)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(bm_recording_overhead<asgd::consistency::leashed>)->Iterations(runs)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
