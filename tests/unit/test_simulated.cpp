// trainer::simulate: the trainer's workers as tasks of a sim::simulation. Each mode's run is the
// same on every repetition, bit for bit; one simulated worker computes what a real one does;
// virtual time is the cost model's sum; contention arises where the modes' semantics put it.
#include "../support.hpp"

#include <asgd/detail/sync.hpp>
#include <asgd/sim/recording.hpp>
#include <asgd/sim/simulation.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using ls = asgd::problems::least_squares;

ls simulated_problem() { return asgd::problems::make_least_squares(2000, 32, 0.1, 5).problem; }

asgd::settings simulated_settings(std::size_t threads) {
  return {.threads = threads, .epochs = 2, .batch = 8, .lr = 0.02f, .seed = 11};
}

// The virtual time that `f`, called on a simulated task, takes.
template <class F>
double virtual_seconds(F&& f) {
  auto* hooks = asgd::detail::simulated();
  const double t0 = hooks->now();
  f();
  return hooks->now() - t0;
}

struct simulated_run {
  asgd::report report;
  std::vector<float> model;
};

template <class Mode>
simulated_run simulate(std::size_t threads, const asgd::sim::cost_model& costs, Mode mode = {}) {
  // [example-begin simulate]
  asgd::trainer<ls, Mode> t{simulated_problem(), simulated_settings(threads), mode};
  t.simulate(costs);         // asgd::sim::cost_model::machine(), or one read from a file
  asgd::report r = t.run();  // r.wall_seconds is virtual; r.simulation->host_seconds, the host's
  // [example-end simulate]
  return {std::move(r), {t.parameters().begin(), t.parameters().end()}};
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Gradients that straggle (a lognormal), so that the workers' steps interleave irregularly.
asgd::sim::cost_model straggling() {
  asgd::sim::cost_model c = asgd::sim::cost_model::machine();
  c.gradient_per_sample = {2e-6, 0.5};
  return c;
}

template <class Mode>
void check_reproducible(Mode mode = {}) {
  const simulated_run a = simulate<Mode>(8, straggling(), mode);
  const simulated_run b = simulate<Mode>(8, straggling(), mode);
  CAPTURE(Mode::name);
  CHECK(same_bits(a.model, b.model));
  CHECK(a.report.wall_seconds == b.report.wall_seconds);
  CHECK(a.report.staleness.total() == b.report.staleness.total());
  CHECK(a.report.staleness.mean() == b.report.staleness.mean());
  CHECK(a.report.cas_retries.mean() == b.report.cas_retries.mean());
  REQUIRE(a.report.simulation);
  CHECK(a.report.simulation->task_switches == b.report.simulation->task_switches);
  CHECK(a.report.simulation->task_switches > 0);  // the 8 workers did interleave
}

// Records a real run of `threads` workers, replays the recording (and, saved and loaded, again):
// the replays end with the recorded run's model and statistics, bit for bit.
template <class Mode>
void check_replay(std::size_t threads, Mode mode = {}) {
  CAPTURE(Mode::name);
  CAPTURE(threads);
  // [example-begin replay]
  asgd::sim::recording rec;
  asgd::trainer<ls, Mode> real{simulated_problem(), simulated_settings(threads), mode};
  real.record(&rec);  // the next runs log what their workers see of each other
  const asgd::report recorded = real.run();

  asgd::trainer<ls, Mode> again{simulated_problem(), simulated_settings(threads), mode};
  again.replay(&rec);  // a simulated run that follows the recording
  const asgd::report replayed = again.run();
  // again.parameters() == real.parameters(), bit for bit
  // [example-end replay]
  CHECK(rec.workers() == threads);
  if (!Mode::lockstep) CHECK(rec.events() >= recorded.steps);  // at least each step's claim
  CHECK(same_bits(again.parameters(), real.parameters()));
  CHECK(replayed.steps == recorded.steps);
  CHECK(replayed.updates_applied == recorded.updates_applied);
  CHECK(replayed.updates_dropped == recorded.updates_dropped);
  CHECK(replayed.model_version == recorded.model_version);
  CHECK(replayed.staleness.total() == recorded.staleness.total());
  CHECK(replayed.staleness.mean() == recorded.staleness.mean());
  CHECK(replayed.cas_retries.mean() == recorded.cas_retries.mean());
  REQUIRE(replayed.epochs.size() == recorded.epochs.size());
  CHECK(replayed.epochs.back().train_loss == recorded.epochs.back().train_loss);
  REQUIRE(replayed.simulation);

  const auto file = std::filesystem::temp_directory_path() /
                    ("asgd_test_replay_" + std::to_string(::getpid()) + "_" + std::string(Mode::name));
  rec.save(file);
  const asgd::sim::recording loaded = asgd::sim::recording::load(file);
  std::filesystem::remove(file);
  CHECK(loaded.run() == rec.run());
  CHECK(loaded.events() == rec.events());
  asgd::trainer<ls, Mode> third{simulated_problem(), simulated_settings(threads), mode};
  third.replay(&loaded);
  third.simulate(straggling());  // other costs: other virtual times, the same floats
  (void)third.run();
  CHECK(same_bits(third.parameters(), real.parameters()));
}

// Records 3 real nodes of 2 `Mode` workers averaging over `Topology` as `avg` says, replays the
// group in virtual time (after a trip through one file), and compares every node's model.
template <class Mode, class Topology>
void check_nodes_replay(asgd::averaging_settings avg) {
  constexpr std::size_t nodes = 3;
  std::vector<asgd::sim::recording> recs(nodes);
  std::vector<std::vector<float>> real(nodes), replayed(nodes);
  auto group = [&](bool replay, std::vector<std::vector<float>>& models) {
    return [&, replay](std::size_t k, asgd::transport::in_process ep) {
      asgd::settings s = simulated_settings(2);
      s.averaging = avg;
      asgd::trainer<ls, Mode, Topology> t{simulated_problem(), s, std::move(ep)};
      if (replay) {
        t.replay(&recs[k]);
      } else {
        t.record(&recs[k]);
      }
      asgd::report r = t.run();
      models[k].assign(t.parameters().begin(), t.parameters().end());
      return r;
    };
  };
  const auto a = asgd::run_in_process(nodes, group(false, real));
  // The group's recordings in one file, and back: node k's at k.
  const auto file = std::filesystem::temp_directory_path() / ("asgd_test_node_recordings_" + std::to_string(::getpid()));
  asgd::sim::recording::save_nodes(file, recs);
  const std::vector<asgd::sim::recording> saved = std::exchange(recs, asgd::sim::recording::load_nodes(file));
  REQUIRE(recs.size() == nodes);
  for (std::size_t k = 0; k < nodes; ++k) {
    CHECK(recs[k].run() == saved[k].run());
    CHECK(recs[k].events() == saved[k].events());
  }
  // One recording's load() names what the file holds instead.
  CHECK_THROWS_WITH_AS((void)asgd::sim::recording::load(file), doctest::Contains("the recordings of several nodes"),
                       asgd::checkpoint_error);
  std::filesystem::remove(file);
  const auto b = asgd::sim::run_in_process(nodes, group(true, replayed), straggling(), 3);
  for (std::size_t k = 0; k < nodes; ++k) {
    CAPTURE(k);
    CHECK(same_bits(real[k], replayed[k]));
    REQUIRE(a[k].node);
    REQUIRE(b[k].node);
    CHECK(a[k].node->rounds == b[k].node->rounds);
    CHECK(a[k].node->skipped_interactions == b[k].node->skipped_interactions);
    CHECK(a[k].node->pushes_received == b[k].node->pushes_received);
    CHECK(a[k].node->final_consensus_distance == b[k].node->final_consensus_distance);
    CHECK(a[k].staleness.total() == b[k].staleness.total());
    CHECK(a[k].cas_retries.mean() == b[k].cas_retries.mean());
  }
}

// A mode that does not say it can be simulated (HOGWILD!'s store, without the flag).
struct unsimulated_mode {
  using policy_kind = asgd::consistency_mode_tag;
  static constexpr std::string_view name = "unsimulated";
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 8;
  using store = asgd::consistency::hogwild::store;
};

}  // namespace

TEST_SUITE("simulated trainer") {
  TEST_CASE("every mode's simulated run gives the same model, bit for bit, on every run") {
    check_reproducible<asgd::consistency::hogwild>();
    check_reproducible<asgd::consistency::locked>();
    check_reproducible<asgd::consistency::leashed>();
    check_reproducible<asgd::consistency::atomic_add>();
    check_reproducible<asgd::consistency::bounded_staleness<2>>();
    check_reproducible<asgd::consistency::synchronous>();
    check_reproducible<asgd::consistency::replicas>();
  }

  TEST_CASE("one simulated worker computes what one real worker does, in virtual time the cost model sums") {
    asgd::sim::cost_model costs = asgd::sim::cost_model::machine();
    costs.gradient_per_sample.sigma = 0.0;  // every step as long
    const simulated_run sim = simulate<asgd::consistency::sequential>(1, costs);
    asgd::trainer<ls, asgd::consistency::sequential> real{simulated_problem(), simulated_settings(1)};
    const asgd::report r = real.run();
    CHECK(same_bits(sim.model, real.parameters()));
    CHECK(sim.report.steps == r.steps);
    CHECK_FALSE(r.simulation);
    // Each step: a batch's gradient and an update of every coordinate; nothing else costs time.
    const double step = 8 * costs.gradient_per_sample.median + 12.0 * 32 / costs.update_bandwidth;
    CHECK(sim.report.wall_seconds == doctest::Approx(static_cast<double>(r.steps) * step).epsilon(1e-9));
    CHECK(sim.report.to_json().find("\"simulation\": {\"host_seconds\"") != std::string::npos);
  }

  TEST_CASE("simulated workers that only compute scale with their number; a lock serialises what it holds") {
    // Gradients of 1 ms and nothing else dear: 8 HOGWILD! workers take an eighth of one's time.
    asgd::sim::cost_model compute = asgd::sim::cost_model::machine();
    compute.gradient_per_sample = {1e-3 / 8, 0.0};
    const double one = simulate<asgd::consistency::hogwild>(1, compute).report.wall_seconds;
    const double eight = simulate<asgd::consistency::hogwild>(8, compute).report.wall_seconds;
    CHECK(eight == doctest::Approx(one / 8).epsilon(0.02));

    // Free gradients and a dear copy: the lock holds each read's copy and each update, so 8
    // workers take at least the sum of their critical sections, as one worker does.
    asgd::sim::cost_model copying = asgd::sim::cost_model::machine();
    copying.gradient_per_sample = {0.0, 0.0};
    copying.copy_bandwidth = 4.0 * 32 / 1e-4;  // a copy of the model: 100 us
    const simulated_run locked = simulate<asgd::consistency::locked>(8, copying);
    CHECK(locked.report.wall_seconds >= static_cast<double>(locked.report.steps) * 1e-4);
    // First come, first served: between a worker's read and its update the lock passes through
    // the 7 others' queued reads and updates, about half of them updates: staleness near 3.5.
    CHECK(locked.report.staleness.mean() > 3.0);
    CHECK(locked.report.staleness.mean() < 4.0);
    // HOGWILD!'s copies run side by side.
    const simulated_run hog = simulate<asgd::consistency::hogwild>(8, copying);
    CHECK(hog.report.wall_seconds < locked.report.wall_seconds / 4);
  }

  // `slow` charges a cost that only a second worker causes, `fast` the same without it: two
  // workers pay it on at least `share` of their steps (`extra` seconds each), one never does.
  template <class Mode>
  void check_paid_beside_another(const asgd::sim::cost_model& fast, const asgd::sim::cost_model& slow, double extra,
                                 double share) {
    const simulated_run a = simulate<Mode>(2, fast);
    const simulated_run b = simulate<Mode>(2, slow);
    CHECK(b.report.wall_seconds - a.report.wall_seconds > share * static_cast<double>(b.report.steps) * extra);
    CHECK(simulate<Mode>(1, slow).report.wall_seconds ==
          doctest::Approx(simulate<Mode>(1, fast).report.wall_seconds).epsilon(1e-12));
  }

  TEST_CASE("a locked update after another worker's first moves the model's lines from its core") {
    // Free gradients and copies; an update takes 100 us, and 400 us more when the other worker
    // wrote the model last. Two workers take turns at the lock, so most updates pay the move.
    asgd::sim::cost_model fast = asgd::sim::cost_model::machine();
    fast.gradient_per_sample = {0.0, 0.0};
    fast.copy_bandwidth = 1e18;
    fast.shared_copy_bandwidth = 1e18;
    fast.update_bandwidth = 12.0 * 32 / 1e-4;
    asgd::sim::cost_model slow = fast;
    slow.shared_copy_bandwidth = 4.0 * 32 / 4e-4;
    check_paid_beside_another<asgd::consistency::locked>(fast, slow, 4e-4, 0.5);
  }

  // Leashed-SGD's versions built in 100 us (a copy of the 32 floats, from any core), updates free.
  asgd::sim::cost_model leashed_builds(asgd::sim::duration gradient_per_sample) {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.gradient_per_sample = gradient_per_sample;
    c.copy_bandwidth = 4.0 * 32 / 1e-4;
    c.shared_copy_bandwidth = c.copy_bandwidth;
    c.update_bandwidth = 1e18;
    return c;
  }

  TEST_CASE("a leashed version built into a buffer that another worker read takes its lines back first") {
    // Free gradients; building a version costs 100 us, and 400 us more when another worker read
    // the recycled buffer while it was published. Two workers read each other's versions.
    const asgd::sim::cost_model fast = leashed_builds({0.0, 0.0});
    asgd::sim::cost_model slow = fast;
    slow.shared_write_bandwidth = 4.0 * 32 / 4e-4;
    check_paid_beside_another<asgd::consistency::leashed>(fast, slow, 4e-4, 0.25);
  }

  TEST_CASE("a leashed worker's directions cost an update's time once a step, in its build or in a pass of their own") {
    // Gradients of about 1 ms, builds of 100 us; the directions take 1 ms more. One worker's
    // read version is always the newest: the directions ride on its build, and cost what a pass
    // would (the arithmetic is the same). Of two workers', often not: the other published during
    // the gradient, and the directions take a pass of their own first. Either way once a step:
    // a retry reuses them.
    const asgd::sim::cost_model fast =
        leashed_builds({1e-3 / static_cast<double>(simulated_settings(1).batch), 0.3});
    asgd::sim::cost_model slow = fast;
    slow.update_bandwidth = 12.0 * 32 / 1e-3;
    const simulated_run one_fast = simulate<asgd::consistency::leashed>(1, fast);
    const simulated_run one_slow = simulate<asgd::consistency::leashed>(1, slow);
    const auto steps = static_cast<double>(one_slow.report.steps);
    CHECK(one_slow.report.wall_seconds - one_fast.report.wall_seconds == doctest::Approx(steps * 1e-3).epsilon(1e-9));
    // Two workers: each pays 1 ms for each of its half of the steps, and nothing more for its
    // retries (their count grows with the wider window; a retry's build costs 100 us).
    const simulated_run two_fast = simulate<asgd::consistency::leashed>(2, fast);
    const simulated_run two_slow = simulate<asgd::consistency::leashed>(2, slow);
    const double more = two_slow.report.wall_seconds - two_fast.report.wall_seconds;
    const double retries = two_slow.report.cas_retries.mean() * steps - two_fast.report.cas_retries.mean() * steps;
    CHECK(more > 0.4 * steps * 1e-3);
    CHECK(more < 0.6 * steps * 1e-3 + std::max(retries, 0.0) * 1e-4);
  }

  TEST_CASE("a shared memory bandwidth serves the workers' copies and updates one after another") {
    // Free gradients; each worker's own bandwidths are high, the memory system's is not: 8
    // HOGWILD! workers then take at least all their bytes over the shared bandwidth, and about
    // 8 times as long as with no shared limit.
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.gradient_per_sample = {0.0, 0.0};
    const double free_run = simulate<asgd::consistency::hogwild>(8, c).report.wall_seconds;
    c.memory_bandwidth = c.update_bandwidth / 8;
    const simulated_run shared = simulate<asgd::consistency::hogwild>(8, c);
    // Every step writes its update (12 bytes a coordinate) at least; reads copy what it did not.
    const double least = static_cast<double>(shared.report.steps) * 12.0 * 32 / c.memory_bandwidth;
    CHECK(shared.report.wall_seconds >= least * (1 - 1e-9));
    CHECK(shared.report.wall_seconds > 4 * free_run);
    // One worker alone is served as fast as its own bandwidth allows.
    asgd::sim::cost_model one = c;
    one.memory_bandwidth = one.update_bandwidth;
    asgd::sim::cost_model none = c;
    none.memory_bandwidth = 0.0;
    CHECK(simulate<asgd::consistency::hogwild>(1, one).report.wall_seconds ==
          doctest::Approx(simulate<asgd::consistency::hogwild>(1, none).report.wall_seconds).epsilon(1e-12));
  }

  TEST_CASE("a copy of a buffer that another task wrote last costs the shared copy bandwidth") {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.copy_bandwidth = 4e9;         // 1 ms for a million floats
    c.shared_copy_bandwidth = 1e9;  // 4 ms
    constexpr std::size_t n = 1000000;
    const int written = 0, untouched = 0;
    std::array<double, 4> took{};
    asgd::sim::simulation sim(c, 3);
    sim.run(2, [&](asgd::sim::task& t) {
      auto* hooks = asgd::detail::simulated();
      auto timed = [&](const void* buffer) {
        const double t0 = hooks->now();
        asgd::detail::charge_copy_from(buffer, n);
        return hooks->now() - t0;
      };
      if (t.id() == 0) {
        asgd::detail::charge_wrote(&written);
        took[0] = timed(&written);  // its own
      } else {
        hooks->sleep(1.0);  // after task 0 wrote it
        took[1] = timed(&written);
        took[2] = timed(&untouched);  // nobody wrote it
        asgd::detail::charge_wrote(&written);
        took[3] = timed(&written);  // its own now
      }
    });
    CHECK(took[0] == doctest::Approx(1e-3));
    CHECK(took[1] == doctest::Approx(4e-3));
    CHECK(took[2] == doctest::Approx(1e-3));
    CHECK(took[3] == doctest::Approx(1e-3));
  }

  TEST_CASE("a read in place pulls another task's lines once, and a copy after it finds them here") {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.copy_bandwidth = 4e9;         // 1 ms for a million floats
    c.shared_copy_bandwidth = 1e9;  // 4 ms
    c.memory_bandwidth = 0.0;
    constexpr std::size_t n = 1000000;
    const int buffer = 0;
    std::array<double, 6> took{};
    asgd::sim::simulation sim(c, 3);
    sim.run(2, [&](asgd::sim::task& t) {
      auto* hooks = asgd::detail::simulated();
      if (t.id() == 0) {
        asgd::detail::charge_wrote(&buffer);
        took[0] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&buffer, n); });  // its own lines
        hooks->sleep(2.0);
        asgd::detail::charge_wrote(&buffer);  // task 1's copies are stale now
      } else {
        hooks->sleep(1.0);
        took[1] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&buffer, n); });  // task 0's lines come over
        took[2] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&buffer, n); });  // here already
        took[3] = virtual_seconds([&] { asgd::detail::charge_copy_from(&buffer, n); });      // a copy from this core
        hooks->sleep(2.0);
        took[4] = virtual_seconds([&] { asgd::detail::charge_copy_from(&buffer, n); });  // rewritten: from task 0 again
        took[5] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&buffer, n); });
      }
    });
    CHECK(took[0] == 0.0);
    CHECK(took[1] == doctest::Approx(4e-3));
    CHECK(took[2] == 0.0);
    CHECK(took[3] == doctest::Approx(1e-3));
    CHECK(took[4] == doctest::Approx(4e-3));
    CHECK(took[5] == 0.0);
  }

  TEST_CASE("lines pulled by a read in place or an update take their turn on the shared memory bandwidth") {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.copy_bandwidth = 4e9;
    c.shared_copy_bandwidth = 4e9;  // 1 ms for a million floats, each task alone
    c.update_bandwidth = 1e18;      // an update's own 12 bytes a coordinate: 12 ms on the shared limit
    c.memory_bandwidth = 1e9;       // 4 ms for them, all tasks together
    constexpr std::size_t n = 1000000;
    const std::array<int, 3> buffers{};
    std::array<double, 3> took{};
    asgd::sim::simulation sim(c, 3);
    sim.run(3, [&](asgd::sim::task& t) {
      auto* hooks = asgd::detail::simulated();
      if (t.id() == 0) {
        for (const int& b : buffers) asgd::detail::charge_wrote(&b);
        return;
      }
      hooks->sleep(1.0);  // both after task 0 wrote, at the same virtual time
      took[t.id()] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&buffers[t.id()], n); });
      if (t.id() == 1) {
        hooks->sleep(1.0);  // alone on the memory system now
        took[0] = virtual_seconds([&] { asgd::detail::charge_update_of(&buffers[0], n); });
      }
    });
    // The two pulls one after the other at the shared 1 GB/s: one ends at 4 ms, the other at 8.
    CHECK(std::min(took[1], took[2]) == doctest::Approx(4e-3));
    CHECK(std::max(took[1], took[2]) == doctest::Approx(8e-3));
    // The update: its pull (4 ms at the shared limit, 1 ms at the task's own) and its own bytes.
    CHECK(took[0] == doctest::Approx(16e-3));
  }

  TEST_CASE("writing a buffer that another task read since costs the shared write bandwidth") {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.copy_bandwidth = 4e9;           // 1 ms for a million floats
    c.shared_copy_bandwidth = 4e9;    // the same: only the writes' extra shows
    c.update_bandwidth = 12e9;        // 1 ms for a million coordinates
    c.shared_write_bandwidth = 2e9;   // 2 ms more for a million floats others read
    c.memory_bandwidth = 0.0;
    constexpr std::size_t n = 1000000;
    const int buffer = 0;
    std::array<double, 5> took{};
    asgd::sim::simulation sim(c, 3);
    sim.run(2, [&](asgd::sim::task& t) {
      auto* hooks = asgd::detail::simulated();
      if (t.id() == 0) {
        asgd::detail::charge_copy_from(&buffer, n);  // its own read: it costs its writes nothing
        took[0] = virtual_seconds([&] { asgd::detail::charge_overwrite(&buffer, n); });
        hooks->sleep(1.0);  // task 1 reads it meanwhile
        took[1] = virtual_seconds([&] { asgd::detail::charge_overwrite(&buffer, n); });
        took[2] = virtual_seconds([&] { asgd::detail::charge_overwrite(&buffer, n); });  // nobody read it since
        hooks->sleep(1.0);  // task 1 reads it again
        took[3] = virtual_seconds([&] { asgd::detail::charge_update_of(&buffer, n); });
        took[4] = virtual_seconds([&] { asgd::detail::charge_update_of(&buffer, n); });
      } else {
        hooks->sleep(0.5);
        asgd::detail::charge_copy_from(&buffer, n);
        hooks->sleep(1.0);
        asgd::detail::charge_copy_from(&buffer, n);
      }
    });
    CHECK(took[0] == doctest::Approx(0.0));
    CHECK(took[1] == doctest::Approx(2e-3));
    CHECK(took[2] == doctest::Approx(0.0));
    CHECK(took[3] == doctest::Approx(3e-3));  // the update's 1 ms and the lines' 2 ms
    CHECK(took[4] == doctest::Approx(1e-3));
    // Not charged where the cost model leaves it at 0.
    c.shared_write_bandwidth = 0.0;
    double free_write = -1.0;
    asgd::sim::simulation plain(c, 3);
    plain.run(2, [&](asgd::sim::task& t) {
      auto* hooks = asgd::detail::simulated();
      if (t.id() == 1) {
        asgd::detail::charge_copy_from(&buffer, n);
      } else {
        hooks->sleep(1.0);
        const double t0 = hooks->now();
        asgd::detail::charge_overwrite(&buffer, n);
        free_write = hooks->now() - t0;
      }
    });
    CHECK(free_write == 0.0);
  }

  TEST_CASE("a streamed write takes no lines back, and its lines come from memory for every reader") {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.copy_bandwidth = 4e9;           // 1 ms for a million floats
    c.shared_copy_bandwidth = 1e9;    // 4 ms
    c.shared_write_bandwidth = 2e9;   // 2 ms
    c.stream_write_bandwidth = 8e9;   // 0.5 ms
    c.stream_read_bandwidth = 0.5e9;  // 8 ms
    c.update_bandwidth = 12e9;        // 1 ms for a million coordinates
    c.memory_bandwidth = 0.0;
    constexpr std::size_t n = 1000000;
    const int buffer = 0;
    std::array<double, 7> took{};
    asgd::sim::simulation sim(c, 3);
    sim.run(2, [&](asgd::sim::task& t) {
      auto* hooks = asgd::detail::simulated();
      if (t.id() == 0) {
        REQUIRE(asgd::detail::simulated_streams());
        asgd::detail::charge_overwrite(&buffer, n);
        hooks->sleep(1.0);  // task 1 reads it meanwhile
        took[0] = virtual_seconds([&] { asgd::detail::charge_stream(&buffer, n); });  // nothing taken back
        took[1] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&buffer, n); });  // the writer's own read: memory
        took[2] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&buffer, n); });  // in its cache now
        hooks->sleep(1.0);  // task 1 reads it meanwhile
        asgd::detail::charge_stream(&buffer, n);
        took[3] = virtual_seconds([&] { asgd::detail::charge_update_of(&buffer, n); });  // from memory, then the update
        took[4] = virtual_seconds([&] { asgd::detail::charge_update_of(&buffer, n); });
      } else {
        hooks->sleep(0.5);
        asgd::detail::charge_copy_from(&buffer, n);  // written by task 0: from its core
        hooks->sleep(0.5);
        took[5] = virtual_seconds([&] { asgd::detail::charge_copy_from(&buffer, n); });  // streamed: from memory
        took[6] = virtual_seconds([&] { asgd::detail::charge_copy_from(&buffer, n); });  // in its cache now
      }
    });
    CHECK(took[0] == doctest::Approx(0.5e-3));
    CHECK(took[1] == doctest::Approx(8e-3));
    CHECK(took[2] == 0.0);
    CHECK(took[3] == doctest::Approx(9e-3));
    CHECK(took[4] == doctest::Approx(1e-3));
    CHECK(took[5] == doctest::Approx(8e-3));
    CHECK(took[6] == doctest::Approx(1e-3));
    // A read in place of a streamed buffer pulls at the stream read bandwidth, of one written
    // plainly at the shared copy bandwidth.
    const int other = 0;  // a buffer written plainly
    std::array<double, 3> pulled{};
    asgd::sim::simulation reads(c, 3);
    reads.run(2, [&](asgd::sim::task& t) {
      auto* hooks = asgd::detail::simulated();
      if (t.id() == 0) {
        asgd::detail::charge_stream(&buffer, n);
        asgd::detail::charge_overwrite(&other, n);
      } else {
        hooks->sleep(1.0);
        pulled[0] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&buffer, n); });  // from memory
        pulled[1] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&other, n); });   // from task 0's core
        pulled[2] = virtual_seconds([&] { asgd::detail::charge_read_in_place(&buffer, n); });  // here already
      }
    });
    CHECK(pulled[0] == doctest::Approx(8e-3));
    CHECK(pulled[1] == doctest::Approx(4e-3));
    CHECK(pulled[2] == 0.0);
    // Not priced where the cost model leaves the stream bandwidths at 0: the stores charge a
    // plain write then.
    c.stream_write_bandwidth = c.stream_read_bandwidth = 0.0;
    bool priced = true;
    asgd::sim::simulation plain(c, 3);
    plain.run(1, [&](asgd::sim::task&) { priced = asgd::detail::simulated_streams(); });
    CHECK_FALSE(priced);
    CHECK_FALSE(asgd::detail::simulated_streams());  // outside a simulation
  }

  TEST_CASE("an in-process all-reduce reads the other nodes' vectors, and they read the mean, across cores") {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.copy_bandwidth = 4e9;         // 1 ms for a million floats
    c.shared_copy_bandwidth = 1e9;  // 4 ms
    c.wake_seconds = 0.0;
    c.link_latency_seconds = 0.0;  // the messages themselves next to free: the copies cost
    c.link_bandwidth = 1e18;
    constexpr std::size_t n = 1000000;
    std::array<std::vector<float>, 2> v;
    std::array<double, 2> start{}, end{};
    auto reduce_two = [&] {  // a fresh pair of nodes, simulated under `c`
      auto group = asgd::transport::in_process::group(2);
      v = {std::vector<float>(n, 1.0f), std::vector<float>(n, 3.0f)};
      asgd::sim::simulation sim(c, 3);
      sim.run(2, [&](asgd::sim::task& t) {
        auto* hooks = asgd::detail::simulated();
        if (t.id() == 1) hooks->sleep(1.0);  // node 0 arrives first and waits
        start[t.id()] = hooks->now();
        group[t.id()].all_reduce_mean(v[t.id()]);
        end[t.id()] = hooks->now();
      });
    };
    reduce_two();
    CHECK(v[0][7] == 2.0f);
    CHECK(v[1][7] == 2.0f);
    // The last to arrive reads its own vector and node 0's (from node 0's core) and writes both.
    CHECK(end[1] - start[1] == doctest::Approx(5e-3));
    // Node 0 reads the mean from node 1's core when it wakes.
    CHECK(end[0] == doctest::Approx(1.0 + 5e-3 + 4e-3));

    // Where the cost model charges writes to lines another core holds, the mean written into
    // node 0's vector, which node 0 wrote and node 1 has just read, first invalidates node 0's
    // copy: 4 bytes a float at 2 GB/s, 2 ms more. Node 1's own vector costs it nothing more.
    c.shared_write_bandwidth = 2e9;
    reduce_two();
    CHECK(v[0][7] == 2.0f);
    CHECK(end[1] - start[1] == doctest::Approx(7e-3));
    CHECK(end[0] == doctest::Approx(1.0 + 7e-3 + 4e-3));
  }

  TEST_CASE("a cluster's all-reduce takes its collective's time from the last node's joining, and copies nothing") {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.copy_bandwidth = 4e9;
    c.shared_copy_bandwidth = 1e9;  // 4 ms a vector, were the in-process mean's copies charged
    c.link_latency_seconds = 5e-5;
    c.link_bandwidth = 1e9;
    constexpr std::size_t n = 1000000, nodes = 4;
    for (const auto model : {asgd::sim::all_reduce_model::ring, asgd::sim::all_reduce_model::halving_doubling}) {
      c.link_all_reduce = model;
      const double collective = c.all_reduce_seconds(nodes, n * sizeof(float));
      REQUIRE(collective > 0.0);
      for (const bool split : {false, true}) {
        CAPTURE(static_cast<int>(model));
        CAPTURE(split);
        auto group = asgd::transport::in_process::group(nodes);
        std::array<std::vector<float>, nodes> v;
        std::array<double, nodes> end{};
        std::array<bool, nodes> ready_early{};
        for (std::size_t k = 0; k < nodes; ++k) v[k].assign(n, static_cast<float>(k));
        asgd::sim::simulation sim(c, 3);
        sim.run(nodes, [&](asgd::sim::task& t) {
          auto* hooks = asgd::detail::simulated();
          const std::size_t k = t.id();
          if (k == 2) hooks->sleep(1.0);  // the others wait for node 2
          if (split) {  // post_mean and await_mean, as non-blocking rounds take it
            const std::uint64_t ticket = group[k].post_mean(v[k]);
            if (k == 2) ready_early[k] = group[k].mean_ready(ticket);  // the mean is computed, not yet delivered
            group[k].await_mean(ticket, v[k]);
          } else {
            group[k].all_reduce_mean(v[k]);
          }
          end[k] = hooks->now();
        });
        for (std::size_t k = 0; k < nodes; ++k) {
          CAPTURE(k);
          CHECK(v[k][7] == 1.5f);
          CHECK(end[k] == doctest::Approx(1.0 + collective));
        }
        CHECK_FALSE(ready_early[2]);
      }
    }
  }

  TEST_CASE("a woken task waits out the wake-up's latency holding no core, then does the OS's part on one") {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.cores = 1;
    c.copy_bandwidth = 4e9;  // 20 ms for 20 million floats
    c.wake_seconds = 10e-3;
    const int key = 0;
    for (const double cpu : {0.0, 4e-3}) {
      CAPTURE(cpu);
      c.wake_cpu_seconds = cpu;
      double woken_at = 0.0;
      asgd::sim::simulation sim(c, 3);
      sim.run(2, [&](asgd::sim::task& t) {
        auto* hooks = asgd::detail::simulated();
        if (t.id() == 0) {
          hooks->park(&key);
          woken_at = hooks->now();
        } else {
          hooks->unpark_all(&key);  // at 0 s
          asgd::detail::charge_copy(20'000'000);  // the only core is busy until 20 ms
        }
      });
      // Without a CPU part the wake-up ends at 10 ms whatever the core does; with 4 ms of it, the
      // task waits 6 ms, then for the core (free at 20 ms), then works 4 ms on it.
      CHECK(woken_at == doctest::Approx(cpu == 0.0 ? 10e-3 : 24e-3));
    }
  }

  TEST_CASE("an update of a chunk that another task wrote last first moves its lines at the shared copy bandwidth") {
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.update_bandwidth = 12e9;      // 1 ms for a million coordinates
    c.shared_copy_bandwidth = 1e9;  // 4 ms more for their lines
    c.memory_bandwidth = 0.0;
    constexpr std::size_t n = 1000000;
    const int chunk = 0;
    std::array<double, 3> took{};
    asgd::sim::simulation sim(c, 3);
    sim.run(2, [&](asgd::sim::task& t) {
      auto* hooks = asgd::detail::simulated();
      auto timed = [&] {
        const double t0 = hooks->now();
        asgd::detail::charge_update_of(&chunk, n);
        return hooks->now() - t0;
      };
      if (t.id() == 0) {
        took[0] = timed();  // nobody wrote it before
      } else {
        hooks->sleep(1.0);  // after task 0 wrote it
        took[1] = timed();
        took[2] = timed();  // its own now
      }
    });
    CHECK(took[0] == doctest::Approx(1e-3));
    CHECK(took[1] == doctest::Approx(5e-3));
    CHECK(took[2] == doctest::Approx(1e-3));
  }

  TEST_CASE("workers that share a few cores take their turns on them; a slowed worker waits holding none") {
    // Gradients of 1 ms and nothing else dear: the run's steps on 8 HOGWILD! workers and 2 cores
    // take half of one worker's time (not an eighth, as on 8 cores), as on 2 workers.
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.gradient_per_sample = {1e-3 / 8, 0.0};
    const double one = simulate<asgd::consistency::hogwild>(1, c).report.wall_seconds;
    c.cores = 2;
    const double eight = simulate<asgd::consistency::hogwild>(8, c).report.wall_seconds;
    CHECK(eight == doctest::Approx(one / 2).epsilon(0.02));
    CHECK(simulate<asgd::consistency::hogwild>(2, c).report.wall_seconds == doctest::Approx(eight).epsilon(0.02));
    // One core for 8 workers whose compute is slowed 2x (a slower machine each): the gradients
    // take their turns on the core, the slowdowns overlap them.
    c.cores = 1;
    asgd::settings s = simulated_settings(8);
    s.compute_slowdown = 2.0;
    asgd::trainer<ls, asgd::consistency::hogwild> slowed{simulated_problem(), s};
    slowed.simulate(c);
    const double t = slowed.run().wall_seconds;
    CHECK(t == doctest::Approx(one).epsilon(0.05));  // the core is busy all along; not 2x as long
  }

  TEST_CASE("an evaluation in a pause takes the cost model's time: the pause's, and a core's beside other nodes") {
    // One worker, 2 epochs of 250 steps, an evaluation every 62 steps: 8 pauses that evaluate,
    // each 10 ms more of pause and not a moment more of training (the report's ninth evaluation
    // is the final one, after the run's clock stopped).
    auto one = [](double evaluation) {
      asgd::sim::cost_model c = asgd::sim::cost_model::machine();
      c.evaluation_seconds = evaluation;
      asgd::settings s = simulated_settings(1);
      s.evaluations_per_epoch = 4;
      asgd::trainer<ls, asgd::consistency::hogwild> t{simulated_problem(), s};
      t.simulate(c);
      return t.run();
    };
    const asgd::report free = one(0.0), paid = one(0.01);
    REQUIRE(paid.evaluations.size() == 9);
    CHECK(free.pause_seconds < 1e-9);
    CHECK(paid.pause_seconds == doctest::Approx(8 * 0.01).epsilon(1e-6));
    CHECK(paid.wall_seconds - paid.pause_seconds == doctest::Approx(free.wall_seconds).epsilon(1e-9));
    // Two nodes on one core, averaging in the background: the evaluations take the core, so the
    // run takes the 16 evaluations' 160 ms longer (a delay that held no core would cost 80 ms:
    // each node's own, the other training meanwhile), and each shares it with the other node's
    // work, a piece at a time, so that it takes longer than its 10 ms of the core.
    auto two = [](double evaluation) {
      asgd::sim::cost_model c = asgd::sim::cost_model::machine();
      c.cores = 1;
      c.evaluation_seconds = evaluation;
      return asgd::sim::run_in_process(
          2,
          [&](std::size_t, asgd::transport::in_process ep) {
            asgd::settings s = simulated_settings(1);
            s.evaluations_per_epoch = 4;
            s.background_evaluations = false;
            s.averaging = {.every = 16};
            return asgd::trainer<ls, asgd::consistency::hogwild, asgd::topology::all_reduce>{simulated_problem(), s,
                                                                                              std::move(ep)};
          },
          c, 7);
    };
    const auto shared_free = two(0.0), shared = two(0.01);
    for (std::size_t k = 0; k < 2; ++k) {
      CAPTURE(k);
      REQUIRE(shared[k].failure.empty());
      REQUIRE(shared[k].evaluations.size() == 9);
      CHECK(shared[k].pause_seconds > 1.5 * 8 * 0.01);
      CHECK(shared[k].wall_seconds == doctest::Approx(shared_free[k].wall_seconds + 2 * 8 * 0.01).epsilon(0.05));
    }
    CHECK(shared[0].wall_seconds == two(0.01)[0].wall_seconds);  // the same on every run
  }

  TEST_CASE("a simulated sleep overshoots, and a task woken from a wait runs late, by the cost model's OS figures") {
    auto times = [](double wake, double overshoot) {
      asgd::sim::cost_model c = asgd::sim::cost_model::machine();
      c.wake_seconds = wake;
      c.sleep_overshoot_seconds = overshoot;
      asgd::sim::simulation sim(c);
      std::atomic<int> flag{0};
      std::array<double, 2> at{};
      sim.run(2, [&](asgd::sim::task& t) {
        if (t.id() == 0) {  // sleeps 1 ms, then wakes task 1
          asgd::detail::sleep_for(std::chrono::milliseconds(1));
          at[0] = t.now();
          flag.store(1);
          asgd::detail::notify_change(flag);
        } else {
          while (flag.load() == 0) asgd::detail::wait_for_change(flag, 0, std::memory_order_seq_cst);
          at[1] = t.now();
        }
      });
      return at;
    };
    CHECK(times(0.0, 0.0) == std::array<double, 2>{1e-3, 1e-3});
    const auto late = times(2e-5, 1e-4);
    CHECK(late[0] == doctest::Approx(1.1e-3));
    CHECK(late[1] == doctest::Approx(1.1e-3 + 2e-5));
  }

  TEST_CASE("a barrier's waiter pays no wake-up when its phase ends within the spin, on a core of its own") {
    // Task 1 arrives `late` after task 0, which waits at the barrier (as detail::barrier's real
    // waiters spin, then sleep); `others` more tasks run beside them, away from the barrier.
    auto woken_at = [](double late, std::size_t cores, std::chrono::microseconds spin, std::size_t others = 0) {
      asgd::sim::cost_model c = asgd::sim::cost_model::machine();
      c.cores = cores;
      c.wake_seconds = 1e-3;
      c.wake_cpu_seconds = 0.0;
      c.sleep_overshoot_seconds = 0.0;
      asgd::sim::simulation sim(c);
      asgd::detail::barrier<> b(2, {}, spin);
      double at = 0.0;
      sim.run(2 + others, [&](asgd::sim::task& t) {
        if (t.id() >= 2) return asgd::detail::simulated()->sleep(1.0);
        if (t.id() == 1) asgd::detail::simulated()->sleep(late);
        b.arrive_and_wait();
        if (t.id() == 0) at = t.now();
      });
      return at;
    };
    const auto budget = asgd::detail::barrier<>::spin_budget;
    const double spin = std::chrono::duration<double>(budget).count();
    CHECK(woken_at(0.5 * spin, 2, budget) == doctest::Approx(0.5 * spin));  // within the spin
    CHECK(woken_at(0.5 * spin, 0, budget) == doctest::Approx(0.5 * spin));  // a core for every task
    CHECK(woken_at(2.0 * spin, 2, budget) == doctest::Approx(2.0 * spin + 1e-3));  // it slept
    CHECK(woken_at(0.5 * spin, 1, budget) == doctest::Approx(0.5 * spin + 1e-3));  // two threads, one core: no spin
    // A third task on the two cores: the waiter would hold a core another thread may need.
    CHECK(woken_at(0.5 * spin, 2, budget, 1) == doctest::Approx(0.5 * spin + 1e-3));
    CHECK(woken_at(0.5 * spin, 3, budget, 1) == doctest::Approx(0.5 * spin));
    // A barrier's own spin (a synchronous round's is longer than the default).
    CHECK(woken_at(2.0 * spin, 2, 3 * budget) == doctest::Approx(2.0 * spin));
    const auto round = asgd::consistency::synchronous::store::round_spin;
    CHECK(round > budget);
  }

  TEST_CASE("simulated Leashed-SGD fails CASes under contention and still loses no version") {
    // Building a version (a copy) costs as much as a gradient: publications overlap.
    asgd::sim::cost_model c = asgd::sim::cost_model::machine();
    c.gradient_per_sample = {1e-5 / 8, 0.0};
    c.copy_bandwidth = 4.0 * 32 / 1e-5;
    c.shared_copy_bandwidth = c.copy_bandwidth;  // a version is built from another worker's
    const simulated_run r = simulate<asgd::consistency::leashed>(8, c);
    CHECK(r.report.cas_retries.mean() > 0.5);
    CHECK(r.report.updates_dropped == 0);  // unbounded persistence
    CHECK(r.report.model_version == r.report.updates_applied);  // one version per update, no gap
    CHECK(r.report.updates_applied == r.report.steps);
    // At most 2 x workers + 1 buffers, however long the retries.
    CHECK(r.report.peak_live_versions <= 17);
  }

  TEST_CASE("simulated bounded staleness and synchronous rounds wait in virtual time without a deadlock") {
    asgd::sim::cost_model c = straggling();
    const simulated_run bounded = simulate<asgd::consistency::bounded_staleness<1>>(8, c);
    const simulated_run sync = simulate<asgd::consistency::synchronous>(8, c);
    CHECK(bounded.report.steps == 500);
    CHECK(sync.report.steps >= 500);
    // A round waits for its slowest worker: longer than HOGWILD!'s free run of the same steps.
    const simulated_run hog = simulate<asgd::consistency::hogwild>(8, c);
    CHECK(sync.report.wall_seconds > hog.report.wall_seconds);
  }

  TEST_CASE("a simulated run that diverges ends with the real run's error, whatever its workers wait for") {
    auto diverge = [](auto mode) {
      using Mode = decltype(mode);
      asgd::settings s = simulated_settings(8);
      s.lr = 1e6f;
      asgd::trainer<ls, Mode> t{simulated_problem(), s};
      t.simulate(straggling());
      CAPTURE(Mode::name);
      CHECK_THROWS_AS(t.run(), asgd::training_error);
    };
    diverge(asgd::consistency::hogwild{});
    diverge(asgd::consistency::locked{});
    diverge(asgd::consistency::bounded_staleness<1>{});
    diverge(asgd::consistency::synchronous{});
  }

  TEST_CASE("trainers run on the tasks of one simulation share its virtual time") {
    // Two independent trainers side by side (the hardware's ceiling for their work, say): each
    // takes about as long as alone, and the simulation ends with the slower one.
    auto side_by_side = [] {
      asgd::sim::simulation sim(straggling(), 11);
      std::vector<simulated_run> runs(2);
      sim.run(2, [&](asgd::sim::task& t) {
        asgd::trainer<ls, asgd::consistency::hogwild> tr{simulated_problem(), simulated_settings(t.id() == 0 ? 4 : 2)};
        asgd::report r = tr.run();  // no simulate(): it runs on a simulated task
        runs[t.id()] = {std::move(r), {tr.parameters().begin(), tr.parameters().end()}};
      });
      return std::pair{std::move(runs), sim.end()};
    };
    const auto [runs, end] = side_by_side();
    REQUIRE(runs[0].report.simulation);
    CHECK(runs[0].report.simulation->task_switches == 0);  // counted by the simulation, not the run
    // (The report's times pass through steady_clock's nanoseconds.)
    CHECK(end == doctest::Approx(std::max(runs[0].report.wall_seconds, runs[1].report.wall_seconds)).epsilon(1e-6));
    const double alone4 = simulate<asgd::consistency::hogwild>(4, straggling()).report.wall_seconds;
    const double alone2 = simulate<asgd::consistency::hogwild>(2, straggling()).report.wall_seconds;
    CHECK(runs[0].report.wall_seconds == doctest::Approx(alone4).epsilon(0.05));
    CHECK(runs[1].report.wall_seconds == doctest::Approx(alone2).epsilon(0.05));
    const auto [again, end_again] = side_by_side();
    CHECK(same_bits(runs[0].model, again[0].model));
    CHECK(same_bits(runs[1].model, again[1].model));
    CHECK(end == end_again);
  }

  TEST_CASE("simulated nodes average in virtual time, the same bits on every run, paying the cost model's link") {
    // 4 nodes of 2 HOGWILD! workers on the same problem: all-reduce rounds (blocking, and in the
    // background) and SwarmSGD gossip, each run twice.
    auto group = [](auto topology, bool blocking, double latency) {
      using T = decltype(topology);
      asgd::sim::cost_model c = straggling();
      c.link_latency_seconds = latency;
      return asgd::sim::run_in_process(
          4,
          [&](std::size_t, asgd::transport::in_process ep) {
            asgd::settings s = simulated_settings(2);
            s.averaging = {.every = 16, .blocking = blocking};
            return asgd::trainer<ls, asgd::consistency::hogwild, T>{simulated_problem(), s, topology, std::move(ep)};
          },
          c, 7);
    };
    auto check_group = [&](auto topology, bool blocking) {
      const auto a = group(topology, blocking, 5e-6);
      const auto b = group(topology, blocking, 5e-6);
      REQUIRE(a.size() == 4);
      for (std::size_t k = 0; k < 4; ++k) {
        CAPTURE(k);
        CHECK(a[k].failure.empty());
        REQUIRE(a[k].node);
        CHECK(a[k].node->rounds > 0);
        CHECK(a[k].wall_seconds == b[k].wall_seconds);
        CHECK(a[k].final_evaluation.has_value() == b[k].final_evaluation.has_value());
        CHECK(a[k].epochs.back().train_loss == b[k].epochs.back().train_loss);
        CHECK(a[k].node->final_consensus_distance == b[k].node->final_consensus_distance);
      }
      // A slower link takes longer, in virtual time only.
      const auto slow = group(topology, blocking, 5e-3);
      CHECK(slow[0].wall_seconds > a[0].wall_seconds + 5e-3);
    };
    check_group(asgd::topology::all_reduce{}, true);
    check_group(asgd::topology::all_reduce{}, false);
    check_group(asgd::topology::swarm{}, false);
  }

  TEST_CASE("a gossip node reports the time it waited for copies that others' exchanges held") {
    // 4 nodes of 1 worker interacting at every step: an average holds the partner's copy for
    // both messages, so on a slow link the others queue for it; on a free one they hardly do.
    auto group = [](double latency) {
      asgd::sim::cost_model c = straggling();
      c.link_latency_seconds = latency;
      c.link_bandwidth = 1e18;
      return asgd::sim::run_in_process(
          4,
          [&](std::size_t, asgd::transport::in_process ep) {
            asgd::settings s = simulated_settings(1);
            s.averaging = {.every = 1};
            return asgd::trainer<ls, asgd::consistency::hogwild, asgd::topology::swarm>{simulated_problem(), s,
                                                                                         std::move(ep)};
          },
          c, 7);
    };
    const auto slow = group(1e-3);
    const auto again = group(1e-3);
    const auto free = group(0.0);
    double slow_waits = 0.0, free_waits = 0.0;
    for (std::size_t k = 0; k < 4; ++k) {
      CAPTURE(k);
      REQUIRE(slow[k].node);
      REQUIRE(free[k].node);
      CHECK(slow[k].node->rounds > 0);
      CHECK(slow[k].node->copy_wait_seconds >= 0.0);
      CHECK(slow[k].node->copy_wait_seconds <= slow[k].node->exchange_seconds);
      CHECK(slow[k].node->copy_wait_seconds == again[k].node->copy_wait_seconds);
      slow_waits += slow[k].node->copy_wait_seconds;
      free_waits += free[k].node->copy_wait_seconds;
    }
    CHECK(slow_waits > 1e-3);  // at least one whole message's wait, in all
    CHECK(free_waits < slow_waits);
  }

  TEST_CASE("non-blocking rounds start when their first node is due, not when their last one is") {
    // Node 1 computes 4 times slower. Each node runs 1 worker and averages in the background
    // every 8 steps. Waiting for its last node, every round lands when node 1 is due, by which
    // time node 0 is ever further ahead; started by the first node due, a round lands about when
    // node 0 reaches it, and node 1's averager takes it early.
    auto group = [](bool first_due_starts) {
      asgd::sim::cost_model c = asgd::sim::cost_model::machine();
      c.slow_node = 1;
      c.slow_factor = 4.0;
      return asgd::sim::run_in_process(
          2,
          [&](std::size_t, asgd::transport::in_process ep) {
            asgd::settings s = simulated_settings(1);
            s.averaging = {.every = 8, .first_due_starts = first_due_starts};
            return asgd::trainer<ls, asgd::consistency::hogwild, asgd::topology::all_reduce>{simulated_problem(), s,
                                                                                              std::move(ep)};
          },
          c, 7);
    };
    const auto first = group(true);
    const auto last = group(false);
    const std::uint64_t steps = first[0].steps;
    for (std::size_t k = 0; k < 2; ++k) {
      CAPTURE(k);
      REQUIRE(first[k].failure.empty());
      REQUIRE(last[k].failure.empty());
      CHECK(first[k].node->rounds == steps / 8);  // every round taken either way
      CHECK(last[k].node->rounds == steps / 8);
      CHECK(first[k].used.averaging.first_due_starts);
    }
    // The slow node is never late: it takes most rounds before it is due, on node 0's call.
    CHECK(first[1].node->mix_lag_max == 0);
    CHECK(first[1].node->rounds_early > steps / 8 / 2);
    CHECK(first[0].node->rounds_early == 0);
    CHECK(last[0].node->rounds_early == 0);
    CHECK(last[1].node->rounds_early == 0);
    CHECK(last[1].node->mix_lag_max <= 1);
    // The fast node: late by up to three quarters of the run when rounds wait for node 1 (it
    // ends its steps when node 1 has done a quarter of its own), by at most a round's steps
    // when the first node due starts them.
    CAPTURE(first[0].node->mix_lag_max);
    CAPTURE(last[0].node->mix_lag_max);
    CHECK(last[0].node->mix_lag_max > steps / 2);
    CHECK(first[0].node->mix_lag_max <= 8);
    // The price, as in LAP-SGD (whose averagers stop once the first node is done): rounds end
    // with node 0's steps, and node 1 takes its last three quarters alone, so the nodes are
    // further apart before the final average.
    CHECK(first[0].node->final_consensus_distance > 10 * last[0].node->final_consensus_distance);
  }

  TEST_CASE("simulated nodes pay for their quantizer's coding in virtual time, and compute the same") {
    // 4 sequential nodes in blocking ring rounds of 8-bit QSGD: a round encodes the model once
    // and decodes both neighbours' (3 x 32 coordinates), while the node's worker waits.
    auto group = [](double coding_seconds) {
      asgd::sim::cost_model c = asgd::sim::cost_model::machine();
      c.encode_seconds = c.decode_seconds = coding_seconds;
      return asgd::sim::run_in_process(
          4,
          [&](std::size_t, asgd::transport::in_process ep) {
            asgd::settings s = simulated_settings(1);
            s.averaging = {.every = 16, .blocking = true};
            return asgd::trainer<ls, asgd::consistency::sequential, asgd::topology::ring, asgd::quantize::qsgd<8>>{
                simulated_problem(), s, asgd::topology::ring{}, asgd::quantize::qsgd<8>{}, std::move(ep)};
          },
          c, 7);
    };
    const auto cheap = group(0.0);
    const auto dear = group(1e-6);
    for (std::size_t k = 0; k < 4; ++k) {
      CAPTURE(k);
      REQUIRE(cheap[k].failure.empty());
      REQUIRE(dear[k].failure.empty());
      const double rounds = static_cast<double>(dear[k].node->rounds);
      CHECK(rounds > 0);
      CHECK(dear[k].wall_seconds >= cheap[k].wall_seconds + 0.99 * rounds * 3 * 32 * 1e-6);
      CHECK(dear[k].epochs.back().train_loss == cheap[k].epochs.back().train_loss);
      CHECK(dear[k].node->final_consensus_distance == cheap[k].node->final_consensus_distance);
    }
  }

  TEST_CASE("a simulated worker that cannot start ends the run with that error") {
    asgd::trainer<ls, asgd::consistency::locked> t{simulated_problem(), simulated_settings(4)};
    t.simulate(straggling());
    asgd::detail::fail_thread_start_at = 3;  // the third task's thread
    CHECK_THROWS_WITH_AS(t.run(), doctest::Contains("simulated task 2 of 4"), std::system_error);
    asgd::detail::fail_thread_start_at = 0;
    CHECK(t.run().steps == 500);  // and the trainer runs again
  }

  TEST_CASE("a recorded run of 4 threads replays to the same model, bit for bit, in every consistent mode") {
    check_replay<asgd::consistency::locked>(4);
    check_replay<asgd::consistency::leashed>(4);
    check_replay<asgd::consistency::leashed>(4, asgd::consistency::leashed{.persistence = 1});
    check_replay<asgd::consistency::synchronous>(4);
    check_replay<asgd::consistency::sequential>(1);
  }

  TEST_CASE("recorded nodes replay together to the same models, bit for bit, whether they average in blocking rounds, "
            "in the background or by gossip") {
    // 3 real nodes of 2 workers on 2 cores; then the same group in virtual time, each node
    // replaying its recording. Blocking rounds run while the node's workers wait; background
    // rounds and gossip events run on an averager thread while they compute, and gossip reads
    // and averages with the peers' published copies, in an order that only the recording knows.
    SUBCASE("Leashed-SGD, blocking ring rounds") {
      check_nodes_replay<asgd::consistency::leashed, asgd::topology::ring>({.every = 16, .blocking = true});
    }
    SUBCASE("Leashed-SGD, ring rounds in the background") {
      check_nodes_replay<asgd::consistency::leashed, asgd::topology::ring>({.every = 16});
    }
    SUBCASE("lock-based, ring rounds in the background") {
      check_nodes_replay<asgd::consistency::locked, asgd::topology::ring>({.every = 8});
    }
    SUBCASE("Leashed-SGD, SwarmSGD gossip") {
      check_nodes_replay<asgd::consistency::leashed, asgd::topology::swarm>({.every = 4});
    }
    SUBCASE("lock-based, AD-PSGD gossip") {
      check_nodes_replay<asgd::consistency::locked, asgd::topology::adpsgd>({.every = 2});
    }
  }

  TEST_CASE("a recording replays only its own run, of a mode that replays") {
    asgd::sim::recording rec;
    asgd::trainer<ls, asgd::consistency::locked> t{simulated_problem(), simulated_settings(2)};
    t.record(&rec);
    (void)t.run();
    asgd::settings other = simulated_settings(2);
    other.seed = 12;
    asgd::trainer<ls, asgd::consistency::locked> u{simulated_problem(), other};
    u.replay(&rec);
    CHECK_THROWS_WITH_AS(u.run(), doctest::Contains("the recording is of another run: recorded problem"),
                         std::invalid_argument);

    asgd::trainer<ls, asgd::consistency::hogwild> h{simulated_problem(), simulated_settings(2)};
    h.record(&rec);
    CHECK_THROWS_WITH_AS(h.run(), doctest::Contains("trainer::record: consistency mode hogwild{} does not replay"),
                         std::invalid_argument);
    asgd::trainer<ls, asgd::consistency::leashed> l{simulated_problem(), simulated_settings(2),
                                                    asgd::consistency::leashed{.check_concurrent_updates = true}};
    l.record(&rec);
    CHECK_THROWS_AS(l.run(), std::invalid_argument);

    const auto file = std::filesystem::temp_directory_path() / ("asgd_test_not_a_recording_" + std::to_string(::getpid()));
    {
      std::ofstream out(file, std::ios::binary);
      out << "not a recording";
    }
    CHECK_THROWS_AS((void)asgd::sim::recording::load(file), asgd::checkpoint_error);
    CHECK_THROWS_AS((void)asgd::sim::recording::load_nodes(file), asgd::checkpoint_error);
    // A lone recording's file is a group of one.
    rec.save(file);
    const std::vector<asgd::sim::recording> one = asgd::sim::recording::load_nodes(file);
    REQUIRE(one.size() == 1);
    CHECK(one.front().events() == rec.events());
    std::filesystem::remove(file);
  }

  TEST_CASE("a mode that does not declare itself simulatable is refused, by name") {
    asgd::trainer<ls, unsimulated_mode> t{simulated_problem(), simulated_settings(2)};
    t.simulate(asgd::sim::cost_model::machine());
    CHECK_THROWS_WITH_AS(t.run(), doctest::Contains("consistency mode unsimulated does not declare"),
                         std::invalid_argument);
    t.simulate(std::nullopt);  // a real run of it is fine
    CHECK(t.run().steps == 500);
  }

  TEST_CASE("a node simulated alone, its peers real, is refused and told how to simulate the group") {
    auto node = [](std::size_t, asgd::transport::in_process ep) {
      asgd::trainer<asgd_test::still_model, asgd::topology::all_reduce> t{
          asgd_test::still_model{}, {.threads = 2, .epochs = 1, .batch = 4}, std::move(ep)};
      t.simulate(asgd::sim::cost_model::machine());
      return t;
    };
    CHECK_THROWS_WITH_AS(asgd::run_in_process(2, node), doctest::Contains("simulate the group with sim::run_in_process"),
                         std::invalid_argument);
  }
}
