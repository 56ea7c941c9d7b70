// asgd-train built without CUDA: --device cuda is refused by the option parser, with this
// answer to built_with_cuda().
#include "gpu.hpp"

#include <stdexcept>

namespace asgd_train {

bool built_with_cuda() { return false; }
bool built_with_nccl() { return false; }

int cuda_devices() { throw std::logic_error("asgd-train: cuda_devices called in a build without CUDA"); }

gpu_outcome train_on_gpu(const gpu_job& /*job*/) {
  throw std::logic_error("asgd-train: train_on_gpu called in a build without CUDA");
}

}  // namespace asgd_train
