// Averaging rounds over Open MPI, a node per rank: latency and GB/s against model size per
// topology (and quantizer), as bench_averaging measures them over the in-process transport.
//
// Run under mpirun (as root, Open MPI also wants OMPI_ALLOW_RUN_AS_ROOT=1 and
// OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; more ranks than cores want --oversubscribe):
//
//   mpirun -np 2 build-release/bench/bench_averaging_mpi
//   mpirun -np 4 --oversubscribe build-release/bench/bench_averaging_mpi --benchmark_filter=all_reduce
//
// A round is collective, so every rank must run the same rounds: each benchmark has a fixed
// round count (about 80 MB of model per measurement, at least 10 rounds) instead of Google
// Benchmark's adaptive one, which would differ between ranks and leave one waiting; ranks start
// each measurement together. Every rank measures; rank 0 prints (its own figures) and writes
// --benchmark_out. bm_copy (memcpy, no communication, so Google Benchmark's own count) runs on
// every rank at once, as the rounds do.
#include "averaging_table.hpp"

#include <asgd/asgd.hpp>
#include <asgd/detail/averager.hpp>
#include <asgd/transport/mpi.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace t = asgd::topology;
namespace q = asgd::quantize;
using asgd::transport::mpi;

benchmark::IterationCount rounds_for(std::int64_t d) { return std::max<std::int64_t>(10, 20'000'000 / d); }

template <class Topo, class Quant>
void bm_round(benchmark::State& state) {
  const auto d = static_cast<std::size_t>(state.range(0));
  const Topo topology{};
  const Quant quantizer{};
  mpi transport;  // collective (a duplicated communicator): every rank builds it here
  asgd::detail::averager<Topo, mpi, Quant> averager(topology, transport, quantizer, d, 1);
  std::vector<float> snapshot(d, static_cast<float>(transport.node_id())), mixed(d);
  averager.round(0, snapshot, mixed);  // untimed: allocates the buffers later rounds reuse
  float start[1] = {0.0f};
  transport.all_reduce_mean(start);  // the ranks start the clock together
  const std::uint64_t sent_before = averager.bytes_sent();
  std::uint64_t round = 1;
  for (auto _ : state) {
    averager.round(round++, snapshot, mixed);
    benchmark::ClobberMemory();
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.counters["GB/s"] =
      benchmark::Counter(4.0 * static_cast<double>(d) * iterations / 1e9, benchmark::Counter::kIsRate);
  state.counters["wire GB/s"] =
      benchmark::Counter(static_cast<double>(averager.bytes_sent() - sent_before) / 1e9, benchmark::Counter::kIsRate);
  state.counters["ranks"] = static_cast<double>(transport.node_count());
}

// The MPI library's own blocking MPI_Allreduce of d floats on MPI_COMM_WORLD: what the
// all_reduce round (non-blocking MPI_Iallreduce, polled from the averager) compares with.
void bm_round_mpi_allreduce(benchmark::State& state) {
  const auto d = static_cast<int>(state.range(0));
  std::vector<float> v(static_cast<std::size_t>(d), 1.0f);
  MPI_Barrier(MPI_COMM_WORLD);
  for (auto _ : state) {
    if (MPI_Allreduce(MPI_IN_PLACE, v.data(), d, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
      state.SkipWithError("MPI_Allreduce failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] =
      benchmark::Counter(4.0 * d * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

template <class Topo, class Quant>
void register_rounds(const std::string& name) {
  for (auto d : asgd_bench::model_sizes) {
    benchmark::RegisterBenchmark(("bm_round<" + name + ">").c_str(), bm_round<Topo, Quant>)
        ->Arg(d)
        ->Iterations(asgd_bench::iterations(rounds_for(d)))
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

const bool registered = [] {
  for (auto d : asgd_bench::model_sizes) {
    benchmark::RegisterBenchmark("bm_copy", asgd_bench::bm_copy)->Arg(d)->Unit(benchmark::kMicrosecond);
  }
  for (auto d : asgd_bench::model_sizes) {
    benchmark::RegisterBenchmark("bm_round<MPI_Allreduce, blocking>", bm_round_mpi_allreduce)
        ->Arg(d)
        ->Iterations(asgd_bench::iterations(rounds_for(d)))
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  register_rounds<t::all_reduce, q::identity>("all_reduce");
  register_rounds<t::ring, q::identity>("ring");
  register_rounds<t::random_pairs, q::identity>("random_pairs");
  register_rounds<t::random_pairs, q::qsgd<8>>("random_pairs,qsgd8");
  return true;
}();

// Ranks other than 0 measure without printing.
class silent_reporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  try {
    mpi::environment environment(argc, argv);
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    // --benchmark_out=FILE: only rank 0 may see it. Google Benchmark opens (truncates) the file on
    // every rank that does, so a late rank would truncate what rank 0 had written (CI saw a file
    // starting with zero bytes).
    if (rank != 0) {
      int kept = 1;
      for (int i = 1; i < argc; ++i) {
        const std::string_view arg(argv[i]);
        if (!arg.starts_with("--benchmark_out=") && !arg.starts_with("--benchmark_out_format=")) argv[kept++] = argv[i];
      }
      argc = kept;
      argv[argc] = nullptr;
    }
    asgd_bench::add_context();
    benchmark::AddCustomContext("mpi_ranks", std::to_string(ranks));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    if (rank == 0) {
      asgd_bench::recorder reporter;
      benchmark::RunSpecifiedBenchmarks(&reporter);
      asgd_bench::print_round_table(reporter, ("averaging round, mpi, " + std::to_string(ranks) + " ranks").c_str());
    } else {
      silent_reporter display;
      benchmark::RunSpecifiedBenchmarks(&display);
    }
    benchmark::Shutdown();
    return 0;
  } catch (const std::exception& e) {
    // Leaving the environment's scope after a transport error aborts the job (no rank hangs).
    std::fprintf(stderr, "bench_averaging_mpi: %s\n", e.what());
    return 1;
  }
}
