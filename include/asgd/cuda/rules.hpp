#pragma once
/// @file
/// The update rules' per-coordinate math in a form that both nvcc (device code) and the host
/// compiler build: a rule's parameters, and a raw pointer to the worker's buffer. The kernels of
/// <asgd/cuda/update.cuh> call these functions; `reference_update` runs the same functions on
/// the CPU, which is how a machine without a GPU tests what the GPU computes. Host-only code may
/// include this header; it includes nothing from CUDA.

#include <asgd/update/momentum.hpp>
#include <asgd/update/nesterov.hpp>
#include <asgd/update/sgd.hpp>

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define ASGD_HOST_DEVICE __host__ __device__
#else
#define ASGD_HOST_DEVICE
#endif

namespace asgd::inline v0::cuda {

/// `update::sgd` on one coordinate: d = g + weight_decay x. No buffer.
struct sgd_math {
  static constexpr bool has_buffer = false;
  float weight_decay = 0.0f;
  ASGD_HOST_DEVICE float direction(float* /*buffer*/, std::size_t /*i*/, float g, float x) const {
    return g + weight_decay * x;
  }
};

/// `update::momentum` on one coordinate: m <- mu m + (g + weight_decay x); d = m.
struct momentum_math {
  static constexpr bool has_buffer = true;
  float mu = 0.9f;
  float weight_decay = 0.0f;
  ASGD_HOST_DEVICE float direction(float* buffer, std::size_t i, float g, float x) const {
    const float m = mu * buffer[i] + (g + weight_decay * x);
    buffer[i] = m;
    return m;
  }
};

/// `update::nesterov` on one coordinate: m <- mu m + d0; d = d0 + mu m, d0 = g + weight_decay x.
struct nesterov_math {
  static constexpr bool has_buffer = true;
  float mu = 0.9f;
  float weight_decay = 0.0f;
  ASGD_HOST_DEVICE float direction(float* buffer, std::size_t i, float g, float x) const {
    const float d = g + weight_decay * x;
    const float m = mu * buffer[i] + d;
    buffer[i] = m;
    return d + mu * m;
  }
};

/// The device form of a host update rule, checked as the host rule checks itself.
inline sgd_math device_math(const update::sgd& r) {
  r.validate();
  return {.weight_decay = r.weight_decay};
}
inline momentum_math device_math(const update::momentum& r) {
  r.validate();
  return {.mu = r.mu, .weight_decay = r.weight_decay};
}
inline nesterov_math device_math(const update::nesterov& r) {
  r.validate();
  return {.mu = r.mu, .weight_decay = r.weight_decay};
}

namespace detail {
/// Refuses a block of `block` coordinates from `lo` that does not lie in a model of `dimension`
/// floats, or a buffer shorter than the model; `where` names the caller.
inline void check_block(const char* where, std::size_t dimension, std::size_t lo, std::size_t block,
                        bool needs_buffer, std::size_t buffer) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string("asgd: cuda::") + where + ": " + why);
  };
  if (lo > dimension || block > dimension - lo) {
    fail("the block of " + std::to_string(block) + " coordinates from " + std::to_string(lo) +
         " does not fit in the model's " + std::to_string(dimension));
  }
  if (needs_buffer && buffer < dimension) {
    fail("the rule's buffer has " + std::to_string(buffer) + " coordinates, the model " +
         std::to_string(dimension));
  }
}
}  // namespace detail

/// The host reference of one worker's block update, coordinate by coordinate in index order,
/// as the host library's stores step (detail/step.hpp): for the block's k-th coordinate
/// i = lo + k, x[i] <- x[i] - lr * direction(buffer, i, g[k], x[i]). The gradient holds the
/// block's coordinates; the buffer is indexed like the model. What every update kernel
/// computes, up to the GPU contracting `x - lr * d` into one fused multiply-add.
/// @throws std::invalid_argument when the block does not fit the model, or the buffer is short.
template <class Math>
void reference_update(const Math& math, std::span<float> x, std::size_t lo, std::span<const float> g,
                      std::span<float> buffer, float lr) {
  detail::check_block("reference_update", x.size(), lo, g.size(), Math::has_buffer, buffer.size());
  for (std::size_t k = 0; k < g.size(); ++k) {
    const std::size_t i = lo + k;
    x[i] = x[i] - lr * math.direction(buffer.data(), i, g[k], x[i]);
  }
}

}  // namespace asgd::inline v0::cuda
