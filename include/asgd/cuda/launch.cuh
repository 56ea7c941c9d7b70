#pragma once
/// @file
/// How asgd's element-wise kernels launch: a grid-stride loop over n indices, 256 threads per
/// block and at most 4096 blocks, on the caller's stream.

#include <asgd/cuda/error.cuh>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

namespace asgd::inline v0::cuda {

inline constexpr unsigned launch_threads = 256;      ///< threads per block
inline constexpr unsigned launch_max_blocks = 4096;  ///< blocks at most; the loop strides beyond

namespace detail {
template <class Op>
__global__ void for_each_index(std::size_t n, Op op) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) op(i);
}

/// Enqueues op(i) for every i < n on `stream`; throws cuda_error naming `what` when the launch fails.
template <class Op>
void launch_for_each(std::size_t n, Op op, cudaStream_t stream, const char* what) {
  if (n == 0) return;
  const auto blocks = static_cast<unsigned>(std::min<std::size_t>(launch_max_blocks, (n + launch_threads - 1) / launch_threads));
  for_each_index<<<blocks, launch_threads, 0, stream>>>(n, op);
  asgd::cuda::check(what, cudaGetLastError());
}
}  // namespace detail

}  // namespace asgd::inline v0::cuda
