// The CUDA back end's host reference, on the CPU (every build; no GPU, no CUDA headers): the
// device update math of <asgd/cuda/rules.hpp> is the host library's update rules, coordinate
// for coordinate, and bad blocks are refused with a message that says what was wrong; the
// device 8-bit QSGD (<asgd/cuda/qsgd8.hpp>) writes the host qsgd<8>'s wire format, the host
// decoder reads it, and it is unbiased; the device MLP's layout and gradient
// (<asgd/cuda/mlp_math.hpp>) are the host network's; a GPU node's averaging round
// (<asgd/cuda/averaging_math.hpp>) mixes as the host averager does, and its wire formats are the
// host quantizers' byte for byte in length.

#include <asgd/cuda/averaging_math.hpp>
#include <asgd/cuda/conflicts.hpp>
#include <asgd/cuda/device_presence.hpp>
#include <asgd/detail/averager.hpp>
#include <asgd/cuda/mlp_math.hpp>
#include <asgd/cuda/qsgd8.hpp>
#include <asgd/problems/network.hpp>
#include <asgd/cuda/rules.hpp>
#include <asgd/quantize/lattice.hpp>
#include <asgd/quantize/one_of.hpp>
#include <asgd/quantize/qsgd.hpp>
#include <asgd/topology/exponential.hpp>
#include <asgd/topology/random_pairs.hpp>
#include <asgd/topology/ring.hpp>
#include <asgd/topology/torus.hpp>
#include <asgd/transport/in_process.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using asgd_test::random_floats;

// A small image set: 6 x 5 images, 4 classes, random pixels in [0, 1].
std::shared_ptr<const asgd::data::image_set> small_images(std::size_t n) {
  auto set = std::make_shared<asgd::data::image_set>();
  set->rows = 6;
  set->cols = 5;
  set->classes = 4;
  for (float v : random_floats(n * 30, 5)) set->pixel_bytes.push_back(static_cast<std::uint8_t>(127.5f * (v + 1.0f)));
  for (std::size_t i = 0; i < n; ++i) set->labels.push_back(static_cast<std::uint8_t>((i * 7) % 4));
  return set;
}

// Steps a block with the host rule as the host stores do (detail/step.hpp) and with the device
// math's reference; the models and buffers must agree bit for bit, outside the block unchanged.
template <class Rule>
void check_same_as_host(const Rule& rule) {
  constexpr std::size_t dimension = 1000;
  const auto math = asgd::cuda::device_math(rule);
  std::vector<float> host_x = random_floats(dimension, 1), device_x = host_x;
  auto host_state = rule.make_state(dimension);
  std::vector<float> buffer(dimension, 0.0f);
  const float lr = 0.05f;
  for (unsigned step = 0; step < 5; ++step) {
    const std::size_t lo = 100 * step, n = 300;
    const std::vector<float> g = random_floats(n, 10 + step);
    for (std::size_t k = 0; k < n; ++k) host_x[lo + k] -= lr * rule.direction(host_state, lo + k, g[k], host_x[lo + k]);
    asgd::cuda::reference_update(math, std::span<float>(device_x), lo, std::span<const float>(g), buffer, lr);
  }
  CHECK(device_x == host_x);
  if constexpr (decltype(math)::has_buffer) CHECK(buffer == host_state.buffer);
}

}  // namespace

TEST_SUITE("cuda") {
  TEST_CASE("cuda host reference: sgd, momentum and nesterov step as the host rules do") {
    check_same_as_host(asgd::update::sgd{});
    check_same_as_host(asgd::update::sgd{.weight_decay = 0.01f});
    check_same_as_host(asgd::update::momentum{.mu = 0.9f});
    check_same_as_host(asgd::update::momentum{.mu = 0.5f, .weight_decay = 1e-3f});
    check_same_as_host(asgd::update::nesterov{.mu = 0.9f, .weight_decay = 5e-4f});
  }

  TEST_CASE("cuda host reference: a block outside the model or a short buffer is refused, nothing written") {
    const auto math = asgd::cuda::device_math(asgd::update::momentum{});
    std::vector<float> x(10, 1.0f), g(4, 1.0f), buffer(10, 0.0f), short_buffer(9, 0.0f);
    CHECK_THROWS_WITH_AS(asgd::cuda::reference_update(math, std::span<float>(x), 7, std::span<const float>(g), buffer, 0.1f),
                         "asgd: cuda::reference_update: the block of 4 coordinates from 7 does not fit in the model's 10",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(
        asgd::cuda::reference_update(math, std::span<float>(x), 0, std::span<const float>(g), short_buffer, 0.1f),
        "asgd: cuda::reference_update: the rule's buffer has 9 coordinates, the model 10", std::invalid_argument);
    CHECK(x == std::vector<float>(10, 1.0f));
    // sgd keeps no buffer: an empty one is fine.
    asgd::cuda::reference_update(asgd::cuda::device_math(asgd::update::sgd{}), std::span<float>(x), 6,
                                 std::span<const float>(g), {}, 0.5f);
    CHECK(x[5] == 1.0f);
    CHECK(x[6] == 0.5f);
    CHECK(x[9] == 0.5f);
  }

  TEST_CASE("cuda host reference: device_math checks the rule as the host does") {
    CHECK_THROWS_AS((void)asgd::cuda::device_math(asgd::update::momentum{.mu = 1.5f}), std::invalid_argument);
    CHECK_THROWS_AS((void)asgd::cuda::device_math(asgd::update::sgd{.weight_decay = -1.0f}), std::invalid_argument);
  }

  TEST_CASE("cuda host reference: qsgd8 writes the host qsgd<8> format, within one level, norms equal") {
    const std::size_t bucket = 100;
    const auto x = random_floats(1050, 3);  // 10 full buckets and a short one
    std::vector<std::byte> device_format;
    asgd::cuda::qsgd8_reference_encode(x, bucket, 42, device_format);
    const asgd::quantize::qsgd<8> host{.bucket = bucket};
    CHECK(device_format.size() * 8 == host.encoded_bits(x.size()));
    CHECK(device_format.size() == asgd::cuda::qsgd8_encoded_bytes(x.size(), bucket));
    std::vector<std::byte> host_format;
    asgd::rng g(7);
    host.encode(x, host_format, g);
    std::vector<float> decoded(x.size());
    host.decode(device_format, x, decoded);
    for (std::size_t lo = 0, at = 0; lo < x.size(); lo += bucket, at += 4 + bucket) {
      CAPTURE(lo);
      float norm = 0.0f, host_norm = 0.0f;
      std::memcpy(&norm, device_format.data() + at, 4);
      std::memcpy(&host_norm, host_format.data() + at, 4);
      CHECK(norm == host_norm);
      const float unit = norm / 127.0f;
      for (std::size_t i = lo; i < std::min(x.size(), lo + bucket); ++i) {
        CHECK(std::fabs(decoded[i] - x[i]) <= unit * 1.0001f);
        if (decoded[i] != 0.0f) CHECK(std::signbit(decoded[i]) == std::signbit(x[i]));
      }
    }
  }

  TEST_CASE("cuda host reference: qsgd8 is unbiased over seeds; hashed_uniform is uniform") {
    const std::vector<float> x{0.3f, -0.01f, 0.7f, -0.45f, 0.002f, 0.0f, -0.9f, 0.25f};
    const asgd::quantize::qsgd<8> host{.bucket = 8};
    constexpr int draws = 4000;
    std::vector<double> mean(x.size(), 0.0);
    std::vector<std::byte> bytes;
    std::vector<float> decoded(x.size());
    for (int seed = 0; seed < draws; ++seed) {
      asgd::cuda::qsgd8_reference_encode(x, 8, static_cast<std::uint64_t>(seed), bytes);
      host.decode(bytes, x, decoded);
      for (std::size_t i = 0; i < x.size(); ++i) mean[i] += decoded[i] / draws;
    }
    // Each draw is within one level (unit = norm / 127) of x with variance <= unit^2 / 4, so the
    // mean's standard deviation is <= unit / (2 sqrt(draws)); allow 5 of them.
    double sq = 0.0;
    for (float v : x) sq += static_cast<double>(v) * v;
    const double unit = std::sqrt(sq) / 127.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      CAPTURE(i);
      CHECK(std::fabs(mean[i] - x[i]) <= 5.0 * unit / (2.0 * std::sqrt(static_cast<double>(draws))));
    }
    double sum = 0.0;
    std::size_t outside = 0;
    for (std::uint64_t i = 0; i < 100000; ++i) {
      const double u = asgd::cuda::hashed_uniform(9, i);
      if (u < 0.0 || u >= 1.0) ++outside;
      sum += u;
    }
    CHECK(outside == 0);
    CHECK(sum / 100000 == doctest::Approx(0.5).epsilon(0.01));
  }

  TEST_CASE("cuda host reference: qsgd8 refuses a non-finite bucket and an empty bucket size") {
    std::vector<float> x(30, 0.5f);
    x[17] = std::numeric_limits<float>::infinity();
    std::vector<std::byte> out;
    CHECK_THROWS_WITH_AS(asgd::cuda::qsgd8_reference_encode(x, 10, 1, out),
                         "asgd: cuda::qsgd8 cannot encode a bucket with a non-finite value (at 10)",
                         std::invalid_argument);
    CHECK_THROWS_AS(asgd::cuda::qsgd8_reference_encode(x, 0, 1, out), std::invalid_argument);
  }

  TEST_CASE("cuda host reference: the device MLP's layout and gradient are the host network's") {
    const auto set = small_images(40);
    auto net = asgd::problems::make_mlp(set, nullptr, {7, 5});
    const auto m = asgd::cuda::mlp_layout::of(net.layout(), 30);
    CHECK(m.widths == std::vector<std::size_t>{30, 7, 5, 4});
    REQUIRE(m.dimension == net.dimension());
    CHECK(m.blocks() == net.layout());
    CHECK(asgd::cuda::mlp_layout::of({30, 7, 5, 4}).blocks() == net.layout());
    std::vector<float> x(m.dimension);
    net.initialize(x, 3);
    const std::vector<std::size_t> batch{1, 4, 9, 16, 25, 36, 2};
    const asgd::batch_view view(batch);
    // The whole model, then a block in the middle layer only (back-propagation stops there).
    for (const asgd::param_range r : {asgd::param_range{0, m.dimension}, asgd::param_range{m.weights(1) + 3, m.bias(1) + 2}}) {
      std::vector<float> host(r.size()), device(m.dimension, 0.0f);
      const float host_loss = net.gradient(x, view, host, r);
      const float device_loss = asgd::cuda::reference_mlp_gradient(m, x, *set, view, device, r);
      CHECK(device_loss == doctest::Approx(host_loss).epsilon(1e-5));
      std::size_t bad = 0;
      for (std::size_t i = 0; i < r.size(); ++i)
        if (std::fabs(device[r.begin + i] - host[i]) > 1e-5f * (1.0f + std::fabs(host[i]))) ++bad;
      CHECK(bad == 0);
    }
  }

  TEST_CASE("cuda host reference: mlp_layout refuses what is not an MLP, naming the block") {
    using asgd::cuda::mlp_layout;
    CHECK_THROWS_WITH_AS(mlp_layout::of(std::vector<std::size_t>{10}),
                         "asgd: cuda::mlp_layout: an MLP needs an input and an output width", std::invalid_argument);
    const asgd::block_layout conv{{"conv1.weight", {0, 36}}, {"conv1.bias", {36, 40}}};
    CHECK_THROWS_WITH_AS(mlp_layout::of(conv, 784),
                         "asgd: cuda::mlp_layout: block 'conv1.weight' is not a dense layer from 784 inputs; the "
                         "device trains MLPs (dense and ReLU layers) only",
                         std::invalid_argument);
    const asgd::block_layout lonely{{"fc1.weight", {0, 20}}};
    CHECK_THROWS_WITH_AS(mlp_layout::of(lonely, 10),
                         "asgd: cuda::mlp_layout: block 'fc1.weight' has no bias block after it; the device trains "
                         "MLPs (dense and ReLU layers) only",
                         std::invalid_argument);
  }

  TEST_CASE("conflict_counter: a write counts the overlapping writes in flight when it begins") {
    asgd::cuda::conflict_counter c(4);
    CHECK(c.begin(0, {0, 10}) == 0);
    CHECK(c.begin(1, {5, 15}) == 1);
    CHECK(c.begin(2, {15, 20}) == 0);  // [5, 15) ends where [15, 20) begins
    c.end(1);
    CHECK(c.begin(3, {0, 100}) == 2);  // workers 0 and 2
    CHECK(c.total() == 3);
    c.end(0);
    c.end(2);
    c.end(3);
    CHECK(c.begin(1, {0, 100}) == 0);
    CHECK_THROWS_AS(c.begin(4, {0, 1}), std::out_of_range);
  }

  TEST_CASE("conflict_counter: workers on disjoint blocks never conflict; on one block they do") {
    constexpr std::size_t workers = 6, steps = 20'000;
    for (const bool disjoint : {true, false}) {
      asgd::cuda::conflict_counter c(workers);
      std::vector<std::thread> threads;
      for (std::size_t w = 0; w < workers; ++w) {
        threads.emplace_back([&, w] {
          const asgd::param_range r = disjoint ? asgd::param_range{100 * w, 100 * w + 100} : asgd::param_range{0, 100};
          for (std::size_t k = 0; k < steps; ++k) {
            (void)c.begin(w, r);
            c.end(w);
          }
        });
      }
      for (auto& t : threads) t.join();
      if (disjoint) {
        CHECK(c.total() == 0);
      } else {
        // Each write finds at most the other workers; more than none on 2 cores is not assured.
        CHECK(c.total() <= workers * steps * (workers - 1));
      }
    }
  }

  // Every node's snapshot and the host averager's mix of it, for one round over in_process.
  template <class Topology, class Quantizer>
  std::vector<std::vector<float>> host_round(const Topology& topo, const Quantizer& q,
                                             const std::vector<std::vector<float>>& snapshots, std::uint64_t round) {
    const std::size_t nodes = snapshots.size();
    auto endpoints = asgd::transport::in_process::group(nodes);
    std::vector<std::vector<float>> mixed(nodes, std::vector<float>(snapshots[0].size()));
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < nodes; ++k) {
      threads.emplace_back([&, k] {
        asgd::detail::averager<Topology, asgd::transport::in_process, Quantizer> a(topo, endpoints[k], q,
                                                                                    snapshots[k].size(), 7);
        a.round(round, snapshots[k], mixed[k]);
      });
    }
    for (auto& t : threads) t.join();
    return mixed;
  }

  template <class Topology>
  void check_mix_matches_host(const Topology& topo, std::size_t nodes) {
    constexpr std::size_t n = 301;
    std::vector<std::vector<float>> snapshots;
    for (std::size_t k = 0; k < nodes; ++k) snapshots.push_back(random_floats(n, 40 + static_cast<unsigned>(k)));
    for (std::uint64_t round : {0u, 1u, 5u}) {
      const auto mixed = host_round(topo, asgd::quantize::fp16{}, snapshots, round);
      for (std::size_t k = 0; k < nodes; ++k) {
        const asgd::mixing_row row = topo.neighbours(round, k, nodes, 7);
        // What the device decodes: each peer's snapshot through fp16.
        std::vector<std::vector<float>> decoded;
        std::vector<std::span<const float>> peers;
        for (const auto& p : row.peers) {
          std::vector<std::byte> bytes;
          asgd::rng g(1, 1);
          asgd::quantize::fp16{}.encode(snapshots[p.node], bytes, g);
          decoded.emplace_back(n);
          asgd::quantize::fp16{}.decode(bytes, snapshots[k], decoded.back());
        }
        for (const auto& d : decoded) peers.emplace_back(d);
        std::vector<float> delta(n);
        asgd::cuda::reference_mix_delta(row, snapshots[k], peers, delta);
        for (std::size_t i = 0; i < n; ++i) {
          INFO("node " << k << " round " << round << " coordinate " << i);
          REQUIRE(snapshots[k][i] + delta[i] == doctest::Approx(mixed[k][i]).epsilon(1e-5));
        }
      }
    }
  }

  TEST_CASE("cuda host reference: a GPU node's mix is the host averager's, for every gossip topology") {
    check_mix_matches_host(asgd::topology::ring{}, 4);
    check_mix_matches_host(asgd::topology::torus{}, 4);
    check_mix_matches_host(asgd::topology::exponential{}, 5);
    check_mix_matches_host(asgd::topology::random_pairs{}, 4);
    check_mix_matches_host(asgd::topology::random_pairs{.one_sided = true}, 5);
  }

  TEST_CASE("cuda host reference: reference_mix_delta refuses mismatched peers and lengths") {
    const asgd::mixing_row row{0.5f, {{1, 0.5f}}};
    std::vector<float> s(4, 1.0f), d(4), p(3, 2.0f);
    CHECK_THROWS_WITH_AS(asgd::cuda::reference_mix_delta(row, s, {}, d),
                         "asgd: cuda::reference_mix_delta: 1 peers in the row and 0 models, 4 coordinates in the "
                         "snapshot and 4 in delta",
                         std::invalid_argument);
    const std::span<const float> short_peer[1] = {p};
    CHECK_THROWS_WITH_AS(asgd::cuda::reference_mix_delta(row, s, short_peer, d),
                         "asgd: cuda::reference_mix_delta: peer 0 has 3 coordinates, the snapshot 4",
                         std::invalid_argument);
    // A two-node average moves each model halfway: delta = (p - s) / 2.
    std::vector<float> q(4, 3.0f);
    const std::span<const float> peer[1] = {q};
    asgd::cuda::reference_mix_delta(row, s, peer, d);
    CHECK(d == std::vector<float>(4, 1.0f));
  }

  TEST_CASE("cuda host reference: a wire format's length is its host quantizer's encoding") {
    namespace q = asgd::quantize;
    using choice = q::one_of<q::identity, q::fp16, q::bf16, q::qsgd<8>, q::lattice>;
    for (const std::size_t n : {std::size_t{1}, std::size_t{511}, std::size_t{512}, std::size_t{1300}}) {
      const auto x = random_floats(n, 9);
      for (const choice c : {choice{q::identity{}}, choice{q::fp16{}}, choice{q::bf16{}}, choice{q::qsgd<8>{}},
                             choice{q::qsgd<8>{.bucket = 100}}}) {
        std::vector<std::byte> bytes;
        asgd::rng g(3, 3);
        c.encode(x, bytes, g);
        const auto wire = asgd::cuda::wire_format::of(c);
        INFO(wire.name() << " n = " << n);
        CHECK(wire.bytes(n) == bytes.size());
      }
    }
    CHECK(asgd::cuda::wire_format::of(q::qsgd<8>{.bucket = 100}).bucket == 100);
    CHECK_THROWS_WITH_AS((void)asgd::cuda::wire_format::of(choice{q::lattice{}}),
                         doctest::Contains("has no device form; a GPU node takes identity, fp16, bf16 or qsgd<8>"),
                         std::invalid_argument);
    CHECK_THROWS_AS((void)asgd::cuda::wire_format::of(q::qsgd<8>{.bucket = 0}), std::invalid_argument);
    const asgd::cuda::wire_format by_hand{asgd::cuda::wire_format::kind::qsgd8, 0};
    CHECK_THROWS_WITH_AS(by_hand.validate(), "asgd: cuda::wire_format: qsgd8 needs a bucket of at least 1 coordinate",
                         std::invalid_argument);
    CHECK_NOTHROW(asgd::cuda::wire_format::of(q::qsgd<8>{}).validate());
  }

  TEST_CASE("GPU nodes: every node runs the same steps and rounds, whatever its shard") {
    // 60,000 images on 9 nodes: shards of 6,666 and 6,667. Per shard, 3 epochs of batch 16
    // would be 1,249 or 1,250 steps, 624 or 625 rounds every 2 steps: one node would enter a
    // collective the others never run.
    const std::size_t samples = 60'000, nodes = 9;
    const auto first = asgd::cuda::schedule_nodes(samples, nodes, 3.0, 0, 16, 2);
    CHECK(first.steps == 3 * 6'666 / 16);
    CHECK(first.rounds == first.steps / 2);
    for (std::size_t k = 0; k < nodes; ++k) {
      const std::size_t shard = (k + 1) * samples / nodes - k * samples / nodes;
      CHECK((shard == 6'666 || shard == 6'667));
    }
    CHECK(3 * 6'667 / 16 / 2 != 3 * 6'666 / 16 / 2);  // what a per-shard schedule would disagree on
    // Steps given: taken as they are; no averaging: no rounds.
    CHECK(asgd::cuda::schedule_nodes(samples, nodes, 3.0, 1'001, 16, 8).steps == 1'001);
    CHECK(asgd::cuda::schedule_nodes(samples, nodes, 3.0, 1'001, 16, 8).rounds == 125);
    CHECK(asgd::cuda::schedule_nodes(samples, 1, 1.0, 0, 16, 0).rounds == 0);
    CHECK(asgd::cuda::schedule_nodes(samples, 1, 1.0, 0, 16, 0).steps == 3'750);
    CHECK_THROWS_AS((void)asgd::cuda::schedule_nodes(samples, 0, 1.0, 0, 16, 8), std::invalid_argument);
  }

  TEST_CASE("GPU presence: only no device or no driver skips; a broken CUDA fails; ASGD_REQUIRE_GPU") {
    using asgd::cuda::device_presence;
    using asgd::cuda::classify_devices;
    CHECK(classify_devices(true, false, 2, true) == device_presence::present);
    CHECK(classify_devices(true, false, 0, true) == device_presence::absent);
    CHECK(classify_devices(false, true, 0, true) == device_presence::absent);   // cudaErrorNoDevice
    CHECK(classify_devices(false, false, 0, false) == device_presence::absent);  // no driver installed
    // A driver that is there but too old, or fails to initialise: an error, not "no GPU".
    CHECK(classify_devices(false, false, 0, true) == device_presence::failed);
    CHECK_FALSE(asgd::cuda::gpu_required(nullptr));
    CHECK_FALSE(asgd::cuda::gpu_required(""));
    CHECK_FALSE(asgd::cuda::gpu_required("0"));
    CHECK(asgd::cuda::gpu_required("1"));
    CHECK(asgd::cuda::gpu_required("yes"));
  }

  TEST_CASE("qsgd8 grid: one block per bucket, refused past what a grid holds") {
    CHECK(asgd::cuda::qsgd8_grid_blocks(1, 512) == 1);
    CHECK(asgd::cuda::qsgd8_grid_blocks(1024, 512) == 2);
    CHECK(asgd::cuda::qsgd8_grid_blocks(1025, 512) == 3);
    CHECK(asgd::cuda::qsgd8_grid_blocks(asgd::cuda::max_grid_blocks, 1) == asgd::cuda::max_grid_blocks);
    // 2^31 buckets: one more than gridDim.x holds (it would fit in an unsigned).
    CHECK_THROWS_WITH_AS((void)asgd::cuda::qsgd8_grid_blocks(asgd::cuda::max_grid_blocks + 1, 1),
                         doctest::Contains("more than the 2147483647 blocks a grid holds"), std::invalid_argument);
    CHECK_THROWS_AS((void)asgd::cuda::qsgd8_grid_blocks(10, 0), std::invalid_argument);
  }

  TEST_CASE("within_ulps: the tolerance of the NCCL averages") {
    CHECK(asgd_test::within_ulps(1.0f, 1.0f, 0));
    CHECK(asgd_test::within_ulps(1.0f, std::nextafter(1.0f, 2.0f), 1));
    CHECK_FALSE(asgd_test::within_ulps(1.0f, std::nextafter(std::nextafter(1.0f, 2.0f), 2.0f), 1));
    CHECK(asgd_test::within_ulps(-0.0f, 0.0f, 0));
    CHECK(asgd_test::within_ulps(-1e-45f, 1e-45f, 2));  // across zero: the smallest subnormals
    CHECK_FALSE(asgd_test::within_ulps(std::nanf(""), 1.0f, 100));
  }
}
