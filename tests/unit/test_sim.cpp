// sim::scheduler: tasks run one at a time in virtual-clock order, the same on every run and
// host; failures cancel the others without a hang.
#include <doctest/doctest.h>

#include <asgd/detail/streaming.hpp>
#include <asgd/sim/barrier.hpp>
#include <asgd/sim/calibrate.hpp>
#include <asgd/sim/cost_model.hpp>
#include <asgd/sim/mutex.hpp>
#include <asgd/quantize/identity.hpp>
#include <asgd/quantize/lattice.hpp>
#include <asgd/sim/scheduler.hpp>
#include <asgd/update/momentum.hpp>
#include <asgd/update/sgd.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <span>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace {

using asgd::sim::scheduler;
using asgd::sim::task;

TEST_CASE("sim: tasks run in the order of their clocks, ties to the lower id") {
  // [example-begin order]
  asgd::sim::scheduler s;
  std::vector<std::pair<double, std::size_t>> log;  // (clock, task) of every step
  // Task i's steps take i + 1 seconds of virtual time.
  const double end = s.run(3, [&](asgd::sim::task& t) {
    for (int k = 0; k < 3; ++k) {
      log.emplace_back(t.now(), t.id());  // no lock: one task runs at a time
      t.advance(static_cast<double>(t.id() + 1));
    }
  });
  // [example-end order]
  const std::vector<std::pair<double, std::size_t>> want = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {2, 0}, {2, 1},
                                                            {3, 2}, {4, 1}, {6, 2}};
  CHECK(log == want);
  CHECK(end == 9.0);  // task 2: three steps of 3 s
}

TEST_CASE("sim: a racy read-modify-write loses the same updates on every run, whatever the threads") {
  // Each task reads a shared counter, works 1.5 s, and writes back what it read plus one: with
  // 8 tasks the reads and writes interleave and updates are lost, as in HOGWILD!. The result is
  // a function of the clocks alone.
  auto once = [] {
    scheduler s;
    std::uint64_t counter = 0;
    std::vector<std::uint64_t> seen;
    s.run(8, [&](task& t) {
      for (int k = 0; k < 50; ++k) {
        const std::uint64_t read = counter;
        seen.push_back(read);
        t.advance(1.5 + 0.25 * static_cast<double>(t.id() % 3));
        counter = read + 1;
        t.advance(0.5);
      }
    });
    return std::make_pair(counter, seen);
  };
  const auto first = once();
  CHECK(first.first < 8 * 50);  // some updates were lost
  CHECK(first.first > 50);      // but not all of them
  for (int r = 0; r < 10; ++r) CHECK(once() == first);
}

TEST_CASE("sim: 256 tasks on a few cores finish, with as many hand-overs on every run") {
  auto once = [] {
    scheduler s;
    std::uint64_t sum = 0;
    const double end = s.run(256, [&](task& t) {
      for (int k = 0; k < 20; ++k) {
        sum = sum * 31 + t.id();  // the order of the tasks shows in the sum
        t.advance(1e-6 * static_cast<double>(1 + (t.id() * 7 + static_cast<std::size_t>(k)) % 13));
      }
    });
    return std::make_tuple(sum, end, s.switches());
  };
  const auto first = once();
  CHECK(std::get<2>(first) > 256);
  CHECK(once() == first);
}

TEST_CASE("sim: a task that keeps the earliest clock keeps running without a hand-over") {
  auto switches = [](int zero_steps) {
    scheduler s;
    s.run(2, [&](task& t) {
      // Advances by 0 keep task 0 earliest (ties go to the lower id): no hand-over.
      if (t.id() == 0)
        for (int k = 0; k < zero_steps; ++k) t.advance(0.0);
      t.advance(1.0);
    });
    return s.switches();
  };
  // 0 -> 1 at clock 1, 1 -> 0 (tied at 1, lower id), 0 finishes -> 1.
  CHECK(switches(0) == 3);
  CHECK(switches(10) == 3);
}

TEST_CASE("sim: the first failure cancels the others and is rethrown; unwinding is one task at a time") {
  scheduler s;
  int inside = 0;
  int most_inside = 0;
  int finished = 0;
  struct guard {
    int& inside;
    int& most;
    explicit guard(int& i, int& m) : inside(i), most(m) { most = std::max(most, ++inside); }
    ~guard() { --inside; }
  };
  auto body = [&](task& t) {
    guard g(inside, most_inside);
    for (int k = 0; k < 100; ++k) {
      if (t.id() == 3 && k == 5) throw std::runtime_error("task 3 broke");
      t.advance(1.0);
    }
    ++finished;
  };
  CHECK_THROWS_WITH_AS(s.run(6, body), "task 3 broke", std::runtime_error);
  CHECK(finished == 0);
  CHECK(inside == 0);
  // Every task entered its guard before any failed (clock 0), all at once in virtual time but
  // one at a time on the host. The guards' plain counter is also how the ThreadSanitizer run
  // checks that no two tasks ever ran, or unwound, at once.
  CHECK(most_inside == 6);
}

TEST_CASE("sim: bad input is an error that names the task and the value") {
  scheduler s;
  CHECK_THROWS_WITH_AS(s.run(0, [](task&) {}), doctest::Contains("at least one task"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(s.run(2, [](task& t) { t.advance(t.id() == 1 ? -1.0 : 1.0); }),
                       doctest::Contains("sim::task 1 advanced by -1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(s.run(1, [](task& t) { t.advance(std::numeric_limits<double>::quiet_NaN()); }),
                       doctest::Contains("must be finite"), std::invalid_argument);
  // The scheduler can run again after a failed run.
  CHECK(s.run(2, [](task& t) { t.advance(2.0); }) == 2.0);
}

TEST_CASE("sim: a thread that cannot start cancels the tasks that did") {
  scheduler s;
  asgd::detail::fail_thread_start_at = 3;  // the third start fails
  int ran = 0;
  CHECK_THROWS_WITH_AS(s.run(5,
                             [&](task& t) {
                               ++ran;
                               for (int k = 0; k < 1000; ++k) t.advance(1.0);
                             }),
                       doctest::Contains("simulated task 2 of 5"), std::system_error);
  asgd::detail::fail_thread_start_at = 0;
  CHECK(ran <= 2);
}

TEST_CASE("sim: a task spawns tasks that start at its clock, and joins them at their end") {
  scheduler s;
  std::vector<std::pair<double, std::size_t>> log;  // (clock, task) at each start
  const double end = s.run(2, [&](task& t) {
    log.emplace_back(t.now(), t.id());
    if (t.id() == 1) {
      t.advance(3.0);  // task 0 finishes meanwhile
      return;
    }
    t.advance(1.0);
    std::vector<std::size_t> kids;
    for (int k = 0; k < 2; ++k) {
      kids.push_back(t.spawn([&log, k](task& c) {
        log.emplace_back(c.now(), c.id());
        c.advance(2.0 + k);
        if (k == 0) {  // a grandchild, joined by no one: run() waits for it too
          c.spawn([&log](task& g) {
            log.emplace_back(g.now(), g.id());
            g.advance(10.0);
          });
        }
      }));
    }
    for (std::size_t id : kids) t.join(id);
    log.emplace_back(t.now(), t.id());  // after its children: 1 + 3
    t.join(1);                          // task 1 ended at 3: no wait
    log.emplace_back(t.now(), t.id());
  });
  const std::vector<std::pair<double, std::size_t>> want = {{0, 0}, {0, 1}, {1, 2}, {1, 3}, {3, 4}, {4, 0}, {4, 0}};
  CHECK(log == want);
  CHECK(end == 13.0);  // the grandchild: spawned at 3, 10 s long
}

TEST_CASE("sim: a spawned task's failure fails the run; joins that cannot end are a deadlock error") {
  scheduler s;
  CHECK_THROWS_WITH_AS(s.run(1,
                             [](task& t) {
                               const std::size_t kid = t.spawn([](task&) { throw std::runtime_error("kid broke"); });
                               t.join(kid);
                               t.advance(1.0);
                             }),
                       "kid broke", std::runtime_error);
  CHECK_THROWS_WITH_AS(s.run(2, [](task& t) { t.join(1 - t.id()); }), doctest::Contains("no task is left to wake"),
                       asgd::sim::deadlock);
  CHECK_THROWS_WITH_AS(s.run(1, [](task& t) { t.join(0); }), doctest::Contains("joined task 0 (itself)"),
                       std::invalid_argument);
  // The scheduler runs again after failed runs.
  CHECK(s.run(1, [](task& t) { t.join(t.spawn([](task& c) { c.advance(2.5); })); }) == 2.5);
}

TEST_CASE("sim: a mutex serialises its holders in virtual time, first come first served") {
  asgd::sim::scheduler s;
  asgd::sim::mutex m;
  std::vector<std::pair<std::size_t, double>> acquired;  // (task, clock) at each lock
  // Task i arrives at 0.1 i s and holds the lock for 1 s.
  const double end = s.run(3, [&](task& t) {
    t.advance(0.1 * static_cast<double>(t.id()));
    m.lock(t);
    acquired.emplace_back(t.id(), t.now());
    t.advance(1.0);
    m.unlock(t);
  });
  REQUIRE(acquired.size() == 3);
  CHECK(acquired[0] == std::pair<std::size_t, double>{0, 0.0});
  CHECK(acquired[1] == std::pair<std::size_t, double>{1, 1.0});  // waited 0.9 s
  CHECK(acquired[2] == std::pair<std::size_t, double>{2, 2.0});  // waited 1.8 s
  CHECK(end == 3.0);
  CHECK_FALSE(m.locked());
}

TEST_CASE("sim: two tasks that wait for each other are a deadlock error, not a hang") {
  asgd::sim::scheduler s;
  asgd::sim::mutex a, b;
  CHECK_THROWS_WITH_AS(s.run(2,
                             [&](task& t) {
                               asgd::sim::mutex& first = t.id() == 0 ? a : b;
                               asgd::sim::mutex& second = t.id() == 0 ? b : a;
                               first.lock(t);
                               t.advance(1.0);
                               second.lock(t);  // each holds what the other waits for
                               second.unlock(t);
                               first.unlock(t);
                             }),
                       doctest::Contains("task 1 waits at 1 s, and task(s) 0 (at 1 s) wait: no task is left to wake it"),
                       asgd::sim::deadlock);
  // A task that waits for a task that finishes without waking it.
  CHECK_THROWS_WITH_AS(s.run(2,
                             [&](task& t) {
                               if (t.id() == 0) t.block();
                               t.advance(2.0);
                             }),
                       doctest::Contains("task 1 finished at 2 s while task(s) 0 (at 0 s) wait"), asgd::sim::deadlock);
}

TEST_CASE("sim: block and wake hand a ball back and forth at the waker's clock") {
  asgd::sim::scheduler s;
  std::vector<std::pair<std::size_t, double>> hits;
  int ball = 0;  // whose turn: 0 or 1
  s.run(2, [&](task& t) {
    const std::size_t me = t.id(), other = 1 - t.id();
    for (int k = 0; k < 3; ++k) {
      while (ball != static_cast<int>(me)) t.block();
      hits.emplace_back(me, t.now());
      t.advance(me == 0 ? 1.0 : 0.5);
      ball = static_cast<int>(other);
      t.wake(other);
    }
  });
  const std::vector<std::pair<std::size_t, double>> want = {{0, 0.0}, {1, 1.0}, {0, 1.5},
                                                            {1, 2.5}, {0, 3.0}, {1, 4.0}};
  CHECK(hits == want);
}

TEST_CASE("sim: a mutex used wrongly says so") {
  asgd::sim::scheduler s;
  asgd::sim::mutex m;
  CHECK_THROWS_WITH_AS(s.run(1, [&](task& t) { m.unlock(t); }), doctest::Contains("does not hold"), std::logic_error);
  CHECK_THROWS_WITH_AS(s.run(1,
                             [&](task& t) {
                               m.lock(t);
                               m.lock(t);
                             }),
                       doctest::Contains("locks it twice"), std::logic_error);
  CHECK_THROWS_WITH_AS(s.run(1, [&](task& t) { t.wake(5); }), doctest::Contains("woke task 5 of 1"),
                       std::invalid_argument);
}

TEST_CASE("sim: a barrier's phase ends at its last arrival's clock, which every task continues from") {
  asgd::sim::scheduler s;
  std::vector<double> completed_at;  // the clock of each phase's completion
  double last_clock = 0.0;
  asgd::sim::barrier b(3, [&] { completed_at.push_back(last_clock); });
  std::vector<std::vector<double>> after(3);
  s.run(3, [&](task& t) {
    for (int phase = 0; phase < 2; ++phase) {
      t.advance(static_cast<double>(t.id() + 1));  // arrivals at 1, 2, 3 s (then 4, 5, 6)
      last_clock = t.now();
      b.arrive_and_wait(t);
      after[t.id()].push_back(t.now());
    }
  });
  CHECK(completed_at == std::vector<double>{3.0, 6.0});
  for (const auto& a : after) CHECK(a == std::vector<double>{3.0, 6.0});
  CHECK(b.phases() == 2);
}

TEST_CASE("sim: a task that drops from a barrier no longer holds its phases back") {
  asgd::sim::scheduler s;
  asgd::sim::barrier b(3);
  std::vector<double> ends(3);
  s.run(3, [&](task& t) {
    t.advance(1.0);
    if (t.id() == 2) {
      t.advance(10.0);
      b.arrive_and_drop(t);  // at 11 s: completes phase 1 for the two waiting since 1 s
      return;
    }
    b.arrive_and_wait(t);
    ends[t.id()] = t.now();
    t.advance(1.0);
    b.arrive_and_wait(t);  // phase 2: two tasks
    ends[t.id()] = t.now();
  });
  CHECK(ends[0] == 12.0);
  CHECK(ends[1] == 12.0);
  CHECK(b.phases() == 2);
  CHECK_THROWS_AS(asgd::sim::barrier(0), std::invalid_argument);
}

TEST_CASE("sim: a cost model file overrides the machine's figures and reads back what to_text wrote") {
  using asgd::sim::cost_model;
  const cost_model machine = cost_model::machine();
  CHECK_NOTHROW(machine.validate());
  const cost_model m = asgd::sim::parse_cost_model(
      "# a slower cluster\n"
      "gradient_per_sample = lognormal(1e-5, 0.5)   # stragglers\n"
      "\n"
      "link_bandwidth = 1.25e8\n"
      "  slow_node = 3\n"
      "slow_factor = 2.5\n"
      "cores = 2\n"
      "wake_seconds = 2.4e-5\n"
      "wake_cpu_seconds = 1e-5\n"
      "sleep_overshoot_seconds = 1e-4\n"
      "encode_seconds = 6e-9\n"
      "decode_seconds = 4e-9\n"
      "evaluation_seconds = 0.02\n"
      "link_all_reduce = halving_doubling\n");
  CHECK(m.gradient_per_sample == asgd::sim::duration{1e-5, 0.5});
  CHECK(m.link_all_reduce == asgd::sim::all_reduce_model::halving_doubling);
  CHECK(machine.link_all_reduce == asgd::sim::all_reduce_model::in_process);
  CHECK(m.link_bandwidth == 1.25e8);
  CHECK(m.slow_node == 3);
  CHECK(m.slow_factor == 2.5);
  CHECK(m.cores == 2);
  CHECK(m.wake_seconds == 2.4e-5);
  CHECK(m.wake_cpu_seconds == 1e-5);
  CHECK(m.sleep_overshoot_seconds == 1e-4);
  CHECK(m.encode_seconds == 6e-9);
  CHECK(m.decode_seconds == 4e-9);
  CHECK(m.evaluation_seconds == 0.02);
  CHECK(machine.evaluation_seconds == 0.0);  // a problem's own: not charged unless given
  CHECK(machine.encode_seconds > 0.0);  // identity's: a copy
  CHECK(machine.cores == 0);  // a core per task
  CHECK(machine.wake_seconds == 0.0);
  CHECK(machine.wake_cpu_seconds == 0.0);
  CHECK(machine.sleep_overshoot_seconds == 0.0);
  CHECK(m.copy_bandwidth == machine.copy_bandwidth);  // not given: the machine's
  CHECK(asgd::sim::parse_cost_model(asgd::sim::to_text(m)) == m);
  CHECK(asgd::sim::parse_cost_model(asgd::sim::to_text(machine)) == machine);
  CHECK(asgd::sim::parse_cost_model("slow_node = none").slow_node == cost_model::no_node);
  for (const auto& [name, model] : {std::pair{"in_process", asgd::sim::all_reduce_model::in_process},
                                     std::pair{"ring", asgd::sim::all_reduce_model::ring},
                                     std::pair{"recursive_doubling", asgd::sim::all_reduce_model::recursive_doubling},
                                     std::pair{"open_mpi", asgd::sim::all_reduce_model::open_mpi}}) {
    const cost_model named = asgd::sim::parse_cost_model(std::string("link_all_reduce = ") + name);
    CHECK(named.link_all_reduce == model);
    CHECK(asgd::sim::parse_cost_model(asgd::sim::to_text(named)) == named);
  }

  const auto file = std::filesystem::temp_directory_path() / "asgd_test_cost_model.txt";
  {
    std::ofstream out(file);
    out << asgd::sim::to_text(m);
  }
  CHECK(asgd::sim::read_cost_model(file) == m);
  std::filesystem::remove(file);
  CHECK_THROWS_WITH_AS(asgd::sim::read_cost_model(file), doctest::Contains("cannot read cost model"),
                       std::invalid_argument);
}

TEST_CASE("sim: a bad cost model names the line and what is wrong") {
  using asgd::sim::parse_cost_model;
  auto error = [](std::string_view text) {
    try {
      (void)parse_cost_model(text, "m.txt");
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error("\ncopy_bandwith = 1e9") ==
        "asgd: cost model m.txt line 2: unknown key 'copy_bandwith' (the keys: gradient_per_sample, slow_node, cores, "
        "link_all_reduce, copy_bandwidth, shared_copy_bandwidth, shared_write_bandwidth, stream_write_bandwidth, stream_read_bandwidth, "
        "update_bandwidth, "
        "memory_bandwidth, atomic_seconds, "
        "lock_seconds, "
        "line_handover_seconds, wake_seconds, wake_cpu_seconds, sleep_overshoot_seconds, encode_seconds, decode_seconds, "
        "evaluation_seconds, link_latency_seconds, link_bandwidth, slow_factor)");
  CHECK(error("lock_seconds = fast") == "asgd: cost model m.txt line 1: lock_seconds = 'fast' is not a number");
  CHECK(error("lock_seconds 3") == "asgd: cost model m.txt line 1: 'lock_seconds 3' is not 'key = value'");
  CHECK(error("lock_seconds = 1\nlock_seconds = 2") == "asgd: cost model m.txt line 2: lock_seconds is given twice");
  CHECK(error("gradient_per_sample = lognormal(1e-6)") ==
        "asgd: cost model m.txt line 1: gradient_per_sample = 'lognormal(1e-6)' is not seconds or "
        "lognormal(median, sigma)");
  CHECK(error("slow_node = 1.5") == "asgd: cost model m.txt line 1: slow_node = '1.5' is not a node id or 'none'");
  CHECK(error("link_all_reduce = tree") ==
        "asgd: cost model m.txt line 1: link_all_reduce = 'tree' is not in_process, ring, halving_doubling, "
        "recursive_doubling or open_mpi");
  CHECK(error("cores = -2") ==
        "asgd: cost model m.txt line 1: cores = '-2' is not a whole number of cores (0: a core per task)");
  CHECK(error("copy_bandwidth = 0") == "asgd: cost model m.txt: copy_bandwidth = 0: must be a finite number > 0");
  CHECK(error("atomic_seconds = -1e-9") ==
        "asgd: cost model m.txt: atomic_seconds = -1e-09: must be a finite number >= 0");
  CHECK(error("gradient_per_sample = lognormal(1e-6, 9)") ==
        "asgd: cost model m.txt: gradient_per_sample = 9: sigma must be a finite number in [0, 4]");
  CHECK(error("link_bandwidth = inf").find("link_bandwidth = inf: must be a finite number > 0") != std::string::npos);
  CHECK(error("stream_write_bandwidth = 3e10") ==
        "asgd: cost model m.txt: stream_read_bandwidth = 0: must be > 0 where stream_write_bandwidth is not (3e+10): "
        "streaming stores are priced both ways or not at all");
  CHECK(error("stream_read_bandwidth = 3e10") ==
        "asgd: cost model m.txt: stream_read_bandwidth = 3e+10: must be 0 where stream_write_bandwidth is: streaming "
        "stores are priced both ways or not at all");
  CHECK(error("stream_write_bandwidth = 3e10\nstream_read_bandwidth = 3e10") == "no error");
  CHECK(error("wake_seconds = 1e-5\nwake_cpu_seconds = 2e-5") ==
        "asgd: cost model m.txt: wake_cpu_seconds = 2e-05: must be at most wake_seconds (1e-05), the wake-up it is "
        "part of");
}

TEST_CASE("sim: a cluster's all-reduce costs its collective's messages and sums, by the algorithm's formula") {
  using asgd::sim::all_reduce_model;
  asgd::sim::cost_model c = asgd::sim::cost_model::machine();
  c.link_latency_seconds = 5e-5;
  c.link_bandwidth = 1e9;
  c.update_bandwidth = 1.2e10;  // a sum of 4 bytes a float: 12 bytes at 12 GB/s, 1 ns a float
  constexpr std::size_t bytes = 4'000'000;  // a million floats
  CHECK(c.all_reduce_seconds(4, bytes) == 0.0);  // in_process: its copies are charged as they happen
  c.link_all_reduce = all_reduce_model::ring;
  CHECK(c.all_reduce_seconds(1, bytes) == 0.0);
  // 4 nodes: 3 steps of reduce-scatter, 3 of all-gather, each a quarter of the vector (1 ms on the
  // link) after 50 us; three quarters of the vector summed on each node (0.75 ms).
  CHECK(c.all_reduce_seconds(4, bytes) == doctest::Approx(6 * (5e-5 + 1e-3) + 0.75e-3));
  c.link_all_reduce = all_reduce_model::halving_doubling;
  // 4 nodes: 2 halving and 2 doubling steps; 2 x 3/4 of the vector sent, 3/4 summed.
  CHECK(c.all_reduce_seconds(4, bytes) == doctest::Approx(4 * 5e-5 + 2 * 0.75 * 4e-3 + 0.75e-3));
  // 6 nodes: the 2 beyond 4 fold into a partner and get the mean back: two whole vectors more on
  // the link and one summed.
  CHECK(c.all_reduce_seconds(6, bytes) ==
        doctest::Approx(c.all_reduce_seconds(4, bytes) + 2 * (5e-5 + 4e-3) + 1e-3));
  // At 256 nodes the ring's 510 latencies dominate; halving-doubling takes 16.
  CHECK(c.all_reduce_seconds(256, bytes) == doctest::Approx(16 * 5e-5 + 2 * 255.0 / 256 * 4e-3 + 255.0 / 256 * 1e-3));
  c.link_all_reduce = all_reduce_model::ring;
  const double ring256 = c.all_reduce_seconds(256, bytes);
  CHECK(ring256 == doctest::Approx(510 * (5e-5 + 4e-3 / 256) + 255.0 / 256 * 1e-3));
  // Recursive doubling: log2(p) exchanges of the whole vector, each summed; at 6 nodes the fold
  // of the 2 beyond 4, as halving-doubling's.
  c.link_all_reduce = all_reduce_model::recursive_doubling;
  CHECK(c.all_reduce_seconds(4, bytes) == doctest::Approx(2 * (5e-5 + 4e-3 + 1e-3)));
  CHECK(c.all_reduce_seconds(6, bytes) ==
        doctest::Approx(c.all_reduce_seconds(4, bytes) + 2 * (5e-5 + 4e-3) + 1e-3));
  const double doubling_small = c.all_reduce_seconds(256, 9996);
  CHECK(doubling_small == doctest::Approx(8 * (5e-5 + 9996 / 1e9 + 9996 * 3 / 1.2e10)));
  // Open MPI's decision: recursive doubling under 10,000 bytes, the ring from there.
  c.link_all_reduce = all_reduce_model::open_mpi;
  CHECK(c.all_reduce_seconds(256, 9996) == doubling_small);
  CHECK(c.all_reduce_seconds(256, bytes) == ring256);
  c.link_all_reduce = all_reduce_model::ring;
  CHECK(c.all_reduce_seconds(256, 9996) > 10 * doubling_small);  // 510 latencies for 2,499 floats
}

TEST_CASE("sim: durations draw the same sequence for a seed; lognormal draws centre on the median") {
  const asgd::sim::duration d{2e-6, 0.4};
  asgd::rng a(7), b(7);
  std::vector<double> draws;
  for (int k = 0; k < 2001; ++k) {
    const double x = d.draw(a);
    CHECK(x == d.draw(b));
    CHECK(x > 0.0);
    draws.push_back(x);
  }
  std::sort(draws.begin(), draws.end());
  CHECK(draws[1000] == doctest::Approx(2e-6).epsilon(0.05));  // the sample median
  asgd::rng c(1);
  CHECK(asgd::sim::duration{3e-6, 0.0}.draw(c) == 3e-6);
}

TEST_CASE("sim: pooled durations centre on the medians' geometric mean and widen by their spread") {
  const asgd::sim::duration same[] = {{2e-6, 0.1}, {2e-6, 0.1}};
  CHECK(asgd::sim::pooled(same).median == doctest::Approx(2e-6));
  CHECK(asgd::sim::pooled(same).sigma == doctest::Approx(0.1));
  // Two cores, one e^0.2 times slower than the other: the pooled median between them, its sigma
  // the within-core 0.1 and the between-core 0.1 added in quadrature.
  const asgd::sim::duration two[] = {{1e-6, 0.1}, {1e-6 * std::exp(0.2), 0.1}};
  const asgd::sim::duration p = asgd::sim::pooled(two);
  CHECK(p.median == doctest::Approx(1e-6 * std::exp(0.1)));
  CHECK(p.sigma == doctest::Approx(std::sqrt(0.02)));
  CHECK_THROWS_WITH_AS(asgd::sim::pooled({}), doctest::Contains("no durations"), std::invalid_argument);
}

TEST_CASE("sim: on_each_cpu measures once on each CPU the process may use, one at a time, pinned there") {
  const std::vector<int> cpus = asgd::sim::usable_cpus();
  REQUIRE(!cpus.empty());
  CHECK(std::is_sorted(cpus.begin(), cpus.end()));
  int running = 0, most = 0;
  const std::vector<int> where = asgd::sim::on_each_cpu([&] {
    most = std::max(most, ++running);
#if defined(__linux__)
    const int cpu = sched_getcpu();
#else
    const int cpu = -1;
#endif
    --running;
    return cpu;
  });
  CHECK(most == 1);
  REQUIRE(where.size() == cpus.size());
  if (cpus.front() >= 0) CHECK(where == cpus);  // pinned: each call ran on its own CPU
  CHECK_THROWS_WITH_AS(asgd::sim::on_each_cpu([]() -> int { throw std::runtime_error("no clock"); }),
                       doctest::Contains("no clock"), std::runtime_error);
}

TEST_CASE("sim: calibrating this machine gives a valid model; the gradient and link keep the built-in figures") {
  const asgd::sim::cost_model m = asgd::sim::calibrate_machine({.model_floats = 1 << 16, .repeats = 3});
  CHECK_NOTHROW(m.validate());
  for (double v : {m.copy_bandwidth, m.shared_copy_bandwidth, m.shared_write_bandwidth, m.update_bandwidth,
                   m.atomic_seconds, m.lock_seconds,
                   m.line_handover_seconds, m.wake_seconds}) {
    CHECK(std::isfinite(v));
    CHECK(v > 0.0);
  }
  CHECK(std::isfinite(m.sleep_overshoot_seconds));
  CHECK(m.sleep_overshoot_seconds >= 0.0);
  CHECK(m.wake_cpu_seconds >= 0.0);
  CHECK(m.wake_cpu_seconds <= m.wake_seconds);
  const asgd::sim::cost_model machine = asgd::sim::cost_model::machine();
  // Streaming stores measured where the build has them, else left unpriced (0).
  for (double v : {m.stream_write_bandwidth, m.stream_read_bandwidth}) {
    CHECK(std::isfinite(v));
    CHECK((asgd::detail::streaming_stores ? v > 0.0 : v == 0.0));
  }
  CHECK(m.gradient_per_sample == machine.gradient_per_sample);
  CHECK(m.link_bandwidth == machine.link_bandwidth);
  CHECK(m.link_latency_seconds == machine.link_latency_seconds);
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_machine({.model_floats = 0}), doctest::Contains("at least 1"),
                       std::invalid_argument);
}

TEST_CASE("sim: an update rule calibrates to an update bandwidth, along each path a store writes") {
  using asgd::sim::update_path;
  const asgd::update::momentum momentum{};
  for (const update_path path : {update_path::plain, update_path::solo, update_path::shared}) {
    CAPTURE(static_cast<int>(path));
    const double b = asgd::sim::calibrate_update(momentum, 1 << 16, path, 3);
    CHECK(std::isfinite(b));
    CHECK(b > 0.0);
    asgd::sim::cost_model m = asgd::sim::cost_model::machine();
    m.update_bandwidth = b;
    CHECK_NOTHROW(m.validate());
  }
  CHECK(asgd::sim::calibrate_update(asgd::update::sgd{}, 4096, update_path::plain, 1) > 0.0);
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_update(momentum, 0, update_path::shared), doctest::Contains("at least 1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_update(momentum, 16, update_path::shared, 0), doctest::Contains("at least 1"),
                       std::invalid_argument);
}

TEST_CASE("sim: a quantizer calibrates to its encode and decode seconds a coordinate") {
  const asgd::quantize::lattice lattice{};
  const asgd::sim::coding_seconds l = asgd::sim::calibrate_quantizer(lattice, 1 << 14, 3);
  const asgd::sim::coding_seconds i = asgd::sim::calibrate_quantizer(asgd::quantize::identity{}, 1 << 14, 3);
  for (double v : {l.encode, l.decode, i.encode, i.decode}) {
    CHECK(std::isfinite(v));
    CHECK(v > 0.0);
  }
  asgd::sim::cost_model m = asgd::sim::cost_model::machine();
  m.encode_seconds = l.encode;
  m.decode_seconds = l.decode;
  CHECK_NOTHROW(m.validate());
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_quantizer(lattice, 0), doctest::Contains("at least 1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_quantizer(lattice, 16, 0), doctest::Contains("at least 1"),
                       std::invalid_argument);
}

// y = 2 x: a gradient whose time grows with the batch.
struct doubling {
  std::vector<float> xs;
  std::size_t dimension() const { return 1; }
  std::size_t num_samples() const { return xs.size(); }
  float gradient(std::span<const float> w, asgd::batch_view batch, std::span<float> g) const {
    double loss = 0.0, d = 0.0;
    for (std::size_t i : batch) {
      const double r = w[0] * xs[i] - 2.0 * xs[i];
      loss += r * r / 2;
      d += r * xs[i];
    }
    g[0] = static_cast<float>(d / static_cast<double>(batch.size()));
    return static_cast<float>(loss / static_cast<double>(batch.size()));
  }
};

// Records the rows and the model each gradient call sees.
struct watching {
  std::vector<std::vector<std::size_t>> rows;
  std::vector<float> models;
  std::size_t dimension() const { return 3; }
  std::size_t num_samples() const { return 500; }
  float gradient(std::span<const float> w, asgd::batch_view batch, std::span<float> g) {
    rows.emplace_back(batch.begin(), batch.end());
    models.insert(models.end(), w.begin(), w.end());
    std::fill(g.begin(), g.end(), 1.0f);
    return 0.0f;
  }
};

TEST_CASE("sim: calibrating a gradient draws its rows at random, on a copy of the model that stays put") {
  watching p;
  const std::vector<float> x{1.0f, -2.0f, 3.0f};
  (void)asgd::sim::calibrate_gradient(p, x, 8, 20);
  REQUIRE(p.rows.size() == 21);  // the warm-up and the 20 counted
  std::size_t in_order = 0;
  for (const auto& r : p.rows) {
    CHECK(r.size() == 8);
    for (std::size_t row : r) CHECK(row < 500);
    bool consecutive = true;
    for (std::size_t k = 1; k < r.size(); ++k) consecutive = consecutive && r[k] == r[k - 1] + 1;
    in_order += consecutive ? 1 : 0;
  }
  CHECK(in_order == 0);
  // Every call's model is x: the untimed updates between calls are too small to move it.
  for (std::size_t i = 0; i < p.models.size(); ++i) CHECK(p.models[i] == doctest::Approx(x[i % 3]).epsilon(1e-5));
}

TEST_CASE("sim: a problem's evaluation calibrates to the median of its calls' times; bad arguments say which") {
  struct evaluating {
    mutable std::size_t calls = 0;
    [[nodiscard]] std::size_t dimension() const { return 1; }
    [[nodiscard]] std::size_t num_samples() const { return 10; }
    float gradient(std::span<const float>, asgd::batch_view, std::span<float> g) const {
      g[0] = 0.0f;
      return 0.0f;
    }
    [[nodiscard]] asgd::evaluation evaluate(std::span<const float>) const {
      ++calls;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      return {};
    }
  };
  static_assert(asgd::evaluable_problem<evaluating>);
  const evaluating p;
  const std::vector<float> x{1.0f};
  const double t = asgd::sim::calibrate_evaluation(p, x, 4);
  CHECK(p.calls == 5);  // the warm-up and the 4 counted
  CHECK(t >= 2e-3);     // each call sleeps 2 ms
  CHECK(std::isfinite(t));
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_evaluation(p, x, 0), doctest::Contains("calls must be at least 1"),
                       std::invalid_argument);
  const std::vector<float> two{1.0f, 2.0f};
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_evaluation(p, two), doctest::Contains("the model has 2 floats"),
                       std::invalid_argument);
}

TEST_CASE("sim: a problem's gradient calibrates to a lognormal per sample; bad arguments say which") {
  doubling p{std::vector<float>(1000, 0.5f)};
  const std::vector<float> x{1.0f};
  const asgd::sim::duration d = asgd::sim::calibrate_gradient(p, x, 100, 15);
  CHECK(std::isfinite(d.median));
  CHECK(d.median > 0.0);
  CHECK(d.sigma >= 0.0);
  CHECK(d.sigma <= 4.0);
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_gradient(p, x, 0), doctest::Contains("batch 0 must be in [1, 1000]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_gradient(p, x, 1001), doctest::Contains("batch 1001"),
                       std::invalid_argument);
  const std::vector<float> two{1.0f, 2.0f};
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_gradient(p, two, 10), doctest::Contains("the model has 2 floats"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(asgd::sim::calibrate_gradient(p, x, 10, 0), doctest::Contains("calls must be at least 1"),
                       std::invalid_argument);
}

}  // namespace
