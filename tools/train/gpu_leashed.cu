// asgd-train --device cuda --mode leashed: the device store's versioned publish (Leashed-SGD's
// protocol on the GPU), with --persistence.
#include "gpu_run.cuh"

namespace asgd_train {
gpu_outcome train_gpu_leashed(const gpu_job& job, gpu_nccl* nccl) {
  return gpu_with_rule(job, asgd::cuda::versioned_publish{.persistence = job.persistence}, nccl);
}
}  // namespace asgd_train
