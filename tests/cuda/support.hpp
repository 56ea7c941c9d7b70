#pragma once
// Shared by the CUDA tests: random inputs, and (in nvcc's translation units) the check that
// turns "no device" into a skipped test.

#include <cstddef>
#include <random>
#include <vector>

#if defined(__CUDACC__)
#include <asgd/cuda/error.cuh>

#include <cuda_runtime.h>

#include <cstdio>
#endif

namespace asgd_test {

inline std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

#if defined(__CUDACC__)
/// Exit code CTest reads as "skipped" (SKIP_RETURN_CODE in tests/cuda/CMakeLists.txt).
inline constexpr int skipped = 77;

/// The number of CUDA devices; 0 after printing why the GPU tests are skipped.
inline int devices_or_skip() {
  const auto devices = asgd::cuda::find_devices();
  if (devices.count == 0) std::printf("no CUDA device (%s): the gpu tests are skipped\n", devices.why.c_str());
  return devices.count;
}
#endif

}  // namespace asgd_test
