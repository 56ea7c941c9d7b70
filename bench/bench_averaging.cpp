// Averaging rounds: latency and GB/s against model size, per topology (and quantizer), over the
// in-process transport; and the share of exchange time that non-blocking averaging hides behind
// the workers on the Fashion-MNIST MLP; and each quantizer's encode and decode.
//
// bm_round/<d>/threads:<n>: n nodes (one benchmark thread each, the node id is the thread index)
// run averaging rounds of a d-float model in lockstep; one iteration is one round of every node
// (detail::averager::round: snapshot -> encode -> exchange or all-reduce -> decode -> mix). GB/s
// counts the model bytes one node averages per second (4 d per round); `wire GB/s` the bytes it
// sent. bm_copy/<d> is memcpy of d floats measured in the same process, the bound of a round
// that must at least read every peer's model once: `ratio to copy` in the summary table.
//
// bm_mlp_overlap/<blocking>: 4 nodes x 2 worker threads train the MLP for 2,000 node steps,
// averaging every 8 (LAP-SGD when 0, blocking local SGD when 1); counters: overlap (the share of
// exchange time during which the node's workers kept computing), exchange seconds, and the
// run's wall time. Needs Fashion-MNIST (scripts/setup.sh).
//
// bm_codec/<Q>/d:<d>/decode:<0|1>: one encode (or decode) of d Gaussian floats per iteration;
// `ns/coordinate`.
//
//   bench_averaging                                   # everything, about 2 minutes here
//   bench_averaging --benchmark_filter=bm_codec
//   bench_averaging --benchmark_filter=bm_mlp_overlap
#include "averaging_table.hpp"

#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>
#include <asgd/detail/averager.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace t = asgd::topology;
namespace q = asgd::quantize;
using asgd::transport::in_process;

// One run's nodes: endpoints, averagers and buffers, built before the threads start.
template <class Topo, class Quant>
struct round_fixture {
  struct node {
    explicit node(in_process ep, std::size_t d)
        : endpoint(std::move(ep)),
          averager(topology, endpoint, quantizer, d, 1),
          snapshot(d, static_cast<float>(endpoint.node_id())),
          mixed(d) {}
    Topo topology{};
    Quant quantizer{};
    in_process endpoint;
    asgd::detail::averager<Topo, in_process, Quant> averager;
    std::vector<float> snapshot, mixed;
  };
  static inline std::vector<std::unique_ptr<node>> nodes;
  static void setup(const benchmark::State& s) {
    const auto d = static_cast<std::size_t>(s.range(0));
    auto group = in_process::group(static_cast<std::size_t>(s.threads()));
    nodes.clear();
    for (auto& ep : group) nodes.push_back(std::make_unique<node>(std::move(ep), d));
  }
  static void teardown(const benchmark::State&) { nodes.clear(); }
};

template <class Topo, class Quant>
void bm_round(benchmark::State& state) {
  auto& n = *round_fixture<Topo, Quant>::nodes[static_cast<std::size_t>(state.thread_index())];
  // One untimed round first: it allocates the message buffers, which later rounds reuse.
  n.averager.round(0, n.snapshot, n.mixed);
  const std::uint64_t sent_before = n.averager.bytes_sent();
  std::uint64_t round = 1;
  for (auto _ : state) {
    n.averager.round(round++, n.snapshot, n.mixed);
    benchmark::ClobberMemory();
  }
  const auto iterations = static_cast<double>(state.iterations());
  const auto d = static_cast<double>(n.snapshot.size());
  // Per node: the counters are averaged over the nodes (threads), not summed.
  state.counters["GB/s"] = benchmark::Counter(4.0 * d * iterations / 1e9, benchmark::Counter::kAvgThreadsRate);
  state.counters["wire GB/s"] =
      benchmark::Counter(static_cast<double>(n.averager.bytes_sent() - sent_before) / 1e9, benchmark::Counter::kAvgThreadsRate);
}

template <class Topo, class Quant>
void register_rounds(const std::string& name) {
  for (int nodes : {2, 4}) {
    auto* b = benchmark::RegisterBenchmark(("bm_round<" + name + ">").c_str(), bm_round<Topo, Quant>);
    for (auto d : asgd_bench::model_sizes) b->Arg(d);
    b->Threads(nodes)->UseRealTime()->Unit(benchmark::kMicrosecond);
    b->Setup(round_fixture<Topo, Quant>::setup)->Teardown(round_fixture<Topo, Quant>::teardown);
  }
}

// ---- overlap on the MLP ------------------------------------------------------------------------
void bm_mlp_overlap(benchmark::State& state) {
  static const asgd::problems::network net = [] {
    auto d = asgd::data::load_mnist_like();
    asgd::data::standardize(d);
    return asgd::problems::make_mlp(std::make_shared<const asgd::data::image_set>(std::move(d.train)),
                                    std::make_shared<const asgd::data::image_set>(std::move(d.test)), {128});
  }();
  const bool blocking = state.range(0) != 0;
  const asgd::settings s{.threads = 2, .steps = 2000, .batch = 16, .lr = 0.02f, .evaluate = false,
                         .averaging = {.every = 8, .blocking = blocking}};
  double overlap = 0.0, exchange = 0.0;
  for (auto _ : state) {
    const auto reports = asgd::run_in_process(4, [&](std::size_t, in_process ep) {
      return asgd::trainer<asgd::problems::network, asgd::consistency::hogwild, t::all_reduce>{net, s, ep};
    });
    for (const auto& r : reports) {
      overlap += r.node->overlap / 4.0;
      exchange += r.node->exchange_seconds / 4.0;
    }
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.counters["overlap"] = overlap / iterations;
  state.counters["exchange_s"] = exchange / iterations;
}

// A quantizer's encode or decode of d floats (a Gaussian vector, the default knobs): ns a
// coordinate, GB/s of floats coded.
template <class Quant>
void bm_codec(benchmark::State& state) {
  const auto d = static_cast<std::size_t>(state.range(0));
  const bool decode = state.range(1) != 0;
  const Quant quant{};
  asgd::rng data(3), g(4);
  std::vector<float> x(d), out(d);
  for (auto& v : x) v = static_cast<float>(0.01 * data.normal());
  std::vector<std::byte> bytes;
  quant.encode(x, bytes, g);
  for (auto _ : state) {
    if (decode) {
      quant.decode(bytes, x, out);
      benchmark::DoNotOptimize(out.data());
    } else {
      bytes.clear();
      quant.encode(x, bytes, g);
      benchmark::DoNotOptimize(bytes.data());
    }
  }
  const auto coordinates = static_cast<double>(state.iterations()) * static_cast<double>(d);
  state.counters["ns/coordinate"] =
      benchmark::Counter(coordinates, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetBytesProcessed(static_cast<std::int64_t>(coordinates * sizeof(float)));
}

template <class Quant>
void register_codec(const std::string& name) {
  benchmark::RegisterBenchmark(("bm_codec/" + name).c_str(), bm_codec<Quant>)
      ->ArgsProduct({{101770}, {0, 1}})
      ->ArgNames({"d", "decode"})
      ->Unit(benchmark::kMicrosecond);
}

const bool registered = [] {
  register_codec<q::fp16>("fp16");
  register_codec<q::bf16>("bf16");
  register_codec<q::qsgd<8>>("qsgd8");
  register_codec<q::qsgd<4>>("qsgd4");
  register_codec<q::lattice>("lattice");
  for (auto d : asgd_bench::model_sizes)
    benchmark::RegisterBenchmark("bm_copy", asgd_bench::bm_copy)->Arg(d)->Unit(benchmark::kMicrosecond);
  register_rounds<t::all_reduce, q::identity>("all_reduce");
  register_rounds<t::ring, q::identity>("ring");
  register_rounds<t::random_pairs, q::identity>("random_pairs");
  register_rounds<t::random_pairs, q::qsgd<8>>("random_pairs,qsgd8");
  register_rounds<t::ring, q::differences<q::qsgd<8>>>("ring,diff-qsgd8");
  benchmark::RegisterBenchmark("bm_mlp_overlap", bm_mlp_overlap)
      ->Arg(0)
      ->Arg(1)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  return true;
}();

// The table: each round's GB/s as a share of memcpy's at the same size.
const bool summary = asgd_bench::add_summary([](const asgd_bench::recorder& r) {
  asgd_bench::print_round_table(r, "averaging round, in_process (per node)");
  for (const auto& [name, counters] : r.results) {
    if (name.rfind("bm_mlp_overlap", 0) != 0) continue;
    std::printf("%-58s overlap %.0f%%, %.3f s exchanging per node\n", name.c_str(), 100.0 * counters.at("overlap"),
                counters.at("exchange_s"));
  }
});

}  // namespace
