// Nodes that average: every topology preserves the mean of the models and drives them to
// consensus (a zero gradient isolates the averaging), decentralized training matches a single
// node at equal total samples, stragglers slow but do not stop a run, a lost node ends it with
// a clear error, and nodes that disagree on their schedule are refused before the first step.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <span>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

namespace {

namespace c = asgd::consistency;
namespace t = asgd::topology;

// Gradient zero: only averaging moves the model. Node k starts at offset_k + 0.01 i.
struct still_problem {
  static constexpr std::string_view name = "still_problem";
  float offset = 0.0f;
  std::size_t steps_until_failure = 0;  // > 0: the gradient throws at that call (a crashing node)
  std::shared_ptr<std::atomic<std::size_t>> calls = std::make_shared<std::atomic<std::size_t>>(0);

  [[nodiscard]] std::size_t dimension() const { return 32; }
  [[nodiscard]] std::size_t num_samples() const { return 1024; }
  float gradient(std::span<const float>, asgd::batch_view, std::span<float> g) const {
    if (steps_until_failure > 0 && calls->fetch_add(1) + 1 == steps_until_failure)
      throw std::runtime_error("this node crashed");
    std::fill(g.begin(), g.end(), 0.0f);
    return 0.0f;
  }
  void initialize(std::span<float> x, std::uint64_t) const {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = offset + 0.01f * static_cast<float>(i);
  }
};

float offset_of(std::size_t node) { return static_cast<float>(node) - 1.5f; }

// A trainer holds a transport when it averages or names one; only those have transport().
template <class Trainer>
concept has_transport = requires(const Trainer& tr) { tr.transport(); };
static_assert(!has_transport<asgd::trainer<still_problem, c::hogwild>>);
static_assert(!asgd::trainer<still_problem, c::hogwild>::holds_transport);
static_assert(has_transport<asgd::trainer<still_problem, c::hogwild, t::ring>>);
static_assert(has_transport<asgd::trainer<still_problem, c::hogwild, asgd::transport::in_process>>);

// Runs 4 nodes of `Mode` with topology `Topo`, zero gradient, no final average; checks the mean
// and the consensus distance against the nodes' final models.
// `threads`: each node's workers (0: 2 where the mode allows them).
template <class Mode, class Topo>
void check_mean_and_consensus(Topo topo, bool blocking, bool preserves_mean, std::size_t threads = 0) {
  using trainer = asgd::trainer<still_problem, Mode, Topo>;
  constexpr std::size_t nodes = 4;
  if (threads == 0) threads = Mode::max_workers > 1 ? 2u : 1u;
  asgd::settings s{.threads = threads, .steps = 512, .batch = 4, .lr = 0.1f,
                   .averaging = {.every = 8, .blocking = blocking, .final_average = false}};
  std::vector<trainer> trainers;
  trainers.reserve(nodes);
  auto group = asgd::transport::in_process::group(nodes);
  for (std::size_t k = 0; k < nodes; ++k) trainers.emplace_back(still_problem{.offset = offset_of(k)}, s, topo, group[k]);
  std::vector<asgd::report> rep(nodes);
  {
    std::vector<std::thread> th;
    for (std::size_t k = 0; k < nodes; ++k) th.emplace_back([&, k] { rep[k] = trainers[k].run(); });
    for (auto& x : th) x.join();
  }
  double distance = 0.0;
  for (std::size_t i = 0; i < 32; ++i) {
    double mean = 0.0;
    for (std::size_t k = 0; k < nodes; ++k) mean += trainers[k].parameters()[i] / static_cast<double>(nodes);
    if (preserves_mean) CHECK(mean == doctest::Approx(0.01 * static_cast<double>(i)).epsilon(1e-5).scale(1.0));
    for (std::size_t k = 0; k < nodes; ++k) distance += std::pow(trainers[k].parameters()[i] - mean, 2.0);
  }
  CHECK(distance < 1e-6);  // it started at 4 * 32 * 1.25 = 160
  for (const auto& r : rep) {
    REQUIRE(r.node);
    CHECK(r.node->nodes == nodes);
    CHECK(r.node->rounds == 512 / 8);
    CHECK(r.node->final_consensus_distance == doctest::Approx(distance).epsilon(0.05).scale(1e-6));
    CHECK(r.node->blocking == blocking);
    if (blocking) CHECK(r.node->overlap == 0.0);
  }
}

// Every topology through one trainer type per mode (a topology::one_of, as asgd-train holds
// them): one instantiation instead of seven keeps this file quick to compile in every build;
// that a one_of runs exactly what the topology named directly runs is tested below.
using every_topology = t::one_of<t::all_reduce, t::ring, t::torus, t::exponential, t::random_pairs, t::federated>;

template <class Mode>
void check_every_topology(bool blocking, std::size_t threads = 0) {
  check_mean_and_consensus<Mode>(every_topology{t::all_reduce{}}, blocking, true, threads);
  check_mean_and_consensus<Mode>(every_topology{t::ring{}}, blocking, true, threads);
  check_mean_and_consensus<Mode>(every_topology{t::torus{}}, blocking, true, threads);
  check_mean_and_consensus<Mode>(every_topology{t::exponential{}}, blocking, true, threads);
  check_mean_and_consensus<Mode>(every_topology{t::random_pairs{}}, blocking, true, threads);
  check_mean_and_consensus<Mode>(every_topology{t::random_pairs{.one_sided = true}}, blocking, false, threads);
  check_mean_and_consensus<Mode>(every_topology{t::federated{.fraction = 0.5}}, blocking, true, threads);
}

}  // namespace

TEST_SUITE("nodes") {
  // Modes whose mix cannot be lost to a concurrent worker write: the mean is exact. (HOGWILD!'s
  // racy writes can overwrite a mix, as they can overwrite each other: see the docs.)
  TEST_CASE_TEMPLATE("every topology: the mean is kept, consensus is reached (non-blocking)" * doctest::timeout(300),
                     Mode, c::leashed, c::locked, c::atomic_add) {
    check_every_topology<Mode>(false);
  }

  TEST_CASE_TEMPLATE("every topology: the mean is kept, consensus is reached (blocking)" * doctest::timeout(300), Mode,
                     c::sequential, c::hogwild, c::replicas) {
    check_every_topology<Mode>(true);
  }

  // One HOGWILD! worker a node is its model's only writer: the averager's mixes wait for its
  // next read instead of racing its stores, so none is lost and the mean is exact.
  TEST_CASE("every topology: one HOGWILD! worker a node keeps the mean exactly (non-blocking)" *
            doctest::timeout(300)) {
    check_every_topology<c::hogwild>(false, 1);
  }
}

namespace {

// A gradient that moves the model, so averaging rounds mix something that changes.
struct stepping {
  static constexpr std::string_view name = "stepping";
  float offset = 0.0f;
  [[nodiscard]] std::size_t dimension() const { return 32; }
  [[nodiscard]] std::size_t num_samples() const { return 1024; }
  float gradient(std::span<const float> x, asgd::batch_view b, std::span<float> g) const {
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = x[i] - static_cast<float>(b.front() % 7);
    return 0.0f;
  }
  void initialize(std::span<float> x, std::uint64_t) const {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = offset + 0.01f * static_cast<float>(i);
  }
};

// Four sequential nodes averaging while they pause are deterministic: the same topology and
// quantizer, held by a one_of or named directly, must give bit-identical models.
template <class Topo, class Quant>
std::vector<std::vector<float>> deterministic_nodes(Topo topo, Quant quant) {
  const asgd::settings s{.threads = 1, .steps = 256, .batch = 4, .lr = 0.05f, .averaging = {.every = 8, .blocking = true}};
  std::vector<std::vector<float>> models(4);
  auto group = asgd::transport::in_process::group(4);
  std::vector<asgd::trainer<stepping, c::sequential, Topo, Quant>> trainers;
  for (std::size_t k = 0; k < 4; ++k) trainers.emplace_back(stepping{.offset = offset_of(k)}, s, topo, quant, group[k]);
  std::vector<std::thread> th;
  std::vector<asgd::report> reports(4);
  for (std::size_t k = 0; k < 4; ++k) th.emplace_back([&, k] { reports[k] = trainers[k].run(); });
  for (auto& x : th) x.join();
  for (std::size_t k = 0; k < 4; ++k) {
    models[k].assign(trainers[k].parameters().begin(), trainers[k].parameters().end());
    models[k].push_back(static_cast<float>(reports[k].node->bytes_sent));  // the path taken shows in the bytes
  }
  return models;
}

}  // namespace

TEST_SUITE("nodes") {
  TEST_CASE("topology::one_of and quantize::one_of run exactly as the policy they hold" * doctest::timeout(120)) {
    using any_topology = t::one_of<t::all_reduce, t::ring, t::random_pairs>;
    using any_quantizer = asgd::quantize::one_of<asgd::quantize::identity, asgd::quantize::qsgd<8>>;
    // all_reduce with the identity: the all-reduce path (its bytes), not n - 1 exchanges.
    CHECK(deterministic_nodes(any_topology{t::all_reduce{}}, any_quantizer{}) ==
          deterministic_nodes(t::all_reduce{}, asgd::quantize::identity{}));
    CHECK(deterministic_nodes(any_topology{t::ring{}}, any_quantizer{asgd::quantize::qsgd<8>{}}) ==
          deterministic_nodes(t::ring{}, asgd::quantize::qsgd<8>{}));
    CHECK(deterministic_nodes(any_topology{t::random_pairs{}}, any_quantizer{}) ==
          deterministic_nodes(t::random_pairs{}, asgd::quantize::identity{}));

    any_topology topo = t::ring{};
    CHECK(asgd::detail::describe(topo) == asgd::detail::describe(t::ring{}));
    CHECK(topo.holds<t::ring>());
    asgd::topology::one_of<t::federated> bad = t::federated{.fraction = 2.0};
    CHECK_THROWS_AS(bad.validate(), std::invalid_argument);
  }

  TEST_CASE("transport::one_of forwards to the transport it holds") {
    using any_transport = asgd::transport::one_of<asgd::transport::in_process>;
    auto group = asgd::transport::in_process::group(2);
    any_transport a = group[0], b = group[1];
    CHECK(a.node_id() == 0);
    CHECK(b.node_id() == 1);
    CHECK(b.node_count() == 2);
    std::vector<float> va{1.0f}, vb{3.0f};
    std::thread other([&] { b.all_reduce_mean(vb); });
    a.all_reduce_mean(va);
    other.join();
    CHECK(va[0] == 2.0f);
    CHECK(vb[0] == 2.0f);
    b.leave("test");
    std::vector<std::vector<std::byte>> got;
    const std::size_t peer[] = {1};
    CHECK_THROWS_WITH_AS(a.exchange(0, peer, {}, got), doctest::Contains("node 1 left: test"), asgd::transport_error);

    // Gossip's wait for a copy's lock: node 1 publishes while node 0 holds its copy averaging.
    auto gossip = asgd::transport::in_process::group(2);
    any_transport c = gossip[0], d = gossip[1];
    c.open_gossip(4);
    d.open_gossip(4);
    auto write = [](std::span<const std::byte>, std::uint64_t, std::vector<std::byte>& out) {
      out.assign(4, std::byte{1});
    };
    d.publish(write);
    std::atomic<bool> holding{false};
    std::thread averaging([&] {
      CHECK(c.average_with(1, [&](std::span<const std::byte> copy, std::vector<std::byte>& out) {
        holding.store(true);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        out.assign(copy.begin(), copy.end());
      }));
    });
    while (!holding.load()) std::this_thread::yield();
    d.publish(write);
    averaging.join();
    CHECK(d.copy_wait_seconds() > 0.0);
  }
}

namespace {

// 4 nodes of `Mode`, still, far apart (offsets -1.5 to 1.5, a mean near 0): either one blocking
// round and no final average, or no round before the final average. Every node's final model,
// bit for bit.
template <class Mode>
std::vector<std::vector<float>> averaged_models(bool blocking) {
  const asgd::settings s{.threads = Mode::max_workers > 1 ? 2u : 1u, .steps = 64, .batch = 4, .lr = 0.05f,
                         .averaging = {.every = blocking ? 64u : 4096u, .blocking = blocking,
                                       .final_average = !blocking}};
  auto group = asgd::transport::in_process::group(4);
  std::vector<asgd::trainer<still_problem, Mode, t::all_reduce>> trainers;
  trainers.reserve(4);
  for (std::size_t k = 0; k < 4; ++k) {
    trainers.emplace_back(still_problem{.offset = offset_of(k)}, s, t::all_reduce{}, group[k]);
  }
  std::vector<std::thread> th;
  for (std::size_t k = 0; k < 4; ++k) th.emplace_back([&, k] { (void)trainers[k].run(); });
  for (auto& x : th) x.join();
  std::vector<std::vector<float>> models;
  for (const auto& tr : trainers) models.emplace_back(tr.parameters().begin(), tr.parameters().end());
  return models;
}

}  // namespace

TEST_SUITE("nodes") {
  // Blocking rounds and the final average replace each node's model by the mean (store.assign):
  // every node ends with the same floats. Adding mean - x instead rounds differently on each node.
  // Three modes: plain, racy and versioned stores (every store's assign: test_stores.cpp).
  TEST_CASE_TEMPLATE("after a blocking all-reduce or the final average every node holds the same model, bit for bit" *
                         doctest::timeout(120),
                     Mode, c::sequential, c::hogwild, c::leashed) {
    for (const bool blocking : {true, false}) {
      if (!blocking && !Mode::concurrent_mix) continue;
      CAPTURE(blocking);
      const auto models = averaged_models<Mode>(blocking);
      for (std::size_t k = 1; k < models.size(); ++k) CHECK(models[k] == models[0]);
    }
  }
}

namespace {

// Counts its gradients (per node: every worker's copy shares the counters), each taking 1 ms,
// and notes the threads that take them. Its first `waiting` evaluations wait until the node's
// workers have taken 4 more steps (at most 10 s), and note whether they did and whether the
// evaluation ran on a worker's thread.
struct watched_problem {
  struct watch {
    std::atomic<std::size_t> calls{0}, evaluations{0}, saw_steps{0}, on_worker_thread{0};
    std::mutex mutex;
    std::set<std::thread::id> workers;
  };
  static constexpr std::string_view name = "watched_problem";
  std::shared_ptr<watch> w = std::make_shared<watch>();
  std::size_t waiting = 2;

  [[nodiscard]] std::size_t dimension() const { return 32; }
  [[nodiscard]] std::size_t num_samples() const { return 1024; }
  float gradient(std::span<const float>, asgd::batch_view, std::span<float> g) const {
    {
      std::lock_guard lock(w->mutex);
      w->workers.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    w->calls.fetch_add(1);
    std::fill(g.begin(), g.end(), 0.01f);
    return 1.0f;
  }
  [[nodiscard]] asgd::evaluation evaluate(std::span<const float>) const {
    {
      std::lock_guard lock(w->mutex);
      if (w->workers.count(std::this_thread::get_id()) > 0) w->on_worker_thread.fetch_add(1);
    }
    if (w->evaluations.fetch_add(1) < waiting) {
      const std::size_t from = w->calls.load();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (w->calls.load() < from + 4 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (w->calls.load() >= from + 4) w->saw_steps.fetch_add(1);
    }
    return {0.5, 0.5};
  }
};

}  // namespace

TEST_SUITE("nodes") {
  // Before, the node's workers waited at the barrier while one of them evaluated the test set;
  // the other nodes went on, and the nodes drifted apart by hundreds of steps an epoch.
  TEST_CASE("a non-blocking node evaluates beside its workers; on_epoch keeps the epochs' order" *
            doctest::timeout(120)) {
    using trainer = asgd::trainer<watched_problem, c::hogwild, t::all_reduce>;
    constexpr std::size_t nodes = 2;
    const asgd::settings s{.threads = 2, .epochs = 3, .batch = 4, .lr = 0.01f, .evaluate_epochs = true,
                           .averaging = {.every = 8}};
    std::vector<watched_problem> problems(nodes);
    std::vector<std::vector<std::size_t>> epochs_seen(nodes);
    const std::vector<asgd::report> rep = asgd::run_in_process(nodes, [&](std::size_t k, asgd::transport::in_process ep) {
      trainer tr{problems[k], s, ep};
      tr.on_epoch([&seen = epochs_seen[k]](const asgd::epoch_progress& e) {
        CHECK(e.eval.has_value());
        seen.push_back(e.epoch);
      });
      return tr.run();
    });
    for (std::size_t k = 0; k < nodes; ++k) {
      CAPTURE(k);
      // Both evaluations before the last saw steps go on, on a thread that is no worker's.
      CHECK(problems[k].w->saw_steps.load() == 2);
      CHECK(problems[k].w->on_worker_thread.load() == 0);
      CHECK(epochs_seen[k] == std::vector<std::size_t>{1, 2, 3});
      REQUIRE(rep[k].epochs.size() == 3);
      for (const auto& e : rep[k].epochs) CHECK(e.eval.has_value());
      CHECK(rep[k].evaluations.size() >= 3);
    }
    // settings.background_evaluations = false: in the pause, on a worker's thread, as before.
    asgd::settings inline_settings = s;
    inline_settings.background_evaluations = false;
    std::vector<watched_problem> inline_problems(nodes);
    for (auto& q : inline_problems) q.waiting = 0;  // its workers wait: nothing to wait for
    (void)asgd::run_in_process(nodes, [&](std::size_t k, asgd::transport::in_process ep) {
      return trainer{inline_problems[k], inline_settings, ep};
    });
    // The pauses after epochs 1 and 2 (the last epoch is the final evaluation, on the node's thread).
    for (const auto& q : inline_problems) CHECK(q.w->on_worker_thread.load() == 2);
  }

  TEST_CASE("settings.averaging.realtime_averager: asked for, granted or refused as the OS decides, and said") {
    using trainer = asgd::trainer<still_problem, c::hogwild, t::all_reduce>;
    // Whether this process may use SCHED_FIFO: asked on a thread of its own, which then ends.
    std::string refused;
    std::thread([&] { refused = asgd::detail::request_realtime_scheduling(); }).join();
    auto run = [](asgd::averaging_settings a) {
      const asgd::settings s{.threads = 1, .steps = 64, .batch = 4, .lr = 0.1f, .averaging = a};
      return asgd::run_in_process(2, [&](std::size_t k, asgd::transport::in_process ep) {
        return trainer{still_problem{.offset = offset_of(k)}, s, ep};
      });
    };
    for (const asgd::report& r : run({.every = 8, .realtime_averager = true})) {
      CHECK(r.node->averager_scheduling ==
            (refused.empty() ? std::string("real-time") : "default (real-time refused: " + refused + ")"));
      CHECK(r.node->rounds == 8);
    }
    for (const asgd::report& r : run({.every = 8})) CHECK(r.node->averager_scheduling == "default");
    for (const asgd::report& r : run({.every = 8, .blocking = true})) CHECK(r.node->averager_scheduling.empty());
    auto bad = [] {
      asgd::settings s{.threads = 1, .steps = 64, .averaging = {.every = 8, .blocking = true, .realtime_averager = true}};
      s.validate();
    };
    CHECK_THROWS_WITH_AS(bad(), doctest::Contains("realtime_averager"), std::invalid_argument);
  }

  TEST_CASE("settings.averaging.rounds_on_workers: the workers take every round, and the mean lands" *
            doctest::timeout(120)) {
    // Leashed: its mix-in is a version of its own, which no worker's update overwrites. Under
    // HOGWILD! a worker that read the model before a mix-in may write its old values back over
    // it (a lost update, as its paper allows), and the next round averages that node's model
    // from before the mix: a CI run on a loaded machine ended at the wrong mean so.
    using trainer = asgd::trainer<still_problem, c::leashed, t::all_reduce>;
    constexpr std::size_t nodes = 3;
    // No final average: what the nodes hold is what the rounds left (the gradient is zero).
    const asgd::settings s{.threads = 2, .steps = 96, .batch = 4, .lr = 0.1f,
                           .averaging = {.every = 8, .final_average = false, .rounds_on_workers = true}};
    std::vector<std::vector<float>> models(nodes);
    const std::vector<asgd::report> rep = asgd::run_in_process(nodes, [&](std::size_t k, asgd::transport::in_process ep) {
      trainer tr{still_problem{.offset = offset_of(k)}, s, ep};
      asgd::report r = tr.run();
      models[k].assign(tr.parameters().begin(), tr.parameters().end());
      return r;
    });
    const float mean = (offset_of(0) + offset_of(1) + offset_of(2)) / 3.0f;
    for (std::size_t k = 0; k < nodes; ++k) {
      CAPTURE(k);
      REQUIRE(rep[k].node.has_value());
      CHECK(rep[k].node->rounds == 12);
      CHECK(rep[k].node->averager_scheduling == "none: rounds on workers");
      CHECK(rep[k].node->bytes_sent == 12 * (2 * (nodes - 1) * 32 * sizeof(float) / nodes));  // round_with's count
      CHECK(rep[k].steps == 96);
      for (std::size_t i = 0; i < models[k].size(); ++i) {
        CHECK(models[k][i] == doctest::Approx(mean + 0.01f * static_cast<float>(i)).epsilon(1e-5));
      }
    }
    // What it cannot take on a worker is refused before any step, saying what and why.
    auto refused = [&](auto make, const char* why) {
      CAPTURE(why);
      CHECK_THROWS_WITH_AS((void)asgd::run_in_process(2, make), doctest::Contains(why), std::invalid_argument);
    };
    refused(
        [&](std::size_t k, asgd::transport::in_process ep) {
          return asgd::trainer<still_problem, c::hogwild, t::ring>{still_problem{.offset = offset_of(k)}, s, t::ring{},
                                                                   ep};
        },
        "its rounds are not an all-reduce of equally weighted models");
    asgd::settings consensus = s;
    consensus.averaging.consensus_every = 2;
    refused([&](std::size_t k, asgd::transport::in_process ep) { return trainer{still_problem{.offset = offset_of(k)}, consensus, ep}; },
            "must be 0 with averaging.rounds_on_workers");
    for (const bool blocking : {true, false}) {
      asgd::settings bad = s;
      bad.averaging.blocking = blocking;
      bad.averaging.realtime_averager = !blocking;
      CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("rounds_on_workers"), std::invalid_argument);
    }
  }
}
