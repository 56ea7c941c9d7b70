#pragma once
/// @file
/// Whether this machine has a CUDA device, told apart from a CUDA that is broken: the decision
/// behind asgd's GPU tests, benchmark and `asgd-train --device cuda`, in a header the host
/// compiler builds (it includes nothing from CUDA; <asgd/cuda/error.cuh>'s find_devices asks
/// CUDA and decides here).

#include <cstring>
#include <string>

namespace asgd::inline v0::cuda {

/// What a device query found.
enum class device_presence {
  present,  ///< at least one device
  absent,   ///< none: the query said "no device" or 0 devices, or no NVIDIA driver is installed
  failed,   ///< CUDA failed in another way (an old or mismatched driver, an initialization error)
};

/// The decision from cudaGetDeviceCount's answer: `query_ok` (it returned cudaSuccess),
/// `no_device` (it returned cudaErrorNoDevice), `count`, and `driver_installed` (the driver
/// library, libcuda.so.1, loads). A missing driver is absence (a machine without a GPU has
/// none); every other error is a failure, never a silent "no device".
[[nodiscard]] constexpr device_presence classify_devices(bool query_ok, bool no_device, int count,
                                                         bool driver_installed) noexcept {
  if (query_ok) return count > 0 ? device_presence::present : device_presence::absent;
  if (no_device || !driver_installed) return device_presence::absent;
  return device_presence::failed;
}

/// True when the environment variable ASGD_REQUIRE_GPU (its value `value`, nullptr when unset)
/// asks that a missing device fail instead of skip: set, and neither empty nor "0".
[[nodiscard]] inline bool gpu_required(const char* value) noexcept {
  return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
}

}  // namespace asgd::inline v0::cuda
