#pragma once
/// @file
/// Minibatch gradients of the `problems::make_mlp` network on the GPU, one `mlp_gradient` per
/// worker: its own cuBLAS handle bound to its own stream, its own activations and gradient
/// buffer, reading the training set from device memory (`device_images`, shared by the
/// workers). GEMMs are cuBLAS's; the per-element kernels use the functions of
/// <asgd/cuda/mlp_math.hpp>, whose host reference (`reference_mlp_gradient`) is tested on the CPU.
/// Back-propagation stops at the lowest layer the update range touches, as on the host.

#include <asgd/cuda/error.cuh>
#include <asgd/cuda/launch.cuh>
#include <asgd/cuda/mlp_math.hpp>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::cuda {

/// Throws cuda_error-like std::runtime_error naming `call` unless cuBLAS succeeded.
inline void check_cublas(const char* call, cublasStatus_t status) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("asgd: cuda: ") + call + " failed: " + cublasGetStatusString(status));
  }
}

/// A training set in device memory: pixel bytes (image after image), their decoding, labels.
struct device_images {
  std::size_t pixels_per_image = 0;
  std::size_t size = 0;
  float scale = 1.0f;  ///< a pixel's value is scale * byte + shift
  float shift = 0.0f;
  device_array<std::uint8_t> pixel_bytes;
  device_array<std::uint8_t> labels;

  explicit device_images(const data::image_set& set)
      : pixels_per_image(set.pixels_per_image()),
        size(set.size()),
        scale(set.scale),
        shift(set.shift),
        pixel_bytes(std::span<const std::uint8_t>(set.pixel_bytes)),
        labels(std::span<const std::uint8_t>(set.labels)) {}
};

namespace detail {
struct gather_op {  // a[k][j] = scale * bytes[batch[k]][j] + shift
  const std::uint8_t* bytes;
  float scale;
  float shift;
  const std::uint32_t* batch;
  std::size_t width;
  float* a;
  __device__ void operator()(std::size_t i) const {
    a[i] = scale * static_cast<float>(bytes[batch[i / width] * width + i % width]) + shift;
  }
};
struct bias_activation_op {  // y[k][o] = bias_activation(y[k][o], b[o], relu)
  float* y;
  const float* bias;
  std::size_t out;
  bool relu;
  __device__ void operator()(std::size_t i) const { y[i] = bias_activation(y[i], bias[i % out], relu); }
};
struct softmax_op {  // one sample per index
  const float* logits;
  const std::uint8_t* labels;
  const std::uint32_t* batch;
  std::size_t classes;
  float scale;
  float* delta;
  float* loss;
  __device__ void operator()(std::size_t k) const {
    const float l = softmax_cross_entropy(logits + k * classes, classes, labels[batch[k]], scale, delta + k * classes);
    atomicAdd(loss, l * scale);
  }
};
struct bias_gradient_op {  // gb[o] = sum over k of delta[k][o]
  const float* delta;
  std::size_t out;
  std::size_t b;
  float* gb;
  __device__ void operator()(std::size_t o) const {
    float s = 0.0f;
    for (std::size_t k = 0; k < b; ++k) s += delta[k * out + o];
    gb[o] = s;
  }
};
struct relu_backward_op {  // d = y > 0 ? d : 0, y the ReLU's output
  const float* y;
  float* d;
  __device__ void operator()(std::size_t i) const { d[i] = y[i] > 0.0f ? d[i] : 0.0f; }
};
}  // namespace detail

/// One worker's gradient computer. Not thread-safe; each worker owns one.
class mlp_gradient {
 public:
  /// For batches of at most `max_batch` samples of `images`, on `stream` (which the caller owns).
  mlp_gradient(const mlp_layout& layout, const device_images& images, std::size_t max_batch, cudaStream_t stream)
      : m_(layout), images_(&images), max_batch_(max_batch), stream_(stream), grad_(layout.dimension), batch_(max_batch),
        loss_(1) {
    if (images.pixels_per_image != layout.in(0)) {
      throw std::invalid_argument("asgd: cuda::mlp_gradient: images have " + std::to_string(images.pixels_per_image) +
                                  " pixels, the MLP takes " + std::to_string(layout.in(0)) + " inputs");
    }
    if (max_batch == 0) throw std::invalid_argument("asgd: cuda::mlp_gradient: max_batch must be at least 1");
    for (std::size_t l = 0; l <= m_.layers(); ++l) acts_.emplace_back(max_batch * m_.widths[l]);
    std::size_t widest = 0;
    for (const std::size_t w : m_.widths) widest = std::max(widest, w);
    delta_[0] = device_array<float>(max_batch * widest);
    delta_[1] = device_array<float>(max_batch * widest);
    check_cublas("cublasCreate", cublasCreate(&handle_));
    if (const cublasStatus_t status = cublasSetStream(handle_, stream); status != CUBLAS_STATUS_SUCCESS) {
      cublasDestroy(handle_);  // the destructor does not run for a constructor that throws
      check_cublas("cublasSetStream", status);
    }
  }
  mlp_gradient(const mlp_gradient&) = delete;
  mlp_gradient& operator=(const mlp_gradient&) = delete;
  ~mlp_gradient() { cublasDestroy(handle_); }

  /// Enqueues the gradient of the mean loss over `batch` at model `x` (device memory) for the
  /// layers `r` touches; returns the device gradient, model-sized (valid over the touched
  /// layers, `r` included, once the stream has reached this point).
  /// @throws std::invalid_argument for an empty or too large batch, or a sample out of range.
  const float* compute(const float* x, std::span<const std::uint32_t> batch, param_range r) {
    const std::size_t b = batch.size();
    if (b == 0 || b > max_batch_) {
      throw std::invalid_argument("asgd: cuda::mlp_gradient: a batch of " + std::to_string(b) + " samples (1 to " +
                                  std::to_string(max_batch_) + " allowed)");
    }
    for (const std::uint32_t i : batch)
      if (i >= images_->size) throw std::invalid_argument("asgd: cuda::mlp_gradient: sample " + std::to_string(i) + " is outside the training set");
    // The copy is enqueued; `batch` is pageable memory, so it returns once the bytes are read.
    check("cudaMemcpyAsync (batch)", cudaMemcpyAsync(batch_.data(), batch.data(), b * sizeof(std::uint32_t),
                                                      cudaMemcpyHostToDevice, stream_));
    check("cudaMemsetAsync (loss)", cudaMemsetAsync(loss_.data(), 0, sizeof(float), stream_));
    computed_ = true;
    const std::size_t layers = m_.layers();
    detail::launch_for_each(b * m_.in(0),
                            detail::gather_op{images_->pixel_bytes.data(), images_->scale, images_->shift, batch_.data(),
                                              m_.in(0), acts_[0].data()},
                            stream_, "mlp_gradient: gather");
    const float one = 1.0f, zero = 0.0f;
    for (std::size_t l = 0; l < layers; ++l) {
      const int in = static_cast<int>(m_.in(l)), out = static_cast<int>(m_.out(l)), bi = static_cast<int>(b);
      // Row-major Y (b x out) = A (b x in) W^T: column-major Y^T = W A^T, with W read transposed.
      check_cublas("cublasSgemm (forward)",
                   cublasSgemm(handle_, CUBLAS_OP_T, CUBLAS_OP_N, out, bi, in, &one, x + m_.weights(l), in,
                               acts_[l].data(), in, &zero, acts_[l + 1].data(), out));
      detail::launch_for_each(b * m_.out(l), detail::bias_activation_op{acts_[l + 1].data(), x + m_.bias(l), m_.out(l), l + 1 < layers},
                              stream_, "mlp_gradient: bias and activation");
    }
    const std::size_t classes = m_.widths.back();
    detail::launch_for_each(b, detail::softmax_op{acts_[layers].data(), images_->labels.data(), batch_.data(), classes,
                                                  1.0f / static_cast<float>(b), delta_[0].data(), loss_.data()},
                            stream_, "mlp_gradient: softmax cross-entropy");
    const std::size_t lowest = m_.lowest_touched(r);
    int cur = 0;
    for (std::size_t l = layers; l-- > lowest;) {
      const int in = static_cast<int>(m_.in(l)), out = static_cast<int>(m_.out(l)), bi = static_cast<int>(b);
      const float* dy = delta_[cur].data();
      if (m_.touches(l, r)) {
        // Row-major dW (out x in) = dY^T A: column-major dW^T (in x out) = A^T dY with A^T = A's memory.
        check_cublas("cublasSgemm (weight gradient)",
                     cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_T, in, out, bi, &one, acts_[l].data(), in, dy, out,
                                 &zero, grad_.data() + m_.weights(l), in));
        detail::launch_for_each(m_.out(l), detail::bias_gradient_op{dy, m_.out(l), b, grad_.data() + m_.bias(l)}, stream_,
                                "mlp_gradient: bias gradient");
      }
      if (l == lowest) break;
      // Row-major dX (b x in) = dY W: column-major dX^T = W^T dY^T, W's memory read as in x out.
      float* dx = delta_[1 - cur].data();
      check_cublas("cublasSgemm (input gradient)",
                   cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, in, bi, out, &one, x + m_.weights(l), in, dy, out,
                               &zero, dx, in));
      detail::launch_for_each(b * m_.in(l), detail::relu_backward_op{acts_[l].data(), dx}, stream_,
                              "mlp_gradient: ReLU backward");
      cur = 1 - cur;
    }
    return grad_.data();
  }

  /// The last batch's mean loss (NaN before the first batch); synchronises the stream.
  [[nodiscard]] float loss() const {
    if (!computed_) return std::numeric_limits<float>::quiet_NaN();
    float host = 0.0f;
    check("cudaMemcpyAsync (loss)", cudaMemcpyAsync(&host, loss_.data(), sizeof(float), cudaMemcpyDeviceToHost, stream_));
    check("cudaStreamSynchronize (loss)", cudaStreamSynchronize(stream_));
    return host;
  }

  [[nodiscard]] cudaStream_t stream() const noexcept { return stream_; }

 private:
  mlp_layout m_;
  const device_images* images_;
  std::size_t max_batch_;
  cudaStream_t stream_;
  cublasHandle_t handle_ = nullptr;
  bool computed_ = false;  // a batch was enqueued: loss_ holds a loss
  device_array<float> grad_;
  device_array<std::uint32_t> batch_;
  device_array<float> loss_;
  std::vector<device_array<float>> acts_;
  device_array<float> delta_[2];
};

}  // namespace asgd::inline v0::cuda
