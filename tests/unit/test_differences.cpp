// quantize::differences: each round sends a peer the difference between the node's model and a
// reference both ends of the link keep. Still nodes keep the sum of their models to rounding and
// come together below the quantizer's noise (error feedback), where quantized whole models stay
// apart; with an exact encoding it mixes as plain averaging does; it trains like exact averaging
// and counts its bits; gossip topologies refuse it; in_process::exchange_each delivers each
// peer its own message.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace link_differences {

namespace c = asgd::consistency;
namespace t = asgd::topology;
namespace q = asgd::quantize;
using asgd_test::still_model;

struct still_outcome {
  std::vector<std::vector<float>> models;
  std::vector<asgd::report> reports;
  double largest_drift = 0.0;  // of the nodes' mean from the starting mean, over coordinates
  double distance = 0.0;       // sum over nodes of |x_k - mean|^2 at the end
};

// `nodes` still nodes (node k starts at k on every coordinate, plus a ramp), blocking rounds
// every `every` of 400 steps, no final average.
template <class Topo, class Quant>
still_outcome run_still(std::size_t nodes, std::size_t every, Quant quant = {}) {
  still_outcome out;
  out.models.resize(nodes);
  const asgd::settings s{.threads = 1, .steps = 400, .batch = 4,
                         .averaging = {.every = every, .blocking = true, .final_average = false}};
  out.reports = asgd::run_in_process(nodes, [&](std::size_t k, asgd::transport::in_process ep) {
    asgd::trainer<still_model, c::sequential, Topo, Quant> tr{still_model{static_cast<float>(k)}, s, Topo{}, quant,
                                                              ep};
    auto r = tr.run();
    out.models[k].assign(tr.parameters().begin(), tr.parameters().end());
    return r;
  });
  const double start_mean = 0.5 * static_cast<double>(nodes - 1);
  for (std::size_t i = 0; i < out.models[0].size(); ++i) {
    double mean = 0.0;
    for (const auto& m : out.models) mean += m[i] / static_cast<double>(nodes);
    out.largest_drift = std::max(out.largest_drift, std::abs(mean - start_mean - 0.01 * static_cast<double>(i)));
    for (const auto& m : out.models) out.distance += std::pow(m[i] - mean, 2.0);
  }
  return out;
}

TEST_SUITE("nodes") {
  TEST_CASE("differences: still nodes keep their sum and come together below the quantizer's noise" *
            doctest::timeout(120)) {
    // 100 ring rounds from 4 * 64 * 1.25 = 320 apart. Quantized whole models stay apart by the
    // quantizer's noise and their mean walks; differences keep the sum (each link's terms cancel
    // between its ends) and, with error feedback, the references follow the models until the
    // nodes agree to float rounding.
    const auto whole = run_still<t::ring>(4, 4, q::qsgd<8>{});
    MESSAGE("qsgd8 of whole models: distance " << whole.distance << ", drift " << whole.largest_drift);
    CHECK(whole.distance > 1e-3);

    const auto check = [](const still_outcome& r, const std::string& what) {
      MESSAGE(what << ": distance " << r.distance << ", drift " << r.largest_drift);
      CHECK(r.largest_drift < 1e-5);
      CHECK(r.distance < 1e-8);
      for (const auto& rep : r.reports) {
        REQUIRE(rep.node);
        CHECK(rep.node->rounds == 100);
      }
    };
    check(run_still<t::ring>(4, 4, q::differences<q::qsgd<8>>{}), "differences<qsgd8>, ring");
    check(run_still<t::ring>(4, 4, q::differences<q::qsgd<4>>{}), "differences<qsgd4>, ring");
    check(run_still<t::ring>(4, 4, q::differences<q::fp16>{}), "differences<fp16>, ring");
    check(run_still<t::ring>(4, 4, q::differences<q::bf16>{}), "differences<bf16>, ring");
    // A new partner each round: every link keeps its own references.
    check(run_still<t::random_pairs>(4, 4, q::differences<q::qsgd<8>>{}), "differences<qsgd8>, random pairs");
    // A global mean over messages: every node a peer of every other.
    check(run_still<t::all_reduce>(4, 4, q::differences<q::qsgd<8>>{}), "differences<qsgd8>, all_reduce");
  }

  TEST_CASE("differences of an exact encoding mix as exact averaging does") {
    const auto exact = run_still<t::ring>(4, 200, q::identity{});
    const auto diff = run_still<t::ring>(4, 200, q::differences<q::identity>{});
    CHECK(exact.distance > 1e-3);  // 2 rounds leave them apart: the mixes are compared, not the limit
    for (std::size_t k = 0; k < 4; ++k)
      for (std::size_t i = 0; i < 64; ++i) CHECK(diff.models[k][i] == doctest::Approx(exact.models[k][i]).epsilon(1e-5));
  }

  TEST_CASE("differences train as exact averaging does and count one message per link and round" *
            doctest::timeout(300)) {
    using asgd::problems::logistic_regression;
    const auto d = asgd::problems::make_logistic_regression(/*rows=*/16000, /*cols=*/40, /*seed=*/3);
    const asgd::settings one_node{.threads = 2, .epochs = 3, .batch = 16, .lr = 0.05f, .seed = 5};
    const double single = asgd::trainer<logistic_regression, c::hogwild>{d.problem, one_node}
                              .run()
                              .final_evaluation->accuracy;
    asgd::settings s = one_node;
    s.averaging = {.every = 8};
    using quant = q::differences<q::qsgd<8>>;
    const auto reports = asgd::run_in_process(4, [&](std::size_t, asgd::transport::in_process ep) {
      return asgd::trainer<logistic_regression, c::hogwild, t::ring, quant>{d.problem, s, ep};
    });
    const std::size_t dim = d.problem.dimension();
    const std::uint64_t bits = quant{}.encoded_bits(dim);
    for (const auto& r : reports) {
      CHECK(r.final_evaluation->accuracy >= single - 0.01);
      REQUIRE(r.node);
      CHECK(r.node->quantizer == "differences<qsgd<8>{.bucket = 512}>");
      CHECK(r.node->bits_sent == r.node->rounds * 2 * bits);  // a message to each ring neighbour a round
      CHECK(r.node->bytes_sent == r.node->rounds * 2 * ((bits + 7) / 8));
    }
  }

  TEST_CASE("gossip topologies refuse differences, naming why") {
    const asgd::settings s{.threads = 1, .steps = 40, .batch = 4, .averaging = {.every = 4, .blocking = true}};
    CHECK_THROWS_WITH_AS(asgd::run_in_process(2,
                                              [&](std::size_t k, asgd::transport::in_process ep) {
                                                return asgd::trainer<still_model, c::sequential, t::swarm,
                                                                     q::differences<q::fp16>>{
                                                    still_model{static_cast<float>(k)}, s, ep};
                                              }),
                         doctest::Contains("keeps a reference per link, which gossip topology swarm"),
                         std::invalid_argument);
  }

  TEST_CASE("in_process::exchange_each: each peer gets its own message; a count that is not the peers' is refused") {
    auto group = asgd::transport::in_process::group(3);
    std::vector<std::vector<std::vector<std::byte>>> got(3);
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < 3; ++k) threads.emplace_back([&, k] {
      std::vector<std::size_t> peers;
      std::vector<std::vector<std::byte>> messages;
      for (std::size_t p = 0; p < 3; ++p) {
        if (p == k) continue;
        peers.push_back(p);
        messages.emplace_back(1 + p, static_cast<std::byte>(16 * k + p));  // from k to p
      }
      const std::vector<std::span<const std::byte>> sends(messages.begin(), messages.end());
      group[k].exchange_each(7, peers, sends, got[k]);
    });
    for (auto& th : threads) th.join();
    for (std::size_t k = 0; k < 3; ++k) {
      std::size_t slot = 0;
      for (std::size_t p = 0; p < 3; ++p) {
        if (p == k) continue;
        CAPTURE(k);
        CAPTURE(p);
        REQUIRE(got[k][slot].size() == 1 + k);
        CHECK(got[k][slot].front() == static_cast<std::byte>(16 * p + k));
        ++slot;
      }
    }
    const std::size_t peers[] = {1};
    CHECK_THROWS_WITH_AS(group[0].exchange_each(8, peers, {}, got[0]), doctest::Contains("0 messages for 1 peers"),
                         std::invalid_argument);
  }
}

}  // namespace link_differences
