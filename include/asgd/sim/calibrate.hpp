#pragma once
/// @file
/// Measuring the machine the program runs on into a `sim::cost_model`: the store operations'
/// costs (`calibrate_machine`) and a problem's gradient (`calibrate_gradient`).
///
/// Part of the deterministic simulator, which is in progress (docs/simulation.md). Figures from
/// a busy or virtual machine drift (1.5-3x on the development VM): calibrate on a quiet machine,
/// and keep the model in a file (`to_text`) so that simulations compare against one model.

#include <asgd/concepts.hpp>
#include <asgd/detail/config.hpp>
#include <asgd/sim/cost_model.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::sim {

/// What calibration measures with.
struct calibration_settings {
  // The copy and the update run over this many floats: the simulated model's size (the default
  // is the Fashion-MNIST MLP's), since a model in cache copies several times faster than one in
  // memory (170 against 35-40 GB/s on the development machine).
  std::size_t model_floats = 101770;
  std::size_t repeats = 7;                          // each figure: the median of this many runs
};

/// Measures this machine's copy and update bandwidths over `model_floats` floats, a
/// lock-prefixed read-modify-write, a std::mutex lock and unlock (with a second thread alive,
/// so that the C library takes its multi-threaded path) and a cache-line hand-over between two
/// threads (half a ping-pong's round trip). The gradient, the link and the slow node keep
/// cost_model::machine()'s values: calibrate_gradient measures a problem's.
/// @throws std::invalid_argument for 0 floats or 0 repeats
ASGD_DECL cost_model calibrate_machine(const calibration_settings& s = {});

/// Measures `p`'s dense gradient at `batch` samples on the model `x` (its dimension() floats):
/// `calls` calls after one warm-up; the duration's median is the median time per sample and its
/// sigma the spread of the logarithms of the calls' times (a lognormal fitted to them).
/// @throws std::invalid_argument for 0 calls, a batch of 0 or past num_samples(), or a model of
/// the wrong size
template <problem P>
duration calibrate_gradient(P& p, std::span<const float> x, std::size_t batch, std::size_t calls = 31) {
  const auto dim = static_cast<std::size_t>(p.dimension());
  const auto samples = static_cast<std::size_t>(p.num_samples());
  if (calls == 0) throw std::invalid_argument("asgd: sim::calibrate_gradient: calls must be at least 1");
  if (batch == 0 || batch > samples) {
    throw std::invalid_argument("asgd: sim::calibrate_gradient: batch " + std::to_string(batch) + " must be in [1, " +
                                std::to_string(samples) + "], the problem's samples");
  }
  if (x.size() != dim) {
    throw std::invalid_argument("asgd: sim::calibrate_gradient: the model has " + std::to_string(x.size()) +
                                " floats, the problem's dimension() is " + std::to_string(dim));
  }
  std::vector<float> g(dim);
  std::vector<std::size_t> rows(batch);
  std::vector<double> logs;
  logs.reserve(calls);
  for (std::size_t c = 0; c <= calls; ++c) {  // call 0 warms caches up and is not counted
    for (std::size_t k = 0; k < batch; ++k) rows[k] = (c * batch + k) % samples;
    const auto t0 = std::chrono::steady_clock::now();
    (void)p.gradient(x, batch_view(rows), std::span<float>(g));
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (c > 0) logs.push_back(std::log(std::max(t, 1e-12) / static_cast<double>(batch)));
  }
  std::vector<double> sorted = logs;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  const double mean = std::accumulate(logs.begin(), logs.end(), 0.0) / static_cast<double>(logs.size());
  double var = 0.0;
  for (double l : logs) var += (l - mean) * (l - mean);
  const double sigma = logs.size() > 1 ? std::sqrt(var / static_cast<double>(logs.size() - 1)) : 0.0;
  return {std::exp(median), std::min(sigma, 4.0)};
}

}  // namespace asgd::inline v0::sim

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/calibrate.ipp>
#endif
