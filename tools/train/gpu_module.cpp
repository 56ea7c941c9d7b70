// asgd-train built with CUDA: the GPU path lives in the module asgd-train-gpu beside the
// executable, loaded the first time a run needs a GPU, so that a CPU run neither maps cuBLAS
// and NCCL nor runs their initialisers.
#include "gpu.hpp"

#include <dlfcn.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace asgd_train {

namespace {

// Beside the executable (both are build outputs of one directory); the bare name where
// /proc/self/exe cannot be read, which leaves the search to the dynamic loader.
std::string module_path() {
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return ASGD_TRAIN_GPU_MODULE;
  return (exe.parent_path() / ASGD_TRAIN_GPU_MODULE).string();
}

const gpu_module_api& module() {
  static const gpu_module_api* const api = [] {
    const std::string path = module_path();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      throw std::runtime_error(std::string("asgd-train: --device cuda: cannot load the GPU module: ") +
                               (why != nullptr ? why : path) +
                               " (it is built beside asgd-train: cmake --build <dir> --target asgd-train)");
    }
    void* entry = dlsym(handle, "asgd_train_gpu_module");
    if (entry == nullptr) {
      throw std::runtime_error("asgd-train: --device cuda: " + path + " has no asgd_train_gpu_module entry point");
    }
    return reinterpret_cast<const gpu_module_api* (*)()>(entry)();
  }();
  return *api;
}

}  // namespace

bool built_with_cuda() { return true; }
bool built_with_nccl() { return ASGD_TRAIN_WITH_NCCL != 0; }

int cuda_devices() { return module().cuda_devices(); }

gpu_outcome train_on_gpu(const gpu_job& job) { return module().train_on_gpu(job); }

}  // namespace asgd_train
