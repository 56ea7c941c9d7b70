// The NCCL transport and a GPU node's averager (label gpu), one rank per GPU: the communicator
// bootstraps over MPI, all_reduce_mean is the mean over the ranks, bad exchanges are refused;
// nodes of W workers each that average while they train (every mode, all-reduce and gossip
// rounds, quantized) learn and end on one model. On one GPU that is one rank, whose rounds
// must leave its model as they find it; `mpirun -np N test_nccl_gpu` on N GPUs runs the same
// checks across N nodes. Without a CUDA device: a message and exit code 77 (skipped).
// `--stall-test` (two ranks on two GPUs) checks that a rank that stops answering ends the run.

#define DOCTEST_CONFIG_IMPLEMENT
#include <asgd/cuda/averager.cuh>
#include <asgd/cuda/local_async.cuh>
#include <asgd/cuda/nccl.cuh>
#include <asgd/quantize/fp16.hpp>
#include <asgd/quantize/qsgd.hpp>
#include <asgd/select/partitioned.hpp>
#include <asgd/select/round_robin.hpp>
#include <asgd/topology/all_reduce.hpp>
#include <asgd/topology/ring.hpp>
#include <asgd/topology/random_pairs.hpp>

#include "mlp_problem.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace cu = asgd::cuda;

namespace {

// The largest difference between this rank's model and rank 0's.
float distance_to_rank0(const asgd::transport::mpi& ranks, std::vector<float> model) {
  std::vector<float> first = model;
  MPI_Bcast(first.data(), static_cast<int>(first.size()), MPI_FLOAT, 0, ranks.communicator());
  float d = 0.0f;
  for (std::size_t i = 0; i < model.size(); ++i) d = std::max(d, std::abs(model[i] - first[i]));
  return d;
}

template <class Mode, class Selector, class Topology>
void nodes_train(const Mode& mode, const Selector& selector, const Topology& topology, cu::wire_format wire) {
  asgd::transport::mpi ranks;
  cu::nccl_transport nccl(ranks);
  // Shards of 4,000 and 4,001 samples over several ranks: every node takes the smallest one's
  // steps and rounds (a rank with one more round would wait in a collective for ever).
  const auto p = asgd_test::make_quadrant_problem(4000 * ranks.node_count() + ranks.node_count() - 1, {32}, 1);
  const auto m = cu::mlp_layout::of(p.layout, 64);
  cu::device_averager<Topology> averager(nccl, topology, wire, m.dimension, 5);
  const cu::local_async_settings s{.workers = 4, .epochs = 3.0, .batch = 16, .lr = 0.05f, .seed = 3,
                                   .node = ranks.node_id(), .nodes = ranks.node_count(), .average_every = 8,
                                   .consensus_every = 16};
  const auto r = cu::train_local_async(m, *p.train, p.initial, mode, selector, asgd::update::momentum{.mu = 0.9f},
                                       p.layout, s, averager);
  const double accuracy = asgd_test::test_accuracy(p, r.model);
  MESSAGE(Mode::name << ", " << wire.name() << ": accuracy " << accuracy << ", " << r.rounds << " rounds in "
                     << averager.seconds() << " s, " << averager.bytes_sent() << " bytes sent");
  CHECK(r.steps == 3 * 4000 / 16);
  CHECK(r.rounds == r.steps / 8);
  CHECK(averager.rounds() == r.rounds);
  CHECK(r.consensus.size() == r.rounds / 16);
  for (std::size_t k = 0; k < r.consensus.size(); ++k) CHECK(r.consensus[k].round == 16 * (k + 1));
  CHECK(std::isfinite(r.final_consensus_distance));
  if (ranks.node_count() == 1) CHECK(r.final_consensus_distance == 0.0);
  CHECK(accuracy > 0.9);
  CHECK(distance_to_rank0(ranks, r.model) < 1e-5f);  // the final average: one model on every node
}

}  // namespace

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
    cu::check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    nccl.all_reduce_mean(dx.data(), n, stream);
    nccl.synchronize(stream, "the test's all-reduce");
    // ncclAvg divides a float sum: exact for 1, 2, 4 or 8 ranks, within rounding for 3, 5, 6, 7.
    const float mean_rank = static_cast<float>(ranks.node_count() - 1) / 2.0f;
    const auto got = dx.download();
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (!asgd_test::within_ulps(got[i], mean_rank + static_cast<float>(i % 7), 2)) ++wrong;
    CHECK(wrong == 0);

    std::byte* none[1] = {nullptr};
    const std::size_t self[1] = {ranks.node_id()};
    CHECK_THROWS_AS(nccl.exchange(self, nullptr, 4, none, stream), std::invalid_argument);
    CHECK_THROWS_AS(nccl.exchange({}, nullptr, 4, none, stream), std::invalid_argument);
    cudaStreamDestroy(stream);
  }

  TEST_CASE("device_averager: a round adds mix - snapshot; over one rank it leaves the model as it is") {
    asgd::transport::mpi ranks;
    cu::nccl_transport nccl(ranks);
    const std::size_t n = 10'000;
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(ranks.node_id()) + 0.001f * static_cast<float>(i);
    cu::device_store<cu::hogwild_writes> store(cu::hogwild_writes{}, 1, x);
    auto w = store.make_worker(cu::sgd_math{});
    cu::device_averager<asgd::topology::all_reduce> averager(nccl, {}, cu::wire_format::of(asgd::quantize::identity{}),
                                                             n, 1);
    averager.round(store, w, 0);
    const float mean_rank = static_cast<float>(ranks.node_count() - 1) / 2.0f;
    const auto got = store.download();
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (std::abs(got[i] - (mean_rank + 0.001f * static_cast<float>(i))) > 1e-5f) ++wrong;
    CHECK(wrong == 0);
    CHECK(averager.rounds() == 1);
    CHECK_THROWS_AS(cu::device_averager<asgd::topology::ring>(nccl, {}, cu::wire_format{}, 0, 1), std::invalid_argument);
  }

  TEST_CASE("device_averager: the consensus distance is the sum over the nodes of |x_i - mean|^2") {
    asgd::transport::mpi ranks;
    cu::nccl_transport nccl(ranks);
    const std::size_t n = 50'000;
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = 2.0f * static_cast<float>(ranks.node_id()) + 0.001f * static_cast<float>(i % 100);
    cu::device_store<cu::hogwild_writes> store(cu::hogwild_writes{}, 1, x);
    auto w = store.make_worker(cu::sgd_math{});
    cu::device_averager<asgd::topology::ring> averager(nccl, {}, cu::wire_format::of(asgd::quantize::fp16{}), n, 1);
    // Node r's coordinates sit 2 (r - mean rank) from the mean: n * sum_r 4 (r - mean rank)^2.
    double expected = 0.0;
    const double mean_rank = static_cast<double>(ranks.node_count() - 1) / 2.0;
    for (std::size_t r = 0; r < ranks.node_count(); ++r) {
      expected += 4.0 * (static_cast<double>(r) - mean_rank) * (static_cast<double>(r) - mean_rank);
    }
    expected *= static_cast<double>(n);
    CHECK(averager.consensus_distance(store, w) == doctest::Approx(expected).epsilon(1e-4));
    CHECK(store.download() == x);  // measuring leaves the model alone
    CHECK(averager.average_all(store, w) == doctest::Approx(expected).epsilon(1e-4));
    CHECK(averager.consensus_distance(store, w) < 1e-6 * (1.0 + expected));  // one model everywhere now
  }

  TEST_CASE("device_averager: nodes that average while training learn and end on one model, every mode") {
    const auto fp16 = cu::wire_format::of(asgd::quantize::fp16{});
    const auto qsgd8 = cu::wire_format::of(asgd::quantize::qsgd<8>{});
    const auto full = cu::wire_format::of(asgd::quantize::identity{});
    nodes_train(cu::hogwild_writes{}, asgd::select::partitioned{}, asgd::topology::all_reduce{}, full);
    nodes_train(cu::atomic_add_writes{}, asgd::select::round_robin{}, asgd::topology::ring{}, fp16);
    nodes_train(cu::versioned_publish{}, asgd::select::partitioned{}, asgd::topology::random_pairs{}, qsgd8);
  }
}

namespace {

// `mpirun -np 2 test_nccl_gpu --stall-test` on two GPUs: rank 1 joins the communicator, then
// stops answering. Rank 0's exchange with it must end in a transport_error within the 2 s
// timeout, after which the transport refuses every operation; leaving the environment's scope
// then aborts the job, which ends the sleeping rank too (no hang). CTest reads the line printed.
int stall_test(int devices) {
  asgd::transport::mpi ranks(asgd::transport::mpi::options{.timeout = 2});
  if (devices < 2 || ranks.node_count() != 2) {
    if (ranks.node_id() == 0) {
      std::printf("the stalled-rank test needs 2 ranks on 2 CUDA devices (here %zu ranks, %d devices): skipped\n",
                  ranks.node_count(), devices);
    }
    return 0;
  }
  cu::nccl_transport nccl(ranks);
  if (ranks.node_id() == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(600));
    return 1;
  }
  const std::size_t n = 1024;
  cu::device_array<float> mine(n), theirs(n);
  cudaStream_t stream = nullptr;
  cu::check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const std::size_t peer[1] = {1};
  std::byte* into[1] = {reinterpret_cast<std::byte*>(theirs.data())};
  const auto start = std::chrono::steady_clock::now();
  try {
    nccl.exchange(peer, reinterpret_cast<const std::byte*>(mine.data()), n * sizeof(float), into, stream);
    nccl.synchronize(stream, "the stall test's exchange");
  } catch (const asgd::transport_error& e) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bool refused = false;
    try {
      nccl.all_reduce_mean(mine.data(), n, stream);
    } catch (const asgd::transport_error&) {
      refused = true;
    }
    std::printf("rank 0: transport_error after %.2f s (%s, %s): %s\n", s, s < 4.0 ? "in time" : "too late",
                refused ? "then refused" : "then still used", e.what());
    std::fflush(stdout);
    cudaStreamDestroy(stream);
    return s < 4.0 && refused ? 0 : 1;
  }
  std::printf("rank 0: the exchange completed without the stalled rank\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int devices = asgd_test::devices_or_skip();
  if (devices <= 0) return asgd_test::exit_without_devices(devices);
  asgd::transport::mpi::environment environment(argc, argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--stall-test") == 0) {
      cu::check("cudaSetDevice", cudaSetDevice(rank % devices));
      return stall_test(devices);
    }
  // NCCL refuses two ranks of one communicator on one GPU ("duplicate GPU"): more ranks than
  // devices cannot run the cases (CTest's gpu:nccl_two_ranks reads this line as a skip).
  if (size > devices) {
    if (rank == 0) std::printf("%d ranks need %d CUDA devices (NCCL: one rank per GPU), here %d: skipped\n", size, size, devices);
    return 0;
  }
  cu::check("cudaSetDevice", cudaSetDevice(rank));
  doctest::Context context(argc, argv);
  return context.run();
}
