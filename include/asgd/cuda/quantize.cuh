#pragma once
/// @file
/// Quantizer kernels for device models, in the host quantizers' wire formats so host and device
/// nodes read each other's messages: fp16 and bf16 (16 bits per coordinate, round to nearest
/// even, as `quantize::fp16` / `quantize::bf16` for finite values) and 8-bit QSGD (as
/// `quantize::qsgd<8>`; its rounding draws from <asgd/cuda/qsgd8.hpp>'s hash). All run on the
/// caller's stream; launch errors throw at once, the rest show at the stream's next sync.

#include <asgd/cuda/error.cuh>
#include <asgd/cuda/launch.cuh>
#include <asgd/cuda/qsgd8.hpp>

#include <cub/block/block_reduce.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace asgd::inline v0::cuda {

namespace detail {
// The 16-bit float formats, and the element-wise encode and decode over one of them, as
// functors (device lambdas would need nvcc's --extended-lambda).
struct fp16_bits {
  __device__ static std::uint16_t encode(float v) { return __half_as_ushort(__float2half_rn(v)); }
  __device__ static float decode(std::uint16_t b) { return __half2float(__ushort_as_half(b)); }
};
struct bf16_bits {
  __device__ static std::uint16_t encode(float v) { return __bfloat16_as_ushort(__float2bfloat16_rn(v)); }
  __device__ static float decode(std::uint16_t b) { return __bfloat162float(__ushort_as_bfloat16(b)); }
};
template <class Format>
struct encode_16bit_op {
  const float* x;
  std::uint16_t* out;
  __device__ void operator()(std::size_t i) const { out[i] = Format::encode(x[i]); }
};
template <class Format>
struct decode_16bit_op {
  const std::uint16_t* in;
  float* out;
  __device__ void operator()(std::size_t i) const { out[i] = Format::decode(in[i]); }
};
struct qsgd8_decode_op {
  const std::uint8_t* in;
  std::size_t bucket;
  float* out;
  __device__ void operator()(std::size_t i) const {
    const std::size_t b = i / bucket;
    const std::uint8_t* at = in + b * (bucket + 4);
    const std::uint32_t bits = static_cast<std::uint32_t>(at[0]) | (static_cast<std::uint32_t>(at[1]) << 8) |
                               (static_cast<std::uint32_t>(at[2]) << 16) | (static_cast<std::uint32_t>(at[3]) << 24);
    const float unit = __uint_as_float(bits) / static_cast<float>(qsgd8_levels);
    const std::uint8_t field = at[4 + (i - b * bucket)];
    const float v = unit * static_cast<float>(field & 0x7fu);
    out[i] = (field >> 7) != 0 ? -v : v;
  }
};

// One CUDA block per bucket: the norm by a block reduction in double (CUB), then a byte per
// coordinate. A non-finite norm records its bucket's first index in *first_bad (atomicMin).
// A template, so that every translation unit including this header may define it (a plain
// __global__ function defined in a header is defined once per unit and fails to link).
template <class = void>
__global__ void encode_qsgd8_kernel(const float* x, std::size_t n, std::size_t bucket, std::uint64_t seed,
                                    std::uint8_t* out, unsigned long long* first_bad) {
  using reduce = cub::BlockReduce<double, launch_threads>;
  __shared__ typename reduce::TempStorage temp;
  __shared__ double scale;
  const std::size_t lo = static_cast<std::size_t>(blockIdx.x) * bucket;
  const std::size_t hi = lo + bucket < n ? lo + bucket : n;
  double sq = 0.0;
  for (std::size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) sq += static_cast<double>(x[i]) * x[i];
  const double total = reduce(temp).Sum(sq);
  std::uint8_t* at = out + static_cast<std::size_t>(blockIdx.x) * (bucket + 4);
  if (threadIdx.x == 0) {
    const auto norm = static_cast<float>(sqrt(total));
    const auto bits = __float_as_uint(norm);
    for (int b = 0; b < 4; ++b) at[b] = static_cast<std::uint8_t>(bits >> (8 * b));
    if (!isfinite(norm)) atomicMin(first_bad, static_cast<unsigned long long>(lo));
    scale = norm > 0.0f && isfinite(norm) ? static_cast<double>(qsgd8_levels) / static_cast<double>(norm) : 0.0;
  }
  __syncthreads();
  for (std::size_t i = lo + threadIdx.x; i < hi; i += blockDim.x)
    at[4 + (i - lo)] = qsgd8_field(x[i], scale, hashed_uniform(seed, i));
}
}  // namespace detail

/// Enqueues `out[i] = binary16(x[i])` for i < n (device pointers).
inline void encode_fp16(const float* x, std::size_t n, std::uint16_t* out, cudaStream_t stream) {
  detail::launch_for_each(n, detail::encode_16bit_op<detail::fp16_bits>{x, out}, stream, "encode_fp16: kernel launch");
}

/// Enqueues `out[i] = float(binary16 in[i])` for i < n.
inline void decode_fp16(const std::uint16_t* in, std::size_t n, float* out, cudaStream_t stream) {
  detail::launch_for_each(n, detail::decode_16bit_op<detail::fp16_bits>{in, out}, stream, "decode_fp16: kernel launch");
}

/// Enqueues `out[i] = bfloat16(x[i])` for i < n.
inline void encode_bf16(const float* x, std::size_t n, std::uint16_t* out, cudaStream_t stream) {
  detail::launch_for_each(n, detail::encode_16bit_op<detail::bf16_bits>{x, out}, stream, "encode_bf16: kernel launch");
}

/// Enqueues `out[i] = float(bfloat16 in[i])` for i < n.
inline void decode_bf16(const std::uint16_t* in, std::size_t n, float* out, cudaStream_t stream) {
  detail::launch_for_each(n, detail::decode_16bit_op<detail::bf16_bits>{in, out}, stream, "decode_bf16: kernel launch");
}

/// 8-bit QSGD of a device vector into `quantize::qsgd<8>{.bucket}`'s wire format
/// (qsgd8_encoded_bytes(n, bucket) bytes). Keeps a device status word: `encode` enqueues the
/// work, `check` (after the stream synchronised) throws if a bucket held a non-finite value.
class qsgd8_encoder {
 public:
  explicit qsgd8_encoder(std::size_t bucket = 512) : bucket_(bucket), first_bad_(1) {
    if (bucket == 0) throw std::invalid_argument("asgd: cuda::qsgd8_encoder: the bucket must hold at least 1 coordinate");
  }
  [[nodiscard]] std::size_t bucket() const noexcept { return bucket_; }

  void encode(const float* x, std::size_t n, std::uint64_t seed, std::uint8_t* out, cudaStream_t stream) {
    asgd::cuda::check("qsgd8_encoder: cudaMemsetAsync",
                      cudaMemsetAsync(first_bad_.data(), 0xff, sizeof(unsigned long long), stream));
    if (n == 0) return;
    const unsigned buckets = qsgd8_grid_blocks(n, bucket_);
    detail::encode_qsgd8_kernel<><<<buckets, launch_threads, 0, stream>>>(
        x, n, bucket_, seed, out, first_bad_.data());
    asgd::cuda::check("qsgd8_encoder: kernel launch", cudaGetLastError());
  }

  /// @throws std::invalid_argument naming the first bucket with a non-finite value, if any.
  void check() const {
    const auto first = first_bad_.download()[0];
    if (first != ~0ull) {
      throw std::invalid_argument("asgd: cuda::qsgd8 cannot encode a bucket with a non-finite value (at " +
                                  std::to_string(first) + ")");
    }
  }

 private:
  std::size_t bucket_;
  device_array<unsigned long long> first_bad_;
};

/// Enqueues the decoding of qsgd8 bytes (from either encoder, or the host's qsgd<8>) into n floats.
inline void decode_qsgd8(const std::uint8_t* in, std::size_t n, std::size_t bucket, float* out, cudaStream_t stream) {
  if (bucket == 0) throw std::invalid_argument("asgd: cuda::decode_qsgd8: the bucket must hold at least 1 coordinate");
  detail::launch_for_each(n, detail::qsgd8_decode_op{in, bucket, out}, stream, "decode_qsgd8: kernel launch");
}

}  // namespace asgd::inline v0::cuda
