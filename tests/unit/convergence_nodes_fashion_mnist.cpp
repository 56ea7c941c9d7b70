// Decentralized training on real data: nodes of the Fashion-MNIST MLP reach one node's test
// accuracy at equal total samples (2 nodes in 2 epochs; 4 nodes in 8). Part of the convergence
// tests: minutes under the sanitizers, so only the Release run has them; the node mechanics they
// use are tested everywhere by test_nodes_training.cpp's logistic-regression nodes.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <vector>

namespace {
namespace c = asgd::consistency;
namespace t = asgd::topology;
namespace q = asgd::quantize;
}  // namespace

namespace {

// The Fashion-MNIST MLP (784-128-10), standardised pixels; scripts/setup.sh installs the data.
const asgd::problems::network& fashion_mlp() {
  static const asgd::problems::network net = [] {
    const auto dir = asgd::data::fashion_mnist_dir;
    if (!std::filesystem::exists(dir / "train-images-idx3-ubyte.gz")) {
      throw std::runtime_error(dir.string() + " is missing: scripts/setup.sh installs dataset-fashion-mnist");
    }
    auto d = asgd::data::load_mnist_like(dir);
    asgd::data::standardize(d);
    return asgd::problems::make_mlp(std::make_shared<const asgd::data::image_set>(std::move(d.train)),
                                    std::make_shared<const asgd::data::image_set>(std::move(d.test)), {128});
  }();
  return net;
}

}  // namespace

namespace {

using asgd::problems::network;
const asgd::update::momentum mlp_rule{.mu = 0.9f};

// The baseline: one node running sequential SGD, batch 16, lr 0.01, cosine schedule. Sequential,
// so that the baseline is one number per seed: with one node of 2 HOGWILD! workers it varied by
// 0.6 points between runs (0.8867-0.8924 at 8 epochs, the top one under a parallel ctest), and a
// high draw failed the 1-point comparison with nodes that were as good as ever.
asgd::settings one_node_settings(std::size_t epochs, std::uint64_t seed) {
  return {.threads = 1, .epochs = epochs, .batch = 16, .lr = 0.01f, .seed = seed,
          .lr_schedule = asgd::schedule::cosine()};
}

asgd::report single_node(const asgd::settings& s) {
  asgd::trainer<network, c::sequential, asgd::update::momentum> one{fashion_mlp(), s, mlp_rule};
  return one.run();
}

// Every node of a run against one node's accuracy, at equal total samples (up to each node
// rounding its share of an epoch up to whole batches of 16).
void check_nodes_against(const asgd::report& single, const std::vector<asgd::report>& reports, std::size_t epochs) {
  const double single_acc = single.final_evaluation->accuracy;
  const std::size_t nodes = reports.size();
  for (const asgd::report& r : reports) {
    CAPTURE(r.node->topology);
    CAPTURE(r.node->node);
    CAPTURE(r.node->mix_lag);  // how late the node's averages landed, in its steps: the first suspect
    CAPTURE(r.node->mix_lag_max);
    CHECK(r.samples * nodes >= single.samples);
    CHECK(r.samples * nodes <= single.samples + nodes * 16 * epochs);
    CHECK(r.final_evaluation->accuracy >= single_acc - 0.01);
  }
  MESSAGE("one node " << single_acc << ", " << nodes << " nodes of " << reports.front().node->topology
                      << ": node 0 " << reports.front().final_evaluation->accuracy);
}

}  // namespace

TEST_SUITE("nodes") {
  // Equal total samples: one sequential node makes 2 passes over the data; each of 2 nodes of 1
  // worker makes 2 passes over its half (an epoch is one pass by all nodes together). The nodes'
  // learning rate is scaled by the node count (averaging n models that
  // each took a step of lr on b samples is one step of lr on n b samples). LAP-SGD: non-blocking
  // global averaging; gossip with 8-bit QSGD; a round every 8 node steps, a final average.
  // (At 4 nodes the gap is larger on this 2-epoch budget; the next test runs 4 nodes longer.)
  TEST_CASE("Fashion-MNIST MLP: 2 nodes reach one node's test accuracy within 1 point" * doctest::timeout(600)) {
    constexpr std::size_t epochs = 2, nodes = 2;
    const asgd::settings base = one_node_settings(epochs, 1);
    const asgd::report single = single_node(base);
    CAPTURE(single.final_evaluation->accuracy);
    CHECK(single.final_evaluation->accuracy > 0.86);

    const network& net = fashion_mlp();
    asgd::settings s = base;
    s.threads = 1;
    s.lr = base.lr * static_cast<float>(nodes);
    s.averaging = {.every = 8};
    check_nodes_against(single,
                        asgd::run_in_process(nodes,
                                             [&](std::size_t, asgd::transport::in_process ep) {
                                               return asgd::trainer<network, c::hogwild, asgd::update::momentum,
                                                                    t::all_reduce>{net, s, mlp_rule, ep};
                                             }),
                        epochs);
    check_nodes_against(single,
                        asgd::run_in_process(nodes,
                                             [&](std::size_t, asgd::transport::in_process ep) {
                                               return asgd::trainer<network, c::hogwild, asgd::update::momentum,
                                                                    t::random_pairs, q::qsgd<8>>{net, s, mlp_rule, ep};
                                             }),
                        epochs);
  }

  // 4 nodes of 1 worker against one sequential node, 8 epochs: with a quarter of the data per
  // node, the nodes take a quarter of the steps, so the 2-epoch gap (1-2 points here,
  // docs/results.md) is a short-budget effect; at 8 epochs, against the sequential node (0.8893
  // with this seed), this test saw gaps of 0.45-0.7 points (LAP-SGD), 0.3-0.45 (ring) and 0.35-0.5
  // (pairs) over 2 runs. lr twice one node's: half the linear scaling.
  // LAP-SGD (global average every 8 steps, non-blocking), D-PSGD (ring, every step), SwarmSGD
  // (random pairs every 4 steps).
  TEST_CASE("Fashion-MNIST MLP: 4 nodes reach one node's test accuracy within 1 point in 8 epochs" *
            doctest::timeout(900)) {
    constexpr std::size_t epochs = 8, nodes = 4;
    const asgd::settings base = one_node_settings(epochs, 2);
    const asgd::report single = single_node(base);
    CAPTURE(single.final_evaluation->accuracy);
    CHECK(single.final_evaluation->accuracy > 0.875);

    const network& net = fashion_mlp();
    asgd::settings s = base;
    s.threads = 1;
    s.lr = 2 * base.lr;
    const auto run = [&]<class Topo>(Topo, std::size_t every) {
      s.averaging = {.every = every};
      return asgd::run_in_process(nodes, [&](std::size_t, asgd::transport::in_process ep) {
        return asgd::trainer<network, c::hogwild, asgd::update::momentum, Topo>{net, s, mlp_rule, ep};
      });
    };
    check_nodes_against(single, run(t::all_reduce{}, 8), epochs);
    check_nodes_against(single, run(t::ring{}, 1), epochs);
    check_nodes_against(single, run(t::random_pairs{}, 4), epochs);
  }
}
