#pragma once
// asgd-train's GPU path (--device cuda): W workers train the MLP on one GPU with a device
// store's mode and a block selector; under mpirun with --transport nccl every rank is a node
// on its own GPU, averaging through NCCL while its workers train. The GPU side lives in
// gpu*.cu (nvcc, built with ASGD_ENABLE_CUDA); this header carries only host types, because
// the host side (main.cpp) holds the Eigen network, which does not compile under nvcc.

#include <asgd/data/images.hpp>
#include <asgd/report.hpp>
#include <asgd/schedule.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace asgd::inline v0::transport {
class mpi;
}

namespace asgd_train {

/// One GPU training run: the problem, the policies by name (checked by the option parser) and
/// the settings. `ranks` is set for --transport nccl (this process is one of its nodes).
struct gpu_job {
  const asgd::data::image_set* train = nullptr;
  asgd::block_layout layout;  ///< the host network's blocks (an MLP's)
  std::size_t inputs = 0;     ///< pixels per image
  std::vector<float> initial;
  std::string mode;  ///< hogwild, atomic_add or leashed
  std::size_t persistence = 0;
  std::string select;
  std::size_t blocks = 0;
  double select_warmup = 1.0;
  bool nesterov = false;
  float momentum = 0.9f;
  float weight_decay = 0.0f;
  float lr = 0.01f;
  asgd::schedule lr_schedule;
  std::size_t workers = 4;
  double epochs = 1.0;
  std::uint64_t steps = 0;  ///< instead of epochs when not 0
  std::size_t batch = 16;
  std::uint64_t seed = 1;
  // --transport nccl
  const asgd::transport::mpi* ranks = nullptr;
  std::string topology;
  double fraction = 0.5;
  std::string quantize;
  std::size_t average_every = 8;
  bool final_average = true;
  std::size_t consensus_every = 0;  ///< rounds between consensus-distance measurements (0: the end only)
};

/// What a GPU run did.
struct gpu_outcome {
  std::vector<float> model;
  std::string device;  ///< the GPU's name
  std::uint64_t steps = 0;
  std::uint64_t dropped = 0;
  std::uint64_t conflicts = 0;
  std::uint64_t staleness_sum = 0;
  double seconds = 0.0;
  float last_loss = 0.0f;
  std::size_t node = 0;
  std::size_t nodes = 1;
  std::uint64_t rounds = 0;
  double averaging_seconds = 0.0;
  std::uint64_t bytes_sent = 0;
  std::vector<asgd::consensus_point> consensus;
  double final_consensus_distance = 0.0;  ///< before the final average
};

/// True when this asgd-train was built with the CUDA (and NCCL) back end.
bool built_with_cuda();
bool built_with_nccl();

/// The number of visible CUDA devices. @throws std::runtime_error saying why there is none.
int cuda_devices();

/// Trains on this process's GPU (rank modulo the visible devices).
/// @throws std::runtime_error when there is no CUDA device, and the back end's errors.
gpu_outcome train_on_gpu(const gpu_job& job);

/// The GPU module's entry points. The GPU path (gpu*.cu, with cuBLAS, the CUDA runtime and NCCL)
/// is a shared module that asgd-train loads only when a run asks for the GPU
/// (gpu_module.cpp): linked into the executable, cuBLASLt's initialisers alone made every start
/// take 0.35 s and 150 MB more, --device cpu included.
struct gpu_module_api {
  int (*cuda_devices)();
  gpu_outcome (*train_on_gpu)(const gpu_job&);
};

// One per mode, in gpu_<mode>.cu. `nccl` is the node's transport (nullptr: one GPU alone).
class gpu_nccl;
gpu_outcome train_gpu_hogwild(const gpu_job& job, gpu_nccl* nccl);
gpu_outcome train_gpu_atomic_add(const gpu_job& job, gpu_nccl* nccl);
gpu_outcome train_gpu_leashed(const gpu_job& job, gpu_nccl* nccl);

}  // namespace asgd_train
