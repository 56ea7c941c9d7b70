#pragma once
/// @file
/// Local asynchrony on one GPU (the ICDCS 2024 LAP-SGD node): W workers, each a host thread
/// with its own CUDA stream and cuBLAS handle, compute minibatch gradients of an MLP on one
/// shared device model and apply them with a device store's mode (<asgd/cuda/store.cuh>) and a
/// host block selector (`asgd::select::*`, the same policies the host trainer takes). A
/// conflict counter records how often two workers' writes to overlapping ranges were in flight
/// at once.
///
/// A worker's step: read the model; select a range; compute the gradient of the layers the
/// range touches (partial back-propagation); apply the range's part; wait for its stream.
/// Waiting per step bounds each worker to one write in flight, which is what the conflict
/// counter measures; the W streams still overlap one another on the device.
///
/// A node of several GPUs (one per MPI rank) trains on its shard of the samples and passes an
/// averager (<asgd/cuda/averager.cuh>'s `device_averager`): every `average_every` steps of the
/// node, a thread of its own runs a round on the averager's stream while the workers go on.
/// It measures the consensus distance after every `consensus_every` rounds and once at the end,
/// before the final average, as the host trainer does.

#include <asgd/concepts.hpp>
#include <asgd/cuda/averaging_math.hpp>
#include <asgd/cuda/conflicts.hpp>
#include <asgd/cuda/mlp.cuh>
#include <asgd/cuda/store.cuh>
#include <asgd/random.hpp>
#include <asgd/report.hpp>
#include <asgd/schedule.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <latch>
#include <limits>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace asgd::inline v0::cuda {

struct local_async_settings {
  std::size_t workers = 4;  ///< concurrent workers (streams) on the GPU
  double epochs = 1.0;      ///< passes over the node's samples, shared by the workers (with
                            ///< several nodes: over the smallest shard, the same steps on all)
  std::uint64_t steps = 0;  ///< minibatches in total instead of epochs (when not 0)
  std::size_t batch = 16;   ///< samples per minibatch
  float lr = 0.01f;         ///< base learning rate
  schedule lr_schedule = schedule::constant();  ///< lr * factor(epoch); cosine's 0 epochs = the run's
  std::uint64_t seed = 1;   ///< sampling and selector seeds
  std::size_t node = 0;     ///< this node (GPU) of `nodes`: it samples from its shard of the
  std::size_t nodes = 1;    ///< training set, node * size / nodes up to (node + 1) * size / nodes
  std::size_t average_every = 8;  ///< node steps between averaging rounds (with an averager)
  bool final_average = true;      ///< with an averager: the exact mean of all nodes at the end
  std::size_t consensus_every = 0;  ///< with an averager: rounds between consensus-distance
                                    ///< measurements (0: only at the end)
};

struct local_async_result {
  std::vector<float> model;          ///< the final model, on the host
  std::uint64_t steps = 0;           ///< minibatch steps taken by all workers
  std::uint64_t dropped = 0;         ///< gradients dropped (versioned mode with finite persistence)
  std::uint64_t conflicts = 0;       ///< writes that began while an overlapping write was in flight
  std::uint64_t staleness_sum = 0;   ///< sum of every applied update's staleness
  double seconds = 0.0;              ///< wall time of the workers, from when all had set up
  std::uint64_t rounds = 0;          ///< averaging rounds (with an averager)
  std::vector<consensus_point> consensus;  ///< with an averager: during the run (consensus_every)
  double final_consensus_distance = 0.0;   ///< with an averager: after the last step, before the final average
  float last_loss = 0.0f;            ///< worker 0's last minibatch loss (NaN if it took no step)
  [[nodiscard]] double samples_per_second(std::size_t batch) const {
    return seconds > 0.0 ? static_cast<double>(steps * batch) / seconds : 0.0;
  }
};

/// The averager of a lone GPU: no rounds.
struct no_averaging {
  template <class Mode>
  void round(device_store<Mode>& /*store*/, device_worker& /*w*/, std::uint64_t /*round*/) {}
  template <class Mode>
  double consensus_distance(device_store<Mode>& /*store*/, device_worker& /*w*/) {
    return 0.0;
  }
  template <class Mode>
  double average_all(device_store<Mode>& /*store*/, device_worker& /*w*/) {
    return 0.0;
  }
};

/// Trains the MLP `m` on `train` from `initial` with W workers on the calling thread's current
/// CUDA device (each worker and the averager select it on their threads).
/// `blocks` is the network's block layout (what the selector chooses among). With an
/// `averager` other than `no_averaging`, this is one node of several: every node must call it
/// with the same settings but `node` (rounds are collectives).
/// @throws std::invalid_argument for bad settings; cuda_error and friends from the device,
/// rethrown on the calling thread after every worker stopped.
template <class Mode, block_selector Selector, class Rule, class Averager = no_averaging>
local_async_result train_local_async(const mlp_layout& m, const data::image_set& train, std::span<const float> initial,
                                     const Mode& mode, const Selector& selector, const Rule& rule,
                                     const block_layout& blocks, const local_async_settings& s,
                                     Averager&& averager = {}) {
  constexpr bool averaging = !std::is_same_v<std::remove_cvref_t<Averager>, no_averaging>;
  if (s.workers == 0 || s.batch == 0 || !(s.epochs > 0.0) || !(s.lr > 0.0f)) {
    throw std::invalid_argument("asgd: cuda::train_local_async: workers, batch, epochs and lr must be positive");
  }
  if (s.nodes == 0 || s.node >= s.nodes) {
    throw std::invalid_argument("asgd: cuda::train_local_async: node " + std::to_string(s.node) + " of " +
                                std::to_string(s.nodes) + " nodes");
  }
  if (averaging && s.average_every == 0) {
    throw std::invalid_argument("asgd: cuda::train_local_async: average_every must be at least 1");
  }
  const std::size_t shard_begin = s.node * train.size() / s.nodes;
  const std::size_t shard = (s.node + 1) * train.size() / s.nodes - shard_begin;
  if (s.batch > shard) {
    throw std::invalid_argument("asgd: cuda::train_local_async: the batch of " + std::to_string(s.batch) +
                                " exceeds node " + std::to_string(s.node) + "'s " + std::to_string(shard) +
                                " samples");
  }
  if (initial.size() != m.dimension) {
    throw std::invalid_argument("asgd: cuda::train_local_async: the initial model has " + std::to_string(initial.size()) +
                                " coordinates, the MLP " + std::to_string(m.dimension));
  }
  // The calling thread's device: every thread below selects it before touching CUDA, since the
  // current device is per host thread (0 unless set).
  int device = 0;
  check("cudaGetDevice", cudaGetDevice(&device));
  const auto math = device_math(rule);
  const device_images images(train);
  device_store<Mode> store(mode, s.workers + (averaging ? 1 : 0), initial);  // the averager writes too
  conflict_counter conflicts(s.workers);
  // From the smallest shard on every node, so that all nodes run the same rounds.
  const node_schedule plan =
      schedule_nodes(train.size(), s.nodes, s.epochs, s.steps, s.batch, averaging ? s.average_every : 0);
  const std::uint64_t total_steps = plan.steps;
  const std::uint64_t rounds = plan.rounds;
  std::atomic<std::uint64_t> next_step{0}, done_steps{0}, dropped{0}, staleness{0};
  std::atomic<bool> stop{false};
  std::exception_ptr failure;
  std::mutex failure_lock;
  float last_loss = std::numeric_limits<float>::quiet_NaN();
  schedule lr_schedule = s.lr_schedule;
  if (lr_schedule.total_epochs == 0.0) {
    lr_schedule.total_epochs = static_cast<double>(total_steps * s.batch) / static_cast<double>(shard);
  }
  lr_schedule.validate();

  // The clock starts once every worker has set up (stream, cuBLAS handle, buffers): setting up
  // costs each worker alike, so counting it would skew samples/s against fewer workers.
  std::latch ready(static_cast<std::ptrdiff_t>(s.workers) + 1);
  const auto work = [&](std::size_t w) {
    cudaStream_t stream = nullptr;
    bool arrived = false;
    try {
      check("cudaSetDevice (worker)", cudaSetDevice(device));
      check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
      mlp_gradient grad(m, images, s.batch, stream);
      auto worker = store.make_worker(math);
      auto state = selector.make_state({blocks, m.dimension, w, s.workers, s.seed});
      rng gen(s.seed, 0x600d + w + (std::uint64_t{s.node} << 32));
      std::vector<std::uint32_t> batch(s.batch);
      arrived = true;
      ready.arrive_and_wait();
      std::uint64_t local = 0;
      for (;; ++local) {
        const std::uint64_t step = next_step.fetch_add(1, std::memory_order_relaxed);
        if (step >= total_steps) break;
        for (auto& i : batch) i = static_cast<std::uint32_t>(shard_begin + gen.below(shard));
        const double epoch = static_cast<double>(step * s.batch) / static_cast<double>(shard);
        const param_range r = selector.select(state, {step, epoch, local});
        const auto lr = [rate = s.lr * static_cast<float>(lr_schedule.factor(epoch))](std::uint64_t) { return rate; };
        auto view = store.read(worker);
        const float* g = grad.compute(view.values, batch, r);
        (void)conflicts.begin(w, r);
        const apply_result a = store.apply(worker, view, math, r.begin, g + r.begin, r.size(), lr, stream);
        check("cudaStreamSynchronize (step)", cudaStreamSynchronize(stream));
        conflicts.end(w);
        if (a.applied) {
          staleness.fetch_add(a.staleness, std::memory_order_relaxed);
        } else {
          dropped.fetch_add(1, std::memory_order_relaxed);
        }
        if (averaging && (done_steps.fetch_add(1, std::memory_order_release) + 1) % s.average_every == 0) {
          done_steps.notify_all();
        }
      }
      if (w == 0 && local > 0) last_loss = grad.loss();  // no step, no loss (NaN)
      store.finish(worker);
    } catch (...) {
      if (!arrived) ready.count_down();  // failed while setting up: the others must not wait for it
      const std::lock_guard lock(failure_lock);
      if (!failure) failure = std::current_exception();
      next_step.store(total_steps, std::memory_order_relaxed);  // the others stop at their next step
      stop.store(true);
      done_steps.fetch_add(1);
      done_steps.notify_all();
    }
    if (stream != nullptr) cudaStreamDestroy(stream);
  };

  // The averager's thread: round r starts once the node took (r + 1) H steps.
  auto averager_worker = store.make_worker(sgd_math{});
  std::vector<consensus_point> consensus;  // the averager thread's, read after it joined
  const auto average = [&] {
    if constexpr (averaging) {
      try {
        check("cudaSetDevice (averager)", cudaSetDevice(device));
        for (std::uint64_t r = 0; r < rounds; ++r) {
          const std::uint64_t target = (r + 1) * s.average_every;
          for (std::uint64_t seen = done_steps.load(std::memory_order_acquire); seen < target && !stop.load();
               seen = done_steps.load(std::memory_order_acquire)) {
            done_steps.wait(seen);
          }
          if (stop.load()) return;
          averager.round(store, averager_worker, r);
          if (s.consensus_every > 0 && (r + 1) % s.consensus_every == 0) {
            consensus.push_back({r + 1, averager.consensus_distance(store, averager_worker)});
          }
        }
      } catch (...) {
        const std::lock_guard lock(failure_lock);
        if (!failure) failure = std::current_exception();
        next_step.store(total_steps, std::memory_order_relaxed);
      }
    }
  };

  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < s.workers; ++w) threads.emplace_back(work, w);
  if constexpr (averaging) threads.emplace_back(average);
  ready.arrive_and_wait();
  const auto start = std::chrono::steady_clock::now();
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
  double final_distance = 0.0;
  if constexpr (averaging) {
    final_distance = s.final_average ? averager.average_all(store, averager_worker)
                                     : averager.consensus_distance(store, averager_worker);
  }
  store.finish(averager_worker);
  const auto finish = std::chrono::steady_clock::now();

  local_async_result r;
  r.model = store.download();
  r.steps = total_steps;
  r.dropped = dropped.load();
  r.conflicts = conflicts.total();
  r.staleness_sum = staleness.load();
  r.rounds = rounds;
  r.consensus = std::move(consensus);
  r.final_consensus_distance = final_distance;
  r.seconds = std::chrono::duration<double>(finish - start).count();
  r.last_loss = last_loss;
  return r;
}

}  // namespace asgd::inline v0::cuda
