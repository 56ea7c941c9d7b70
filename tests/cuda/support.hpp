#pragma once
// Shared by the CUDA tests: random inputs, and (in nvcc's translation units) the check that
// turns "no device" into a skipped test.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#if defined(__CUDACC__)
#include <asgd/cuda/error.cuh>

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#endif

namespace asgd_test {

/// True when a and b are finite floats at most `ulps` representable values apart.
inline bool within_ulps(float a, float b, std::uint32_t ulps) {
  if (!std::isfinite(a) || !std::isfinite(b)) return false;
  // Floats in order as integers: negative ones mirrored below zero.
  const auto ordered = [](float x) {
    std::int32_t i;
    std::memcpy(&i, &x, sizeof i);
    return i < 0 ? std::int64_t{INT32_MIN} - i : std::int64_t{i};
  };
  const std::int64_t d = ordered(a) - ordered(b);
  return (d < 0 ? -d : d) <= std::int64_t{ulps};
}

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

/// Exit code of a GPU test that could not run where it had to (CTest: failed).
inline constexpr int failed = 1;

/// The number of CUDA devices, or -1 after printing why the GPU tests cannot run: 0 devices
/// skips them (exit `skipped`), unless ASGD_REQUIRE_GPU asks for a device; a broken CUDA fails.
/// Use: `if (const int d = devices_or_skip(); d <= 0) return exit_without_devices(d);`
inline int devices_or_skip() {
  try {
    const auto devices = asgd::cuda::find_devices();
    if (devices.count > 0) return devices.count;
    if (asgd::cuda::gpu_required(std::getenv("ASGD_REQUIRE_GPU"))) {
      // Worded so that no CTest skip pattern ("no CUDA device") matches it.
      std::printf("ASGD_REQUIRE_GPU is set, and this machine has none (%s): the gpu tests fail\n", devices.why.c_str());
      return -1;
    }
    std::printf("no CUDA device (%s): the gpu tests are skipped\n", devices.why.c_str());
    return 0;
  } catch (const asgd::cuda::cuda_error& e) {
    std::printf("CUDA is broken on this machine, the gpu tests fail: %s\n", e.what());
    return -1;
  }
}

/// The exit code for devices_or_skip()'s answer when it is not positive.
inline int exit_without_devices(int devices) { return devices == 0 ? skipped : failed; }
#endif

}  // namespace asgd_test
