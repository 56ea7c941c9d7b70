#pragma once
/// @file
/// Update kernels: one worker applies its gradient for a block of the shared device model in
/// place, with an update rule's math (<asgd/cuda/rules.hpp>) and a write mode, the device forms
/// of the host consistency modes:
///
/// - `hogwild_writes`: read x[i], write x[i] - lr d with plain relaxed loads and stores
///   (cuda::atomic_ref, device scope); a concurrent worker's write to the same coordinate may be
///   lost, as in HOGWILD!.
/// - `atomic_add_writes`: read x[i] for the direction, then add -lr d atomically; no update is
///   lost, a direction may use a stale x.
///
/// Each worker owns its rule's buffer (momentum), as on the host. Kernels run on the caller's
/// stream and return at once; launch errors are reported by `update_block`, execution errors by
/// the stream's next synchronisation.

#include <asgd/cuda/error.cuh>
#include <asgd/cuda/launch.cuh>
#include <asgd/cuda/rules.hpp>

#include <cuda/atomic>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace asgd::inline v0::cuda {

/// HOGWILD!: relaxed load and store; concurrent writers to one coordinate may lose updates.
struct hogwild_writes {
  static constexpr std::string_view name = "hogwild";
  __device__ static void write(::cuda::atomic_ref<float, ::cuda::thread_scope_device> x, float read, float step) {
    x.store(read - step, ::cuda::memory_order_relaxed);
  }
};

/// Atomic adds: every worker's step lands; the direction may be computed from a stale x.
struct atomic_add_writes {
  static constexpr std::string_view name = "atomic_add";
  __device__ static void write(::cuda::atomic_ref<float, ::cuda::thread_scope_device> x, float /*read*/, float step) {
    x.fetch_add(-step, ::cuda::memory_order_relaxed);
  }
};

namespace detail {
template <class Write, class Math>
struct update_op {
  float* x;
  std::size_t lo;
  const float* g;
  float* buffer;
  float lr;
  Math math;
  __device__ void operator()(std::size_t k) const {
    const std::size_t i = lo + k;
    ::cuda::atomic_ref<float, ::cuda::thread_scope_device> xi(x[i]);
    const float read = xi.load(::cuda::memory_order_relaxed);
    Write::write(xi, read, lr * math.direction(buffer, i, g[k], read));
  }
};
}  // namespace detail

/// Enqueues on `stream`: for the block's k-th coordinate i = lo + k (k < block),
/// x[i] <- x[i] - lr * direction(buffer, i, g[k], x[i]), written as `Write` writes.
/// `x` holds `dimension` floats, `g` the block's `block` floats, `buffer` (when the rule has
/// one) `dimension` floats, all in device memory.
/// @throws std::invalid_argument when the block does not fit the model or a pointer is missing;
/// cuda_error when the launch fails.
template <class Write, class Math>
void update_block(const Math& math, float* x, std::size_t dimension, std::size_t lo, const float* g,
                  std::size_t block, float* buffer, float lr, cudaStream_t stream) {
  asgd::cuda::detail::check_block("update_block", dimension, lo, block, false, 0);
  if (Math::has_buffer && buffer == nullptr) {
    throw std::invalid_argument("asgd: cuda::update_block: the rule keeps a buffer (momentum) and got a null one");
  }
  if (block == 0) return;
  if (x == nullptr || g == nullptr) throw std::invalid_argument("asgd: cuda::update_block: a null model or gradient");
  detail::launch_for_each(block, detail::update_op<Write, Math>{x, lo, g, buffer, lr, math}, stream,
                          "update_block: kernel launch");
}

}  // namespace asgd::inline v0::cuda
