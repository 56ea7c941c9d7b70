#pragma once
/// @file
/// Device parameter stores: the shared model of W workers on one GPU, in the device forms of the
/// host consistency modes. Each worker is a host thread with its own CUDA stream; it reads the
/// model (`read`), computes its gradient on the stream, and applies a block of it (`apply`).
///
/// - `device_store<hogwild_writes>` and `device_store<atomic_add_writes>`: one model, updated in
///   place by <asgd/cuda/update.cuh>'s kernels; a gradient may be computed on a model other
///   workers are writing (HOGWILD!; atomic adds lose no update).
/// - `device_store<versioned_publish>`: consistent, the GPU analogue of Leashed-SGD. Versions
///   are immutable device buffers; a worker's gradient sees one version, and its update builds
///   the next version (a copy of the newest with the update fused in, on the worker's stream)
///   and publishes it by compare-and-swap of the version pointer. The protocol (pins, CAS,
///   recycling, at most 2 W + 1 buffers) is the host store's (detail/version_chain.hpp),
///   tested on the host.
///
/// `apply` returns the host library's `apply_result`: the staleness counts the updates applied
/// between the worker's read and its own.

#include <asgd/cuda/error.cuh>
#include <asgd/cuda/launch.cuh>
#include <asgd/cuda/rules.hpp>
#include <asgd/cuda/update.cuh>
#include <asgd/detail/version_chain.hpp>
#include <asgd/types.hpp>

#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asgd::inline v0::cuda {

/// The consistent mode: versioned publish by pointer swap (Leashed-SGD on the device).
struct versioned_publish {
  static constexpr std::string_view name = "versioned";
  /// `persistence` that never drops a gradient.
  static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();
  /// Failed publications tolerated before a gradient is dropped (Leashed-SGD's B).
  std::size_t persistence = unbounded;
};

namespace detail {
template <class Math>
struct directions_op {
  Math math;
  const float* x;
  std::size_t lo;
  const float* g;
  float* buffer;
  float* d;
  __device__ void operator()(std::size_t k) const { d[k] = math.direction(buffer, lo + k, g[k], x[lo + k]); }
};

// to = from, less step * d over [lo, lo + block) (i - lo wraps for i < lo, so one compare).
struct build_version_op {
  const float* from;
  float* to;
  std::size_t lo;
  std::size_t block;
  const float* d;
  float step;
  __device__ void operator()(std::size_t i) const {
    float v = from[i];
    if (i - lo < block) v -= step * d[i - lo];
    to[i] = v;
  }
};

inline std::span<const float> nonempty(std::span<const float> initial) {
  if (initial.empty()) throw std::invalid_argument("asgd: cuda::device_store: the initial model is empty");
  return initial;
}

// n zeros in device memory (a rule's buffer starts at zero, as on the host). cudaMemset runs on
// the legacy stream, which the workers' non-blocking streams do not wait for: it is finished
// before the buffer is handed out.
inline device_array<float> zeros(std::size_t n) {
  device_array<float> a(n);
  if (n > 0) {
    check("cudaMemset", cudaMemset(a.data(), 0, n * sizeof(float)));
    check("cudaStreamSynchronize (after cudaMemset)", cudaStreamSynchronize(nullptr));
  }
  return a;
}

inline constexpr std::uint32_t no_version_slot = asgd::detail::version_chain<device_array<float>>::no_slot;
}  // namespace detail

/// A worker's state in a device store: its rule's buffer (momentum) and, for the versioned mode,
/// its direction buffer and the version it is building.
struct device_worker {
  device_array<float> buffer;     ///< the rule's buffer, the model's length (empty for sgd)
  device_array<float> direction;  ///< versioned mode: the block's directions
  std::uint32_t building = detail::no_version_slot;
};

/// One shared model updated in place (hogwild_writes or atomic_add_writes).
template <class Mode>
class device_store {
 public:
  /// What a worker reads: the live model (other workers may be writing it).
  struct view {
    const float* values;
    std::uint64_t applied;  ///< updates applied before the read
  };

  /// `workers` is not needed here; it is taken so that every mode is built alike.
  device_store(Mode /*mode*/, std::size_t /*workers*/, std::span<const float> initial)
      : dimension_(initial.size()), x_(detail::nonempty(initial)) {}

  template <class Math>
  [[nodiscard]] device_worker make_worker(const Math& /*math*/) const {
    return {Math::has_buffer ? detail::zeros(dimension_) : device_array<float>(), {}, detail::no_version_slot};
  }

  [[nodiscard]] view read(device_worker& /*w*/) const noexcept {
    return {x_.data(), applied_.load(std::memory_order_relaxed)};
  }

  /// Enqueues the update of [lo, lo + block) from the block's gradient `g` on `stream`.
  template <class Math, class Lr>
  apply_result apply(device_worker& w, view& v, const Math& math, std::size_t lo, const float* g, std::size_t block,
                     Lr&& lr, cudaStream_t stream) {
    const std::uint64_t tau = applied_.fetch_add(1, std::memory_order_relaxed) - v.applied;
    update_block<Mode>(math, x_.data(), dimension_, lo, g, block, w.buffer.data(), static_cast<float>(lr(tau)), stream);
    return {true, tau, 0};
  }

  void finish(device_worker& /*w*/) noexcept {}

  /// The model now (synchronises the device first).
  [[nodiscard]] std::vector<float> download() const {
    check("cudaDeviceSynchronize", cudaDeviceSynchronize());
    return x_.download();
  }
  [[nodiscard]] std::size_t dimension() const noexcept { return dimension_; }
  [[nodiscard]] store_stats stats() const noexcept { return {1, 1}; }

 private:
  std::size_t dimension_;
  device_array<float> x_;
  std::atomic<std::uint64_t> applied_{0};
};

/// The consistent mode: immutable versions, published by compare-and-swap.
template <>
class device_store<versioned_publish> {
  using chain = asgd::detail::version_chain<device_array<float>>;

 public:
  /// What a worker reads: one version, pinned until the worker's apply has used it.
  struct view {
    chain::pin pin;
    const float* values;
  };

  device_store(versioned_publish mode, std::size_t workers, std::span<const float> initial)
      : mode_(mode),
        dimension_(initial.size()),
        chain_(2 * workers + 1, detail::nonempty(initial).size(), [&](float* first) { upload_now(first, initial); }) {}

  template <class Math>
  [[nodiscard]] device_worker make_worker(const Math& /*math*/) const {
    return {Math::has_buffer ? detail::zeros(dimension_) : device_array<float>(),
            device_array<float>(dimension_), chain::no_slot};
  }

  [[nodiscard]] view read(device_worker& /*w*/) const {
    auto p = chain_.current();
    const float* values = p.data();
    return {std::move(p), values};
  }

  /// Computes the block's directions from the version the gradient saw, then publishes the
  /// newest version less lr(staleness) times them, retrying until a CAS succeeds or the
  /// persistence is spent (then the gradient is dropped: `applied` is false). Synchronises
  /// `stream` (a version is complete before it is published, and a pinned version is not
  /// recycled while a kernel reads it).
  template <class Math, class Lr>
  apply_result apply(device_worker& w, view& v, const Math& math, std::size_t lo, const float* g, std::size_t block,
                     Lr&& lr, cudaStream_t stream) {
    asgd::cuda::detail::check_block("device_store::apply", dimension_, lo, block, false, 0);
    if (Math::has_buffer && w.buffer.size() < dimension_) {
      throw std::invalid_argument("asgd: cuda::device_store::apply: the worker was made for a rule without a buffer");
    }
    detail::launch_for_each(block, detail::directions_op<Math>{math, v.values, lo, g, w.buffer.data(), w.direction.data()},
                            stream, "device_store::apply: directions kernel launch");
    check("cudaStreamSynchronize (directions)", cudaStreamSynchronize(stream));
    const float* d = w.direction.data();
    const std::size_t n = dimension_;
    auto build = [=](const float* from, float* to, float step, chain::slot_id /*from_slot*/) {
      detail::launch_for_each(n, detail::build_version_op{from, to, lo, block, d, step}, stream,
                              "device_store::apply: version kernel launch");
      check("cudaStreamSynchronize (new version)", cudaStreamSynchronize(stream));
      return true;
    };
    return chain_.publish(w.building, v.pin, build, lr, mode_.persistence);
  }

  /// Gives back the buffer a dropped update left behind; call when the worker stops.
  void finish(device_worker& w) noexcept { chain_.recycle_building(w.building); }

  /// The newest version (a consistent model).
  [[nodiscard]] std::vector<float> download() const {
    const auto p = chain_.current();
    std::vector<float> host(dimension_);
    check("cudaMemcpy (device to host)",
          cudaMemcpy(host.data(), p.data(), dimension_ * sizeof(float), cudaMemcpyDeviceToHost));
    return host;
  }
  /// The newest version's number: updates published so far.
  [[nodiscard]] std::uint64_t version() const { return chain_.current().version(); }
  [[nodiscard]] std::size_t dimension() const noexcept { return dimension_; }
  [[nodiscard]] store_stats stats() const noexcept { return chain_.stats(); }
  [[nodiscard]] std::size_t live_versions() const noexcept { return chain_.live(); }

 private:
  versioned_publish mode_;
  std::size_t dimension_;
  chain chain_;
};

}  // namespace asgd::inline v0::cuda
