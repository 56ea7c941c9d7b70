// The NCCL transport on a GPU (label gpu), one rank (this machine's one GPU): the communicator
// bootstraps over MPI, the mean over one rank leaves the model as it is, and bad exchanges are
// refused. Several ranks need several GPUs: `mpirun -np N test_nccl_gpu` runs the same checks
// with the mean over N ranks. Without a CUDA device: a message and exit code 77 (skipped).

#define DOCTEST_CONFIG_IMPLEMENT
#include <asgd/cuda/nccl.cuh>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <vector>

namespace cu = asgd::cuda;

TEST_SUITE("gpu") {
  TEST_CASE("nccl_transport: all_reduce_mean is the mean over the ranks; bad exchanges are refused") {
    asgd::transport::mpi ranks;
    cu::nccl_transport nccl(ranks);
    CHECK(nccl.node_id() == ranks.node_id());
    CHECK(nccl.node_count() == ranks.node_count());
    const std::size_t n = 1 << 20;
    const auto rank = static_cast<float>(ranks.node_id());
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = rank + static_cast<float>(i % 7);
    cu::device_array<float> dx{std::span<const float>(x)};
    cudaStream_t stream = nullptr;
    cu::check("cudaStreamCreate", cudaStreamCreate(&stream));
    nccl.all_reduce_mean(dx.data(), n, stream);
    cu::check("cudaStreamSynchronize", cudaStreamSynchronize(stream));
    const float mean_rank = static_cast<float>(ranks.node_count() - 1) / 2.0f;
    const auto got = dx.download();
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (got[i] != mean_rank + static_cast<float>(i % 7)) ++wrong;
    CHECK(wrong == 0);

    std::byte* none[1] = {nullptr};
    const std::size_t self[1] = {ranks.node_id()};
    CHECK_THROWS_AS(nccl.exchange(self, nullptr, 4, none, stream), std::invalid_argument);
    CHECK_THROWS_AS(nccl.exchange({}, nullptr, 4, none, stream), std::invalid_argument);
    cudaStreamDestroy(stream);
  }
}

int main(int argc, char** argv) {
  const int devices = asgd_test::devices_or_skip();
  if (devices == 0) return asgd_test::skipped;
  asgd::transport::mpi::environment environment(argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  cu::check("cudaSetDevice", cudaSetDevice(rank % devices));
  doctest::Context context(argc, argv);
  return context.run();
}
