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

#include <asgd/concepts.hpp>
#include <asgd/cuda/conflicts.hpp>
#include <asgd/cuda/mlp.cuh>
#include <asgd/cuda/store.cuh>
#include <asgd/random.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace asgd::inline v0::cuda {

struct local_async_settings {
  std::size_t workers = 4;  ///< concurrent workers (streams) on the GPU
  double epochs = 1.0;      ///< passes over the training set, shared by the workers
  std::size_t batch = 16;   ///< samples per minibatch
  float lr = 0.01f;         ///< learning rate (constant)
  std::uint64_t seed = 1;   ///< sampling and selector seeds
};

struct local_async_result {
  std::vector<float> model;          ///< the final model, on the host
  std::uint64_t steps = 0;           ///< minibatch steps taken by all workers
  std::uint64_t dropped = 0;         ///< gradients dropped (versioned mode with finite persistence)
  std::uint64_t conflicts = 0;       ///< writes that began while an overlapping write was in flight
  std::uint64_t staleness_sum = 0;   ///< sum of every applied update's staleness
  double seconds = 0.0;              ///< wall time of the workers
  float last_loss = 0.0f;            ///< worker 0's last minibatch loss
  [[nodiscard]] double samples_per_second(std::size_t batch) const {
    return seconds > 0.0 ? static_cast<double>(steps * batch) / seconds : 0.0;
  }
};

/// Trains the MLP `m` on `train` from `initial` with W workers on the current CUDA device.
/// `blocks` is the network's block layout (what the selector chooses among).
/// @throws std::invalid_argument for bad settings; cuda_error and friends from the device,
/// rethrown on the calling thread after every worker stopped.
template <class Mode, block_selector Selector, class Rule>
local_async_result train_local_async(const mlp_layout& m, const data::image_set& train, std::span<const float> initial,
                                     const Mode& mode, const Selector& selector, const Rule& rule,
                                     const block_layout& blocks, const local_async_settings& s) {
  if (s.workers == 0 || s.batch == 0 || !(s.epochs > 0.0) || !(s.lr > 0.0f)) {
    throw std::invalid_argument("asgd: cuda::train_local_async: workers, batch, epochs and lr must be positive");
  }
  if (initial.size() != m.dimension) {
    throw std::invalid_argument("asgd: cuda::train_local_async: the initial model has " + std::to_string(initial.size()) +
                                " coordinates, the MLP " + std::to_string(m.dimension));
  }
  const auto math = device_math(rule);
  const device_images images(train);
  device_store<Mode> store(mode, s.workers, initial);
  conflict_counter conflicts(s.workers);
  const auto total_steps = static_cast<std::uint64_t>(s.epochs * static_cast<double>(train.size()) / static_cast<double>(s.batch));
  std::atomic<std::uint64_t> next_step{0}, dropped{0}, staleness{0};
  std::exception_ptr failure;
  std::mutex failure_lock;
  float last_loss = 0.0f;
  const auto lr = [rate = s.lr](std::uint64_t) { return rate; };

  const auto work = [&](std::size_t w) {
    cudaStream_t stream = nullptr;
    try {
      check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
      mlp_gradient grad(m, images, s.batch, stream);
      auto worker = store.make_worker(math);
      auto state = selector.make_state({blocks, m.dimension, w, s.workers, s.seed});
      rng gen(s.seed, 0x600d + w);
      std::vector<std::uint32_t> batch(s.batch);
      for (std::uint64_t local = 0;; ++local) {
        const std::uint64_t step = next_step.fetch_add(1, std::memory_order_relaxed);
        if (step >= total_steps) break;
        for (auto& i : batch) i = static_cast<std::uint32_t>(gen.below(train.size()));
        const param_range r = selector.select(
            state, {step, static_cast<double>(step * s.batch) / static_cast<double>(train.size()), local});
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
      }
      if (w == 0) last_loss = grad.loss();
      store.finish(worker);
    } catch (...) {
      const std::lock_guard lock(failure_lock);
      if (!failure) failure = std::current_exception();
      next_step.store(total_steps, std::memory_order_relaxed);  // the others stop at their next step
    }
    if (stream != nullptr) cudaStreamDestroy(stream);
  };

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < s.workers; ++w) threads.emplace_back(work, w);
  for (auto& t : threads) t.join();
  const auto stop = std::chrono::steady_clock::now();
  if (failure) std::rethrow_exception(failure);

  local_async_result r;
  r.model = store.download();
  r.steps = total_steps;
  r.dropped = dropped.load();
  r.conflicts = conflicts.total();
  r.staleness_sum = staleness.load();
  r.seconds = std::chrono::duration<double>(stop - start).count();
  r.last_loss = last_loss;
  return r;
}

}  // namespace asgd::inline v0::cuda
