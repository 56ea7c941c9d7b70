#pragma once
/// @file
/// CUDA runtime errors as exceptions that name the call, and device memory owned by RAII.

#include <asgd/cuda/device_presence.hpp>

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::cuda {

/// A CUDA runtime call failed; what() names the call and CUDA's error.
class cuda_error : public std::runtime_error {
 public:
  cuda_error(const char* call, cudaError_t code)
      : std::runtime_error(std::string("asgd: cuda: ") + call + " failed: " + cudaGetErrorString(code) + " (" +
                           cudaGetErrorName(code) + ")"),
        code_(code) {}
  [[nodiscard]] cudaError_t code() const noexcept { return code_; }

 private:
  cudaError_t code_;
};

/// Throws cuda_error naming `call` unless `code` is cudaSuccess.
inline void check(const char* call, cudaError_t code) {
  if (code != cudaSuccess) throw cuda_error(call, code);
}

/// The CUDA devices this process sees; with none, `why` says why.
struct visible_devices {
  int count = 0;
  std::string why;
};

/// The devices, or none where the machine has none (cudaGetDeviceCount says "no device" or 0,
/// or no NVIDIA driver is installed: libcuda.so.1 does not load).
/// @throws cuda_error for any other failure of the query (a driver too old for this runtime, an
///         initialization error): a broken CUDA is an error, not an absent GPU.
inline visible_devices find_devices() {
  int count = 0;
  const cudaError_t code = cudaGetDeviceCount(&count);
  bool driver = true;
  if (code != cudaSuccess && code != cudaErrorNoDevice) {
    void* library = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    driver = library != nullptr;
    if (library != nullptr) dlclose(library);
  }
  switch (classify_devices(code == cudaSuccess, code == cudaErrorNoDevice, count, driver)) {
    case device_presence::present: return {count, {}};
    case device_presence::absent:
      return {0, code == cudaSuccess ? "cudaGetDeviceCount: 0 devices"
                 : driver            ? std::string("cudaGetDeviceCount: ") + cudaGetErrorString(code)
                                     : "no NVIDIA driver: libcuda.so.1 cannot be loaded"};
    case device_presence::failed: break;
  }
  throw cuda_error("cudaGetDeviceCount", code);
}

/// Copies `host` to device memory at `device`, finished when it returns: from pageable memory
/// cudaMemcpy may return before its DMA lands, and streams made with cudaStreamNonBlocking (the
/// workers', the averager's) do not wait for the legacy stream it ran on.
template <class T>
void upload_now(T* device, std::span<const T> host) {
  if (host.empty()) return;
  check("cudaMemcpy (host to device)", cudaMemcpy(device, host.data(), host.size_bytes(), cudaMemcpyHostToDevice));
  check("cudaStreamSynchronize (host to device)", cudaStreamSynchronize(nullptr));
}

/// `n` elements of T in device memory (cudaMalloc), freed when it goes out of scope. Movable,
/// not copyable; the bytes start undefined.
template <class T>
class device_array {
 public:
  device_array() = default;
  explicit device_array(std::size_t n) : size_(n) {
    if (n > 0) check("cudaMalloc", cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T)));
  }
  /// A copy of `host` on the device.
  explicit device_array(std::span<const T> host) : device_array(host.size()) { upload(host); }
  device_array(device_array&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  device_array& operator=(device_array&& o) noexcept {
    if (this != &o) {
      release();
      data_ = o.data_;
      size_ = o.size_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
  ~device_array() { release(); }

  [[nodiscard]] T* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// Copies `host` (exactly size() elements) to the device; synchronous: the data is there for
  /// any stream once it returns.
  void upload(std::span<const T> host) {
    if (host.size() != size_) {
      throw std::invalid_argument("asgd: cuda::device_array::upload: " + std::to_string(host.size()) +
                                  " elements for an array of " + std::to_string(size_));
    }
    upload_now(data_, host);
  }
  /// The array's elements on the host; synchronous.
  [[nodiscard]] std::vector<T> download() const {
    std::vector<T> host(size_);
    if (size_ > 0) check("cudaMemcpy (device to host)", cudaMemcpy(host.data(), data_, size_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  void release() noexcept {
    if (data_ != nullptr) cudaFree(data_);  // an error here has nowhere to go; the memory is gone either way
    data_ = nullptr;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace asgd::inline v0::cuda
