#pragma once
/// @file
/// Reductions of device vectors by Thrust, on the caller's stream: the squared norm (the
/// averager's consensus distance is one), summed in double whatever the length. The result
/// comes back to the host, so each call waits for its stream.

#include <asgd/cuda/error.cuh>

#include <cuda/std/functional>
#include <cuda_runtime.h>
#include <thrust/execution_policy.h>
#include <thrust/system_error.h>
#include <thrust/transform_reduce.h>

#include <cstddef>

namespace asgd::inline v0::cuda {

namespace detail {
struct square_in_double {
  __host__ __device__ double operator()(float v) const { return static_cast<double>(v) * static_cast<double>(v); }
};
}  // namespace detail

/// The sum of x[i]^2 for i < n (`x` in device memory), in double, after the work already on
/// `stream`. Waits for the stream. @throws cuda_error naming the reduction when CUDA fails.
inline double squared_norm(const float* x, std::size_t n, cudaStream_t stream) {
  if (n == 0) return 0.0;
  try {
    return thrust::transform_reduce(thrust::cuda::par.on(stream), x, x + n, detail::square_in_double{}, 0.0,
                                    ::cuda::std::plus<double>{});
  } catch (const thrust::system_error& e) {
    throw cuda_error("squared_norm (thrust::transform_reduce)", static_cast<cudaError_t>(e.code().value()));
  }
}

}  // namespace asgd::inline v0::cuda
