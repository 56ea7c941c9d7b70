// asgd-train --device cuda --mode hogwild: the device store's hogwild_writes.
#include "gpu_run.cuh"

namespace asgd_train {
gpu_outcome train_gpu_hogwild(const gpu_job& job, gpu_nccl* nccl) {
  return gpu_with_rule(job, asgd::cuda::hogwild_writes{}, nccl);
}
}  // namespace asgd_train
