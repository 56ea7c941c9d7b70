// asgd-train --device cuda --mode atomic_add: the device store's atomic_add_writes.
#include "gpu_run.cuh"

namespace asgd_train {
gpu_outcome train_gpu_atomic_add(const gpu_job& job, gpu_nccl* nccl) {
  return gpu_with_rule(job, asgd::cuda::atomic_add_writes{}, nccl);
}
}  // namespace asgd_train
