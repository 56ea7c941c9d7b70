#pragma once
/// @file
/// Measuring the machine the program runs on into a `sim::cost_model`: the store operations'
/// costs (`calibrate_machine`), a problem's gradient (`calibrate_gradient`) and evaluation
/// (`calibrate_evaluation`), an update rule's update (`calibrate_update`) and a quantizer's coding
/// (`calibrate_quantizer`).
///
/// Part of the deterministic simulator, which is in progress (docs/simulation.md). Figures from
/// a busy or virtual machine drift (1.5-3x on the development VM): calibrate on a quiet machine,
/// and keep the model in a file (`to_text`) so that simulations compare against one model.

#include <asgd/concepts.hpp>
#include <asgd/detail/config.hpp>
#include <asgd/detail/step.hpp>
#include <asgd/random.hpp>
#include <asgd/sim/cost_model.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <exception>
#include <numeric>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
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

/// Measures this machine's copy and update bandwidths over `model_floats` floats, the copy of
/// such a model that another thread has just written (shared_copy_bandwidth), the rewrite of
/// one that another thread has just read (shared_write_bandwidth: what that costs more), a
/// streamed write of such a model and the other thread's copy of it (stream_write_bandwidth and
/// stream_read_bandwidth; both 0 in a build without streaming stores), a
/// lock-prefixed read-modify-write, a lock and unlock of the library's lock (detail::word_lock,
/// with a second thread alive as in a run), a cache-line hand-over between two
/// threads (half a ping-pong's round trip), a wake-up through a condition variable (half a
/// round trip of two sleeping threads) with the CPU time it takes (the process's, over the same
/// round trips) and the overshoot of a 100 us sleep. The gradient, the
/// link, the quantizer's coding and the slow node keep cost_model::machine()'s values:
/// calibrate_gradient measures a problem's, calibrate_update an update rule's,
/// calibrate_quantizer a quantizer's.
/// @throws std::invalid_argument for 0 floats or 0 repeats
ASGD_DECL cost_model calibrate_machine(const calibration_settings& s = {});

/// How a store writes a dense update (calibrate_update times each).
enum class update_path {
  plain,  ///< plain loads and stores: under a lock, or a lone worker (no other thread at the model)
  solo,   ///< racy stores, in place: one worker beside an averager or a reader (HOGWILD!'s store)
  shared  ///< racy loads and checked racy stores, each new value written to a private copy too:
          ///< several workers at one model (HOGWILD!, bounded staleness)
};

/// Measures `rule`'s dense update over `dimension` coordinates as a store writes it
/// (detail::step_dense along `path`), the median of `repeats` updates, as
/// cost_model::update_bandwidth: the 12 bytes a coordinate that the simulator charges, per
/// second of the time measured. A rule with state (momentum, Adam) moves more than those 12
/// bytes, and the racy paths run in blocks through registers (`shared` writes the private copy
/// too), so their figures are below calibrate_machine's plain x -= lr g.
/// @throws std::invalid_argument for a dimension or repeats of 0
template <update_rule U>
double calibrate_update(const U& rule, std::size_t dimension, update_path path, std::size_t repeats = 7) {
  if (dimension == 0 || repeats == 0) {
    throw std::invalid_argument("asgd: sim::calibrate_update: dimension and repeats must be at least 1");
  }
  typename U::state state = rule.make_state(dimension);
  std::vector<float> x(dimension, 0.5f), g(dimension, 1e-3f), copy(path == update_path::shared ? dimension : 0);
  auto dir = [&rule, &state](std::size_t i, float gi, float xi) { return rule.direction(state, i, gi, xi); };
  const param_range all{0, dimension};
  std::vector<double> t(repeats + 1);  // the first, which warms the caches, is dropped
  for (double& seconds : t) {
    const auto t0 = std::chrono::steady_clock::now();
    switch (path) {
      case update_path::plain:
        detail::step_dense<detail::write_kind::plain>(x.data(), all, g, dir, 1e-3f);
        break;
      case update_path::solo:
        detail::step_dense<detail::write_kind::racy>(x.data(), all, g, dir, 1e-3f, nullptr,
                                                     detail::other_writers::none);
        break;
      case update_path::shared:
        detail::step_dense<detail::write_kind::racy>(x.data(), all, g, dir, 1e-3f, copy.data());
        break;
    }
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  t.erase(t.begin());
  std::sort(t.begin(), t.end());
  return 12.0 * static_cast<double>(dimension) / std::max(t[t.size() / 2], 1e-12);
}

/// A quantizer's coding, seconds per coordinate (cost_model::encode_seconds, decode_seconds).
struct coding_seconds {
  double encode = 0.0;
  double decode = 0.0;
};

/// Measures `q` encoding a model of `dimension` floats and decoding it against a receiver's model
/// near it (values of a trained network's size, about 0.05, the receiver's 0.001 away: within a
/// lattice's window), the median of `repeats` each after a warm-up, per coordinate.
/// @throws std::invalid_argument for a dimension or repeats of 0
template <quantizer Q>
coding_seconds calibrate_quantizer(const Q& q, std::size_t dimension, std::size_t repeats = 7) {
  if (dimension == 0 || repeats == 0) {
    throw std::invalid_argument("asgd: sim::calibrate_quantizer: dimension and repeats must be at least 1");
  }
  rng g(0xC0DEu);
  std::vector<float> x(dimension), receiver(dimension), out(dimension);
  for (std::size_t i = 0; i < dimension; ++i) {
    x[i] = static_cast<float>(0.05 * g.normal());
    receiver[i] = x[i] + static_cast<float>(0.001 * g.normal());
  }
  std::vector<std::byte> bytes;
  std::vector<double> enc(repeats + 1), dec(repeats + 1);  // the first of each warms the caches
  for (std::size_t r = 0; r <= repeats; ++r) {
    bytes.clear();
    const auto t0 = std::chrono::steady_clock::now();
    q.encode(std::span<const float>(x), bytes, g);
    const auto t1 = std::chrono::steady_clock::now();
    q.decode(std::span<const std::byte>(bytes), std::span<const float>(receiver), std::span<float>(out));
    const auto t2 = std::chrono::steady_clock::now();
    enc[r] = std::chrono::duration<double>(t1 - t0).count();
    dec[r] = std::chrono::duration<double>(t2 - t1).count();
  }
  auto per_coordinate = [&](std::vector<double>& t) {
    t.erase(t.begin());
    std::sort(t.begin(), t.end());
    return t[t.size() / 2] / static_cast<double>(dimension);
  };
  return {per_coordinate(enc), per_coordinate(dec)};
}

/// Measures `p`'s dense gradient at `batch` samples on the model `x` (its dimension() floats):
/// `calls` calls after one warm-up; the duration's median is the median time per sample and its
/// sigma the spread of the logarithms of the calls' times (a lognormal fitted to them). As in a
/// run, each call's rows are drawn at random (a fixed seed), and between two calls an update
/// pass (momentum, a step too small to move the model) goes over a copy of `x` that the
/// gradients read, so the caches hold what a training step leaves in them: on the MLP at batch
/// 16 that measures 9% more than rows in order on a model left alone (5.2 against 4.8 us a
/// sample, 5 Dec 2026), as much as the gradient's share of a real sequential step.
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
  std::vector<float> model(x.begin(), x.end()), g(dim), velocity(dim);
  std::vector<std::size_t> rows(batch);
  std::vector<double> logs;
  logs.reserve(calls);
  rng draws(0xCA11u);
  for (std::size_t c = 0; c <= calls; ++c) {  // call 0 warms caches up and is not counted
    for (std::size_t k = 0; k < batch; ++k) {
      rows[k] = std::min(samples - 1, static_cast<std::size_t>(draws.uniform() * static_cast<double>(samples)));
    }
    const auto t0 = std::chrono::steady_clock::now();
    (void)p.gradient(std::span<const float>(model), batch_view(rows), std::span<float>(g));
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (c > 0) logs.push_back(std::log(std::max(t, 1e-12) / static_cast<double>(batch)));
    for (std::size_t i = 0; i < dim; ++i) {  // a step's update, untimed
      velocity[i] = 0.9f * velocity[i] + g[i];
      model[i] -= 1e-9f * velocity[i];
    }
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

/// Measures an evaluation of `p`'s test set on the model `x` (its dimension() floats): the
/// median of `calls` calls after one warm-up, in seconds (cost_model::evaluation_seconds).
/// @throws std::invalid_argument for 0 calls or a model of the wrong size
template <evaluable_problem P>
double calibrate_evaluation(const P& p, std::span<const float> x, std::size_t calls = 5) {
  if (calls == 0) throw std::invalid_argument("asgd: sim::calibrate_evaluation: calls must be at least 1");
  if (x.size() != static_cast<std::size_t>(p.dimension())) {
    throw std::invalid_argument("asgd: sim::calibrate_evaluation: the model has " + std::to_string(x.size()) +
                                " floats, the problem's dimension() is " + std::to_string(p.dimension()));
  }
  std::vector<double> times;
  for (std::size_t c = 0; c <= calls; ++c) {  // call 0 warms up (a network sizes its buffers) and is not counted
    const auto t0 = std::chrono::steady_clock::now();
    (void)p.evaluate(x);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (c > 0) times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// The CPUs this process may run on, in increasing order (its affinity mask, where the OS has
/// one: Linux), else one entry, -1: any CPU.
ASGD_DECL std::vector<int> usable_cpus();

/// Pins the calling thread to `cpu` (nothing for -1); false where the OS refuses.
ASGD_DECL bool pin_to_cpu(int cpu);

/// One lognormal duration for draws from several with equal weight (a gradient's time on each
/// core, as on_each_cpu measured it): the mean of their medians' logarithms for the median, and
/// for sigma the spread within each and between their medians together.
/// @throws std::invalid_argument for none
ASGD_DECL duration pooled(std::span<const duration> each);

/// `measure()` on a thread pinned to each of usable_cpus() in turn, never two at once; the
/// results in that order. The cores of a virtual machine can differ in speed by 15-20% for
/// minutes at a time (the development VM, 6 Dec 2026: a sample's gradient 4.4-5.0 us on one vCPU,
/// 5.4-5.8 on the other, then the other way round), and a run's threads land on any of them:
/// a figure measured on whichever core the caller is on is off by that much. Where a thread
/// cannot be pinned, `measure()` runs unpinned there. The time it takes grows with the cores.
/// Rethrows what `measure()` throws.
template <class F>
auto on_each_cpu(F&& measure) -> std::vector<std::invoke_result_t<F&>> {
  std::vector<std::invoke_result_t<F&>> results;
  for (const int cpu : usable_cpus()) {
    std::exception_ptr error;
    std::optional<std::invoke_result_t<F&>> result;
    std::thread t([&] {
      try {
        (void)pin_to_cpu(cpu);
        result.emplace(measure());
      } catch (...) {
        error = std::current_exception();
      }
    });
    t.join();
    if (error) std::rethrow_exception(error);
    results.push_back(std::move(*result));
  }
  return results;
}

}  // namespace asgd::inline v0::sim

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/calibrate.ipp>
#endif
