// The in-process transport: all-reduce and point-to-point exchange between node threads, the
// simulated link, and clear errors (never a hang) when a peer is missing or leaves.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace {
using asgd::transport::in_process;
using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

std::vector<std::byte> bytes_of(std::size_t k, std::size_t n = 1) {
  return std::vector<std::byte>(n, std::byte(static_cast<unsigned char>(k)));
}
}  // namespace

TEST_SUITE("transport") {
  TEST_CASE("in_process: a lone node averages with itself") {
    in_process t;
    CHECK(t.node_count() == 1);
    std::vector<float> v{1, 2, 3};
    t.all_reduce_mean(v);
    CHECK(v == std::vector<float>{1, 2, 3});
  }

  TEST_CASE("in_process: nodes on threads all-reduce and exchange, rounds apart" * doctest::timeout(60)) {
    // Message lengths differ by sender and round, so buffers recycled from earlier rounds
    // (longer or shorter) must come back with exactly the new message.
    constexpr std::size_t nodes = 3;
    const auto length = [](std::size_t k, std::uint64_t round) { return 1 + (7 * k + 13 * round) % 50; };
    auto group = in_process::group(nodes);
    std::vector<std::vector<float>> models(nodes);
    std::vector<std::vector<std::vector<std::byte>>> got(nodes);
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < nodes; ++k) {
      threads.emplace_back([&, k] {
        auto& t = group[k];
        for (std::uint64_t round = 0; round < 20; ++round) {
          models[k].assign(7, static_cast<float>(k) + static_cast<float>(round));
          t.all_reduce_mean(models[k]);
          const std::vector<std::size_t> peers{(k + 1) % nodes, (k + nodes - 1) % nodes};
          const auto me = bytes_of(k * 100 + round, length(k, round));
          t.exchange(round, peers, me, got[k]);
          REQUIRE(got[k].size() == 2);
          for (std::size_t j = 0; j < 2; ++j) {
            const std::size_t from = peers[j];
            CHECK(got[k][j] == bytes_of(from * 100 + round, length(from, round)));
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    for (std::size_t k = 0; k < nodes; ++k)
      for (float v : models[k]) CHECK(v == doctest::Approx(1.0 + 19));  // mean of 19, 20, 21
    CHECK_THROWS_AS((void)in_process::group(0), std::invalid_argument);
  }

  TEST_CASE("in_process: exchange waits only for the named peer" * doctest::timeout(60)) {
    // Nodes 0 and 1 exchange ten rounds while node 2 sleeps; node 2 then exchanges with nobody.
    auto group = in_process::group(3, {.timeout = 5.0});
    std::thread pair([&] {
      std::vector<std::vector<std::byte>> got;
      const std::vector<std::size_t> peer{0};
      for (std::uint64_t r = 0; r < 10; ++r) group[1].exchange(r, peer, bytes_of(1, 8), got);
    });
    std::vector<std::vector<std::byte>> got;
    const std::vector<std::size_t> peer{1};
    for (std::uint64_t r = 0; r < 10; ++r) {
      group[0].exchange(r, peer, bytes_of(0, 8), got);
      CHECK(got[0] == bytes_of(1, 8));
    }
    pair.join();
    group[2].exchange(0, {}, bytes_of(2), got);
    CHECK(got.empty());
  }

  TEST_CASE("in_process: the simulated link delays messages by latency, size and straggler" * doctest::timeout(60)) {
    const in_process::link slow{.latency = 0.02, .bandwidth = 1e6, .straggler = 1, .straggler_delay = 0.05};
    auto group = in_process::group(2, slow);
    std::vector<std::vector<std::byte>> got0, got1;
    const auto t0 = clock_type::now();
    std::thread other([&] { group[1].exchange(0, std::vector<std::size_t>{0}, bytes_of(1, 10000), got1); });
    group[0].exchange(0, std::vector<std::size_t>{1}, bytes_of(0, 10000), got0);
    const double node0 = since(t0);
    other.join();
    const double node1 = since(t0);
    // Node 0 receives from the straggler: 0.02 + 10000 / 1e6 + 0.05 = 0.08 s at least.
    CHECK(node0 >= 0.079);
    CHECK(node1 >= 0.029);  // node 1 receives from node 0: 0.03 s
    CHECK(got0[0] == bytes_of(1, 10000));
    CHECK_THROWS_WITH_AS((void)in_process::group(2, {.latency = -1.0}), doctest::Contains("must be finite and >= 0"),
                         std::invalid_argument);
  }

  TEST_CASE("in_process: the all-reduce in two phases: posted without a wait, ready once the last message is in" *
            doctest::timeout(60)) {
    static_assert(asgd::split_all_reduce_transport<in_process>);
    auto group = in_process::group(3, {.latency = 0.05});
    std::vector<float> a{1, 2}, b{3, 4}, c{5, 9};
    const auto t0 = clock_type::now();
    CHECK_FALSE(group[1].mean_posted());
    const std::uint64_t ta = group[0].post_mean(a);
    CHECK(group[1].mean_posted());  // node 1 may join now, before its own time
    CHECK_FALSE(group[0].mean_ready(ta));
    const std::uint64_t tb = group[1].post_mean(b);
    CHECK_FALSE(group[1].mean_ready(tb));
    const std::uint64_t tc = group[2].post_mean(c);  // the last node: it computes the mean
    CHECK(a == std::vector<float>{3, 5});
    CHECK(b == a);
    CHECK(c == a);
    CHECK_FALSE(group[0].mean_posted());  // the next all-reduce has no member yet
    // Ready when the last post's message would have arrived: 0.05 s after it.
    group[0].await_mean(ta, a);
    CHECK(since(t0) >= 0.049);
    CHECK(group[1].mean_ready(tb));
    group[1].await_mean(tb, b);
    group[2].await_mean(tc, c);
    // It is the same all-reduce as all_reduce_mean's: the two forms meet in one.
    std::vector<float> x0{0}, x1{3}, x2{9};
    std::thread n0([&] { group[0].all_reduce_mean(x0); });
    std::thread n1([&] { group[1].all_reduce_mean(x1); });
    const std::uint64_t t2 = group[2].post_mean(x2);
    group[2].await_mean(t2, x2);
    n0.join();
    n1.join();
    CHECK(x0 == std::vector<float>{4});
    CHECK(x1 == x0);
    CHECK(x2 == x0);
    // A posted all-reduce that a node never joins ends in the timeout's error, as a blocking one.
    auto pair = in_process::group(2, {.timeout = 0.2});
    std::vector<float> lone{1};
    const std::uint64_t t = pair[0].post_mean(lone);
    CHECK_THROWS_WITH_AS(pair[0].await_mean(t, lone), doctest::Contains("waited 0.2 s for node(s) 1"),
                         asgd::transport_error);
  }

  TEST_CASE("in_process: a missing peer is a clear error within the timeout, not a hang" * doctest::timeout(60)) {
    auto group = in_process::group(2, {.timeout = 0.2});
    std::vector<std::vector<std::byte>> got;
    const auto t0 = clock_type::now();
    CHECK_THROWS_WITH_AS(group[0].exchange(7, std::vector<std::size_t>{1}, bytes_of(0), got),
                         doctest::Contains("node 0: exchange: round 7: no message from node 1 within 0.2 s"),
                         asgd::transport_error);
    CHECK(since(t0) < 5.0);
    // The group is now failed: the other node learns at once, in any operation.
    std::vector<float> v{1};
    CHECK_THROWS_WITH_AS(group[1].all_reduce_mean(v), doctest::Contains("node 0 gave up in exchange"),
                         asgd::transport_error);
  }

  TEST_CASE("in_process: an all-reduce a node never joins times out; leave() ends waits at once" *
            doctest::timeout(60)) {
    {
      // Nodes 0 and 1 join, node 2 never does: the error names node 2.
      auto group = in_process::group(3, {.timeout = 0.2});
      std::string second;
      std::thread other([&] {
        std::vector<float> w{3, 4};
        try {
          group[1].all_reduce_mean(w);
        } catch (const asgd::transport_error& e) {
          second = e.what();
        }
      });
      std::vector<float> v{1, 2};
      CHECK_THROWS_WITH_AS(group[0].all_reduce_mean(v), doctest::Contains("waited 0.2 s for node(s) 2"),
                           asgd::transport_error);
      other.join();
      CHECK(second.find("waited 0.2 s for node(s) 2") != std::string::npos);
    }
    {
      auto group = in_process::group(2, {.timeout = 30.0});
      std::thread leaver([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        group[1].leave("its worker threw");
      });
      std::vector<std::vector<std::byte>> got;
      const auto t0 = clock_type::now();
      CHECK_THROWS_WITH_AS(group[0].exchange(0, std::vector<std::size_t>{1}, bytes_of(0), got),
                           doctest::Contains("node 1 left: its worker threw"), asgd::transport_error);
      CHECK(since(t0) < 10.0);  // long before the 30 s timeout
      leaver.join();
    }
    {
      auto group = in_process::group(2);
      std::thread other([&] {
        std::vector<float> w{1, 2, 3};
        CHECK_THROWS_AS(group[1].all_reduce_mean(w), asgd::transport_error);
      });
      std::vector<float> v{1, 2};
      CHECK_THROWS_AS(group[0].all_reduce_mean(v), asgd::transport_error);
      other.join();
    }
    auto group = in_process::group(2);
    std::vector<std::vector<std::byte>> got;
    CHECK_THROWS_WITH_AS(group[0].exchange(0, std::vector<std::size_t>{0}, bytes_of(0), got),
                         doctest::Contains("peer 0 is not another node of 2"), asgd::transport_error);
  }

  TEST_CASE("in_process gossip: a copy read one-sided, averaged with atomically, its changes counted once") {
    auto group = in_process::group(3);
    for (auto& t : group) t.open_gossip(4);
    std::vector<std::byte> out;
    CHECK_FALSE(group[0].read_published(1, out));  // nothing published yet
    bool called = false;
    CHECK_FALSE(group[0].average_with(1, [&](auto, auto&) { called = true; }));
    CHECK_FALSE(called);

    group[1].publish([](std::span<const std::byte> copy, std::uint64_t changes, std::vector<std::byte>& bytes) {
      CHECK(changes == 0);
      CHECK(copy.empty());  // the first publication
      bytes = bytes_of(7, 4);
    });
    REQUIRE(group[0].read_published(1, out));
    CHECK(out == bytes_of(7, 4));

    // Two nodes average with node 1's copy: each sees the copy the previous one left.
    for (std::size_t from : {0u, 2u}) {
      CHECK(group[from].average_with(1, [&](std::span<const std::byte> copy, std::vector<std::byte>& new_copy) {
        CHECK(copy.size() == 4);
        CHECK(copy[0] == std::byte(static_cast<unsigned char>(from == 0 ? 7 : 10)));
        new_copy = bytes_of(10 + from, 4);
      }));
    }
    REQUIRE(group[2].read_published(1, out));
    CHECK(out == bytes_of(12, 4));

    // Node 1's next publish sees the copy as they left it, and two changes; then none.
    group[1].publish([](std::span<const std::byte> copy, std::uint64_t changes, std::vector<std::byte>& bytes) {
      CHECK(changes == 2);
      CHECK(std::vector<std::byte>(copy.begin(), copy.end()) == bytes_of(12, 4));
      bytes = bytes_of(2, 4);
    });
    group[1].publish([](std::span<const std::byte> copy, std::uint64_t changes, std::vector<std::byte>& bytes) {
      CHECK(changes == 0);
      CHECK(std::vector<std::byte>(copy.begin(), copy.end()) == bytes_of(2, 4));
      bytes.assign(copy.begin(), copy.end());
    });
    REQUIRE(group[0].read_published(1, out));
    CHECK(out == bytes_of(2, 4));

    // A bad peer is a transport error naming it (and, as for exchange, it fails the group).
    CHECK_THROWS_WITH_AS(group[0].read_published(0, out), doctest::Contains("peer 0 is not another node of 3"),
                         asgd::transport_error);
    auto other = in_process::group(3);
    CHECK_THROWS_WITH_AS(other[2].average_with(5, [](auto, auto&) {}),
                         doctest::Contains("peer 5 is not another node of 3"), asgd::transport_error);
  }
}
