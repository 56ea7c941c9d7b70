// asgd-train's GPU entry point: picks this process's device, opens the NCCL communicator under
// --transport nccl, and runs the mode. Built into the module asgd-train-gpu, which asgd-train
// loads on demand (gpu_module.cpp). The three modes are one translation unit with the entry
// point: most of each one's nvcc time is the headers and device code they share (one unit of
// the three compiled in 52 s, where hogwild's alone took 46 s).
#include "gpu_run.cuh"

#include <asgd/cuda/error.cuh>

#include <cuda_runtime.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

namespace asgd_train {

// No device is an error either way; under ASGD_REQUIRE_GPU (set by scripts/gpu-check.sh) it is
// worded so that the CLI tests' skip pattern ("no CUDA device") does not take it for a skip.
int cuda_devices() {
  const auto found = asgd::cuda::find_devices();  // a broken CUDA throws cuda_error
  if (found.count == 0) {
    if (asgd::cuda::gpu_required(std::getenv("ASGD_REQUIRE_GPU"))) {
      throw std::runtime_error("asgd-train: --device cuda: ASGD_REQUIRE_GPU is set and this machine has none (" +
                               found.why + ")");
    }
    throw std::runtime_error("asgd-train: --device cuda: no CUDA device (" + found.why + ")");
  }
  return found.count;
}

// --mode hogwild: the device store's hogwild_writes.
gpu_outcome train_gpu_hogwild(const gpu_job& job, gpu_nccl* nccl) {
  return gpu_with_rule(job, asgd::cuda::hogwild_writes{}, nccl);
}

// --mode atomic_add: the device store's atomic_add_writes.
gpu_outcome train_gpu_atomic_add(const gpu_job& job, gpu_nccl* nccl) {
  return gpu_with_rule(job, asgd::cuda::atomic_add_writes{}, nccl);
}

// --mode leashed: the device store's versioned publish (Leashed-SGD's protocol on the GPU), with
// --persistence.
gpu_outcome train_gpu_leashed(const gpu_job& job, gpu_nccl* nccl) {
  return gpu_with_rule(job, asgd::cuda::versioned_publish{.persistence = job.persistence}, nccl);
}

gpu_outcome train_on_gpu(const gpu_job& job) {
  [[maybe_unused]] const int devices = cuda_devices();
  std::unique_ptr<gpu_nccl> nccl;
  int device = 0;
#if ASGD_TRAIN_WITH_NCCL
  if (job.ranks != nullptr) device = static_cast<int>(job.ranks->node_id() % static_cast<std::size_t>(devices));
#endif
  asgd::cuda::check("cudaSetDevice", cudaSetDevice(device));
  cudaDeviceProp properties{};
  asgd::cuda::check("cudaGetDeviceProperties", cudaGetDeviceProperties(&properties, device));
#if ASGD_TRAIN_WITH_NCCL
  if (job.ranks != nullptr) nccl = std::make_unique<gpu_nccl>(*job.ranks);
#endif
  gpu_outcome out = job.mode == "atomic_add" ? train_gpu_atomic_add(job, nccl.get())
                    : job.mode == "leashed"  ? train_gpu_leashed(job, nccl.get())
                                             : train_gpu_hogwild(job, nccl.get());
  out.device = properties.name;
  return out;
}

}  // namespace asgd_train

/// The one symbol this module exports (everything else is hidden): asgd-train's loader looks it up.
extern "C" __attribute__((visibility("default"))) const asgd_train::gpu_module_api* asgd_train_gpu_module() {
  static constexpr asgd_train::gpu_module_api api{&asgd_train::cuda_devices, &asgd_train::train_on_gpu};
  return &api;
}
