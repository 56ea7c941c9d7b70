// Event-driven gossip (SwarmSGD, AD-PSGD): the graphs are what they say; each node interacts at
// its own steps; two-sided interactions keep the nodes' mean and every push is received; an
// initiator never waits for its partner (a partner stuck in its first step does not hold the
// other node back); gossip trains as well as one node; what gossip cannot do is refused.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace c = asgd::consistency;
namespace t = asgd::topology;
using asgd::topology::graph;

// Both gossip topologies through one trainer type per problem, as asgd-train holds them.
using gossip = t::one_of<t::swarm, t::adpsgd>;

// Zero gradient: only gossip moves a model. Node k starts at k - 1.5 plus a ramp. `hold`, when
// set, makes the gradient's first call wait until `released` (a partner that is not answering).
struct still {
  static constexpr std::string_view name = "still";
  float offset = 0.0f;
  std::shared_ptr<std::atomic<std::uint64_t>> calls = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::shared_ptr<std::atomic<bool>> hold = nullptr;
  std::shared_ptr<std::atomic<bool>> waited_out = nullptr;  // set when `hold` was never released in time
  int pause_us = 0;  // > 0: each gradient sleeps this long, so that the nodes' runs overlap in time

  [[nodiscard]] std::size_t dimension() const { return 32; }
  [[nodiscard]] std::size_t num_samples() const { return 1024; }
  float gradient(std::span<const float>, asgd::batch_view, std::span<float> g) const {
    if (calls->fetch_add(1) == 0 && hold) {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (hold->load() && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (hold->load()) waited_out->store(true);
    }
    if (pause_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
    std::fill(g.begin(), g.end(), 0.0f);
    return 0.0f;
  }
  void initialize(std::span<float> x, std::uint64_t) const {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = offset + 0.01f * static_cast<float>(i);
  }
};

using still_trainer = asgd::trainer<still, c::leashed, gossip>;

struct still_run {
  std::vector<asgd::report> reports;
  std::vector<std::vector<float>> models;
};

still_run run_still(std::size_t nodes, gossip topo, asgd::averaging_settings avg, std::uint64_t steps = 600,
                    int pause_us = 0) {
  still_run out;
  out.models.resize(nodes);
  avg.final_average = false;
  out.reports = asgd::run_in_process(nodes, [&](std::size_t k, asgd::transport::in_process ep) {
    still_trainer tr{still{.offset = static_cast<float>(k) - 1.5f, .pause_us = pause_us},
                     {.threads = 2, .steps = steps, .batch = 4, .seed = 7, .averaging = avg}, topo, ep};
    auto r = tr.run();
    out.models[k].assign(tr.parameters().begin(), tr.parameters().end());
    return r;
  });
  return out;
}

// The squared distance of the nodes' models from their mean, and the mean's largest error
// against the starting mean (0.01 i).
std::pair<double, double> spread_and_mean_error(const still_run& r) {
  double spread = 0.0, mean_error = 0.0;
  const std::size_t n = r.models.size();
  for (std::size_t i = 0; i < r.models[0].size(); ++i) {
    double mean = 0.0;
    for (const auto& m : r.models) mean += m[i] / static_cast<double>(n);
    for (const auto& m : r.models) spread += std::pow(m[i] - mean, 2.0);
    mean_error = std::max(mean_error, std::abs(mean - 0.01 * static_cast<double>(i)));
  }
  return {spread, mean_error};
}

}  // namespace

TEST_SUITE("gossip") {
  TEST_CASE("graphs: complete, ring, torus, regular, exponential") {
    auto sym = [](const graph& g, std::size_t n, std::uint64_t seed) {
      for (std::size_t a = 0; a < n; ++a) {
        const auto na = g.neighbours(a, n, seed);
        CHECK(std::find(na.begin(), na.end(), a) == na.end());
        for (std::size_t b : na) {
          const auto nb = g.neighbours(b, n, seed);
          CHECK(std::find(nb.begin(), nb.end(), a) != nb.end());
        }
      }
    };
    CHECK(graph::complete().neighbours(2, 5, 1) == std::vector<std::size_t>{0, 1, 3, 4});
    CHECK(graph::ring().neighbours(0, 5, 1) == std::vector<std::size_t>{1, 4});
    CHECK(graph::ring().neighbours(1, 2, 1) == std::vector<std::size_t>{0});
    CHECK(graph::torus().neighbours(5, 16, 1) == std::vector<std::size_t>{1, 4, 6, 9});
    CHECK(graph::exponential().neighbours(0, 8, 1) == std::vector<std::size_t>{1, 2, 4, 6, 7});
    for (const graph g : {graph::complete(), graph::ring(), graph::torus(), graph::exponential(), graph::regular(3),
                          graph::regular(5)}) {
      CAPTURE(g);
      sym(g, 16, 3);
    }
    // A random regular graph: every degree right, the same for a seed, another for another seed.
    for (std::size_t n : {8u, 16u, 64u}) {
      std::set<std::vector<std::size_t>> rows;
      for (std::size_t k = 0; k < n; ++k) {
        const auto nk = graph::regular(4).neighbours(k, n, 11);
        CHECK(nk.size() == 4);
        CHECK(nk == graph::regular(4).neighbours(k, n, 11));
      }
      bool differs = false;
      for (std::size_t k = 0; k < n; ++k)
        differs = differs || graph::regular(4).neighbours(k, n, 11) != graph::regular(4).neighbours(k, n, 12);
      CHECK(differs);
    }
    CHECK_THROWS_WITH_AS((void)graph::regular(3).neighbours(0, 5, 1),
                         doctest::Contains("nodes * degree even"), std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)graph::regular(4).neighbours(0, 4, 1), doctest::Contains("degree < nodes"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(graph::regular(0).validate(), doctest::Contains("at least 1"), std::invalid_argument);
    CHECK_THROWS_WITH_AS((graph{graph::shape::ring, 2}.validate()), doctest::Contains("only a regular graph"),
                         std::invalid_argument);
  }

  TEST_CASE("local steps: geometric with mean H, or exactly H") {
    asgd::rng g(5);
    const t::swarm geometric{};
    double sum = 0.0;
    std::uint64_t smallest = ~std::uint64_t{0};
    constexpr int draws = 200000;
    for (int i = 0; i < draws; ++i) {
      const std::uint64_t k = geometric.local_steps(8, g);
      sum += static_cast<double>(k);
      smallest = std::min(smallest, k);
    }
    CHECK(smallest == 1);
    CHECK(sum / draws == doctest::Approx(8.0).epsilon(0.02));  // standard error 0.016 of 8
    CHECK(t::swarm{.geometric = false}.local_steps(8, g) == 8);
    CHECK(t::swarm{}.local_steps(1, g) == 1);
    CHECK(t::adpsgd{}.local_steps(3, g) == 3);
  }

  TEST_CASE("two-sided gossip keeps the mean, brings the nodes together, and every push arrives" *
            doctest::timeout(120)) {
    for (const gossip topo : {gossip{t::swarm{}}, gossip{t::swarm{.graph = graph::ring(), .geometric = false}},
                              gossip{t::adpsgd{}}, gossip{t::adpsgd{.graph = graph::regular(2)}}}) {
      for (bool blocking : {false, true}) {
        CAPTURE(topo);
        CAPTURE(blocking);
        // Steps that take a little time: with instant steps a non-blocking node's workers finish
        // before its averager starts, and the events that came due fold into one; and a blocking
        // node could take all its events while another's threads wait for a core (seen under load:
        // the late node then mixes with its ring neighbours' copies alone, 2e-3 of the start apart).
        const still_run r = run_still(4, topo, {.every = 4, .blocking = blocking}, 600, 20);
        const auto [spread, mean_error] = spread_and_mean_error(r);
        CHECK(mean_error < 1e-5);  // the sum of the models moves only by float rounding
        std::uint64_t started = 0, received = 0, due = 0;
        for (const auto& rep : r.reports) {
          REQUIRE(rep.node);
          CHECK(rep.node->rounds >= 1);
          // The copies are the only messages: the partner's, read, and its new one, written.
          CHECK(rep.node->bytes_sent == rep.node->rounds * 2 * 32 * sizeof(float));
          started += rep.node->rounds;
          due += rep.node->rounds + rep.node->skipped_interactions;
          received += rep.node->pushes_received;
          CHECK((rep.node->topology.rfind("swarm", 0) == 0 || rep.node->topology.rfind("adpsgd", 0) == 0));
        }
        CHECK(received == started);  // each interaction changed one copy, and each change was taken
        // Started at 4 * 32 * 1.25 = 160: a thousandth of it, a hundredth where events fold (about
        // 140 interactions a node, 550 in all). A starved averager folds most events (in a run
        // niced against two busy loops on two cores: 3-7 interactions a node, spread 2-3.5), so
        // the bound is also what the interactions taken guarantee: an exact average of a random
        // pair of four nodes on a ring or a complete graph leaves at most 3/4 of the spread in
        // expectation (0.76-0.77 an interaction in those starved runs); 0.9 allows for stale copies.
        CAPTURE(started);
        CHECK(spread < std::max(blocking ? 0.16 : 1.6, 160.0 * std::pow(0.9, static_cast<double>(started))));
        CHECK(due >= 4 * (600 / 4) / 2);  // events taken or folded into a later one: about 150 a node
        if (blocking) CHECK(due == started);  // the workers wait for each: none is folded
      }
    }
  }

  TEST_CASE("lattice-quantized two-sided gossip: the sum moves by at most epsilon an interaction") {
    // The partner takes its copy's change decoded, so each interaction adds one encoding's
    // dither error (below epsilon a coordinate, unbiased) to the sum of the models: a change
    // taken twice or lost would move the mean by a half-difference instead (about 0.1-1 here).
    const asgd::quantize::lattice lattice{};  // 16 bits, epsilon 1e-4: a window of +-3.3 holds 3.0 apart
    still_run out;
    out.models.resize(4);
    out.reports = asgd::run_in_process(4, [&](std::size_t k, asgd::transport::in_process ep) {
      asgd::trainer<still, c::leashed, t::swarm, asgd::quantize::lattice> tr{
          still{.offset = static_cast<float>(k) - 1.5f},
          {.threads = 1, .steps = 600, .batch = 4, .seed = 7,
           .averaging = {.every = 4, .blocking = true, .final_average = false}},
          t::swarm{}, ep, lattice};
      auto rep = tr.run();
      out.models[k].assign(tr.parameters().begin(), tr.parameters().end());
      return rep;
    });
    const auto [spread, mean_error] = spread_and_mean_error(out);
    std::uint64_t interactions = 0;
    for (const auto& rep : out.reports) interactions += rep.node->rounds;
    CHECK(interactions >= 4 * 600 / 4 / 2);
    CHECK(mean_error > 0.0);  // the copies carry the lattice's noise into the partners' models
    CHECK(mean_error < static_cast<double>(interactions) * lattice.epsilon / 4.0);
    CHECK(spread < 1.6);  // a hundredth of the 160 it started at
    const std::size_t copy_bytes = (lattice.encoded_bits(32) + 7) / 8;
    for (const auto& rep : out.reports) CHECK(rep.node->bytes_sent == rep.node->rounds * 2 * copy_bytes);
  }

  TEST_CASE("nodes draw their own interaction times") {
    const still_run r = run_still(4, t::swarm{}, {.every = 8}, 800);
    std::set<std::uint64_t> counts;
    for (const auto& rep : r.reports) counts.insert(rep.node->rounds + rep.node->skipped_interactions);
    CHECK(counts.size() > 1);  // geometric gaps, drawn per node: equal counts on all four are unlikely
    for (std::uint64_t k : counts) CHECK(k == doctest::Approx(100.0).epsilon(0.35));
  }

  TEST_CASE("one-sided gossip: only the initiator averages; nothing is pushed" * doctest::timeout(120)) {
    // Nodes whose runs overlap in time (a node that averages only with copies of nodes that have
    // not started, or have finished, moves towards those copies and stays there: one-sided
    // averaging keeps no sum), so each step sleeps and four nodes share two cores fairly.
    const still_run r = run_still(4, t::swarm{.one_sided = true}, {.every = 2, .blocking = true}, 400, 100);
    const auto [spread, mean_error] = spread_and_mean_error(r);
    CHECK(spread < 1e-3);  // from 160
    for (const auto& rep : r.reports) CHECK(rep.node->pushes_received == 0);
    (void)mean_error;  // not kept by one-sided averaging
  }

  TEST_CASE("an initiator never waits for its partner" * doctest::timeout(120)) {
    // Node 1's first gradient waits until node 0 has taken all its steps. With rounds (every
    // pair meets in round r) node 0 would wait for node 1 at its first round and the run would
    // time out; with gossip node 0 reads node 1's published copy and goes on.
    constexpr std::uint64_t steps = 400;
    auto hold = std::make_shared<std::atomic<bool>>(true);
    auto waited_out = std::make_shared<std::atomic<bool>>(false);
    still first{.offset = -1.0f};
    still second{.offset = 1.0f, .hold = hold, .waited_out = waited_out};
    std::thread release([&] {
      while (first.calls->load() < steps && !waited_out->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      hold->store(false);
    });
    const auto reports = asgd::run_in_process(2, [&](std::size_t k, asgd::transport::in_process ep) {
      still_trainer tr{k == 0 ? first : second,
                       {.threads = 1, .steps = steps, .batch = 4, .seed = 3, .averaging = {.every = 4}},
                       gossip{t::swarm{}}, ep};
      return tr.run();
    });
    release.join();
    CHECK_FALSE(waited_out->load());
    // Node 0 interacted with its stuck partner all along (events that came due while its
    // averager was busy fold into the next one).
    CHECK(reports[0].node->rounds >= 1);
    CHECK(reports[0].node->rounds + reports[0].node->skipped_interactions > steps / 8);
  }

  TEST_CASE("gossip trains logistic regression as well as one node" * doctest::timeout(300)) {
    static const auto d = asgd::problems::make_logistic_regression(/*rows=*/16000, /*cols=*/40, /*seed=*/3);
    const asgd::settings base{.threads = 2, .epochs = 3, .batch = 16, .lr = 0.05f, .seed = 5};
    using trainer = asgd::trainer<asgd::problems::logistic_regression, c::hogwild, gossip>;
    const double single = asgd::trainer<asgd::problems::logistic_regression, c::hogwild>{d.problem, base}
                              .run()
                              .final_evaluation->accuracy;
    // (One-sided gossip is left out: on two cores these nodes' runs barely overlap in time, and
    // a node that averages one-sided with copies of nodes not yet running is pulled towards them.)
    for (const gossip topo : {gossip{t::swarm{}}, gossip{t::adpsgd{}}}) {
      CAPTURE(topo);
      asgd::settings s = base;
      s.averaging = {.every = topo.index() == 1 ? 1u : 4u};
      const auto reports = asgd::run_in_process(4, [&](std::size_t, asgd::transport::in_process ep) {
        return trainer{d.problem, s, topo, ep};
      });
      for (const auto& r : reports) {
        CHECK(r.final_evaluation->accuracy >= single - 0.01);
        CHECK(r.steps == 3 * ((16000 + 63) / 64));
      }
    }
  }

  TEST_CASE("a gossip node that fails is dropped; the others finish without it" * doctest::timeout(300)) {
    static const auto d = asgd::problems::make_logistic_regression(/*rows=*/8000, /*cols=*/20, /*seed=*/3);
    asgd::settings s{.threads = 1, .epochs = 3, .batch = 16, .lr = 0.05f, .seed = 5};
    s.averaging = {.every = 4};
    using trainer = asgd::trainer<asgd::problems::logistic_regression, c::hogwild, t::swarm>;
    const auto reports = asgd::run_in_process(4, [&](std::size_t k, asgd::transport::in_process ep) {
      trainer tr{d.problem, s, ep};
      if (k == 2) {
        tr.on_epoch([](const asgd::epoch_progress& e) {
          if (e.epoch == 1) throw std::runtime_error("node 2 crashed");
        });
      }
      return tr.run();
    });
    REQUIRE(reports.size() == 4);
    CHECK(reports[2].failure.find("node 2 crashed") != std::string::npos);
    CHECK_FALSE(reports[2].node);
    for (std::size_t k : {0u, 1u, 3u}) {
      CAPTURE(k);
      CHECK(reports[k].failure.empty());
      REQUIRE(reports[k].node);
      CHECK(reports[k].node->lost_nodes == std::vector<std::size_t>{2});
      CHECK(reports[k].node->final_average);
      CHECK(reports[k].steps == 3 * ((8000 + 63) / 64));
      CHECK(reports[k].final_evaluation->accuracy > 0.8);
      CHECK(reports[k].to_json().find("\"lost_nodes\": [2]") != std::string::npos);
    }
  }

  TEST_CASE("a gossip node that stops answering is dropped after the timeout" * doctest::timeout(300)) {
    static const auto d = asgd::problems::make_logistic_regression(/*rows=*/4000, /*cols=*/20, /*seed=*/3);
    asgd::settings s{.threads = 1, .epochs = 3, .batch = 16, .lr = 0.05f, .seed = 5};
    s.averaging = {.every = 4};
    using trainer = asgd::trainer<asgd::problems::logistic_regression, c::hogwild, t::swarm>;
    // Node 3 stalls for 3 s in a pause; the others reach the end collectives and wait 1 s for it.
    const auto reports = asgd::run_in_process(
        4,
        [&](std::size_t k, asgd::transport::in_process ep) {
          trainer tr{d.problem, s, ep};
          if (k == 3) {
            tr.on_epoch([](const asgd::epoch_progress& e) {
              if (e.epoch == 2) std::this_thread::sleep_for(std::chrono::seconds(3));
            });
          }
          return tr.run();
        },
        asgd::transport::in_process::link{.timeout = 1.0});
    CHECK(reports[3].failure.find("dropped") != std::string::npos);
    for (std::size_t k : {0u, 1u, 2u}) {
      CAPTURE(k);
      REQUIRE(reports[k].node);
      CHECK(reports[k].node->lost_nodes == std::vector<std::size_t>{3});
      CHECK(reports[k].node->final_average);
    }
  }

  TEST_CASE("collective topologies still fail fast when a node fails" * doctest::timeout(120)) {
    static const auto d = asgd::problems::make_logistic_regression(/*rows=*/4000, /*cols=*/20, /*seed=*/3);
    asgd::settings s{.threads = 1, .epochs = 3, .batch = 16, .lr = 0.05f, .seed = 5};
    s.averaging = {.every = 4};
    const auto crash = [&] {
      asgd::run_in_process(4, [&](std::size_t k, asgd::transport::in_process ep) {
        asgd::trainer<asgd::problems::logistic_regression, c::hogwild, t::ring> tr{d.problem, s, ep};
        if (k == 2) {
          tr.on_epoch([](const asgd::epoch_progress& e) {
            if (e.epoch == 1) throw std::runtime_error("node 2 crashed");
          });
        }
        return tr.run();
      });
    };
    CHECK_THROWS_WITH(crash(), "node 2 crashed");
  }

  TEST_CASE("what gossip cannot do is refused before the first step") {
    // A collective every N events would pair different events of different nodes.
    auto group = asgd::transport::in_process::group(2);
    still_trainer tr{still{}, {.steps = 64, .batch = 4, .averaging = {.consensus_every = 4}}, gossip{t::swarm{}},
                    group[0]};
    CHECK_THROWS_WITH_AS(tr.run(), doctest::Contains("averaging.consensus_every"), std::invalid_argument);
    // A graph that cannot exist on the node count.
    still_trainer bad{still{}, {.steps = 64, .batch = 4}, gossip{t::swarm{.graph = graph::regular(3)}}, group[1]};
    CHECK_THROWS_WITH_AS(bad.run(), doctest::Contains("regular(3)"), std::invalid_argument);
  }
}
