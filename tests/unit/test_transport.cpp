// The default topology, transport and quantizer.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

TEST_SUITE("transport") {
  TEST_CASE("topology::none keeps every node to itself") {
    const auto row = asgd::topology::none{}.neighbours(3, 1, 4, 9);
    CHECK(row.self_weight == 1.0f);
    CHECK(row.peers.empty());
  }

  TEST_CASE("quantize::identity round-trips floats at 32 bits each") {
    asgd::quantize::identity q;
    const std::vector<float> x{1.5f, -2.0f, 3.25f};
    std::vector<std::byte> bytes{std::byte{7}};  // encode appends
    asgd::rng g;
    q.encode(x, bytes, g);
    CHECK(bytes.size() == 1 + 12);
    std::vector<float> out(3);
    q.decode(std::span<const std::byte>(bytes).subspan(1), x, out);
    CHECK(out == x);
    CHECK(q.encoded_bits(3) == 96);
    CHECK_THROWS_WITH_AS(q.decode(std::span<const std::byte>(bytes), x, out), doctest::Contains("13 bytes into 3 floats"),
                         std::invalid_argument);
  }

  TEST_CASE("in_process: a lone node averages with itself") {
    asgd::transport::in_process t;
    CHECK(t.node_count() == 1);
    std::vector<float> v{1, 2, 3};
    t.all_reduce_mean(v);
    CHECK(v == std::vector<float>{1, 2, 3});
  }

  TEST_CASE("in_process: nodes on threads all-reduce and exchange") {
    constexpr std::size_t nodes = 3;
    auto group = asgd::transport::in_process::group(nodes);
    std::vector<std::vector<float>> models(nodes);
    std::vector<std::vector<std::vector<std::byte>>> got(nodes);
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < nodes; ++k) {
      threads.emplace_back([&, k] {
        auto& t = group[k];
        for (int round = 0; round < 20; ++round) {
          models[k].assign(7, static_cast<float>(k) + static_cast<float>(round));
          t.all_reduce_mean(models[k]);
          const std::vector<std::size_t> peers{(k + 1) % nodes, (k + nodes - 1) % nodes};
          const std::byte me{static_cast<unsigned char>(k)};
          t.exchange(peers, std::span<const std::byte>(&me, 1), got[k]);
        }
      });
    }
    for (auto& th : threads) th.join();
    for (std::size_t k = 0; k < nodes; ++k) {
      for (float v : models[k]) CHECK(v == doctest::Approx(1.0 + 19));  // mean of 19, 20, 21
      REQUIRE(got[k].size() == 2);
      CHECK(got[k][0] == std::vector<std::byte>{std::byte(static_cast<unsigned char>((k + 1) % nodes))});
      CHECK(got[k][1] == std::vector<std::byte>{std::byte(static_cast<unsigned char>((k + nodes - 1) % nodes))});
    }
    CHECK_THROWS_AS((void)asgd::transport::in_process::group(0), std::invalid_argument);
  }
}
