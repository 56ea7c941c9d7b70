#pragma once
// Shared by the CUDA tests: random inputs, and (in nvcc's translation units) the check that
// turns "no device" into a skipped test.

#include <cstddef>
#include <random>
#include <vector>

#if defined(__CUDACC__)
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
  int devices = 0;
  const cudaError_t code = cudaGetDeviceCount(&devices);
  if (code != cudaSuccess || devices == 0) {
    std::printf("no CUDA device (cudaGetDeviceCount: %s): the gpu tests are skipped\n",
                code != cudaSuccess ? cudaGetErrorString(code) : "0 devices");
    return 0;
  }
  return devices;
}
#endif

}  // namespace asgd_test
