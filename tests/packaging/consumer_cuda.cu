// The CUDA and NCCL consumer: asgd::nccl (and through it asgd::cuda and asgd::mpi) from the
// installed package. Built with nvcc, it links cudart and NCCL; on a machine with a GPU it runs
// one device update and checks it against the host reference, elsewhere it says there is no
// device and stops there (the build and the link are what packaging checks).
#include <asgd/cuda/nccl.cuh>
#include <asgd/cuda/update.cuh>

#include <cstdio>
#include <vector>

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("asgd::cuda and asgd::nccl linked (NCCL %d); no CUDA device to run on\n", NCCL_VERSION_CODE);
    return 0;
  }
  namespace cu = asgd::cuda;
  const auto math = cu::device_math(asgd::update::sgd{});
  std::vector<float> x(1000, 1.0f), g(100, 0.5f);
  cu::device_array<float> dx{std::span<const float>(x)}, dg{std::span<const float>(g)};
  cu::update_block<cu::hogwild_writes>(math, dx.data(), x.size(), 10, dg.data(), g.size(), nullptr, 0.1f, nullptr);
  cu::check("cudaDeviceSynchronize", cudaDeviceSynchronize());
  cu::reference_update(math, std::span<float>(x), 10, std::span<const float>(g), {}, 0.1f);
  const bool same = dx.download() == x;
  std::printf("asgd::cuda on a device: the update %s the host reference\n", same ? "matches" : "DIFFERS from");
  return same ? 0 : 1;
}
