// Neural-network problems: gradients of every layer type against finite differences, block
// gradients against the full one, layout, initialisation and bad shapes.

#include "../support.hpp"

#include <asgd/problems/network.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <thread>
#include <vector>

namespace {

namespace L = asgd::problems::layers;
using asgd::problems::network;

std::shared_ptr<asgd::data::image_set> random_images(std::size_t n, std::size_t side, std::size_t classes,
                                                     std::uint64_t seed) {
  auto set = std::make_shared<asgd::data::image_set>();
  set->rows = set->cols = side;
  set->classes = classes;
  asgd::rng g(seed);
  for (std::size_t i = 0; i < n * side * side; ++i) set->pixel_bytes.push_back(static_cast<std::uint8_t>(g.below(256)));
  for (std::size_t i = 0; i < n; ++i) set->labels.push_back(static_cast<std::uint8_t>(g.below(classes)));
  return set;
}

// Central differences at steps h and h/4. Where the two disagree, or the one-sided differences
// at step h do, the loss is not smooth there (a ReLU or max-pool switched inside the step) and
// the coordinate is skipped; elsewhere the analytic gradient must match the smaller step.
// Requires at least `coverage` of the coordinates to be checked. (Central differences alone can
// agree across a kink by chance: a switch 1e-4 above a coordinate of the conv net below did.)
void check_gradient(network net, double coverage = 1.0) {
  std::vector<float> x(net.dimension());
  net.initialize(x, 5);
  const std::vector<std::size_t> batch{0, 3, 5, 9};
  std::vector<float> g(net.dimension()), scratch(net.dimension());
  net.gradient(x, batch, g);
  const double at = net.gradient(x, batch, scratch);
  struct differences {
    double central, left, right;
  };
  auto numeric = [&](std::size_t i, float h) {
    const float x0 = x[i];
    x[i] = x0 + h;
    const double up = net.gradient(x, batch, scratch);
    x[i] = x0 - h;
    const double down = net.gradient(x, batch, scratch);
    x[i] = x0;
    return differences{(up - down) / (2.0 * h), (at - down) / h, (up - at) / h};
  };
  std::size_t checked = 0;
  for (std::size_t i = 0; i < net.dimension(); ++i) {
    const differences coarse = numeric(i, 2e-3f);
    const double fine = numeric(i, 5e-4f).central;
    const double tolerance = 2e-4 + 0.02 * std::abs(fine);
    if (std::abs(coarse.central - fine) > tolerance || std::abs(coarse.left - coarse.right) > 5 * tolerance) {
      continue;  // a kink inside the step
    }
    ++checked;
    INFO("parameter " << i << " of " << net);
    CHECK(std::abs(g[i] - fine) <= 2e-4 + 0.03 * std::abs(fine));
  }
  CHECK(static_cast<double>(checked) >= coverage * static_cast<double>(net.dimension()));
}

}  // namespace

TEST_SUITE("network") {
  TEST_CASE("dense layers: gradient against finite differences") {
    auto set = random_images(12, 5, 3, 1);
    check_gradient(network("dense", {L::dense{6}, L::dense{3}}, set));
  }

  TEST_CASE("conv2d layers, with and without padding: gradient against finite differences") {
    auto set = random_images(12, 6, 3, 2);
    check_gradient(network("conv", {L::conv2d{3, 3, 0}, L::conv2d{2, 3, 1}, L::dense{3}}, set));
    check_gradient(network("conv5", {L::conv2d{2, 5, 2}, L::dense{3}}, set));
  }

  TEST_CASE("relu and max-pool layers: gradient against finite differences away from kinks") {
    auto set = random_images(12, 8, 3, 3);
    check_gradient(network("relu", {L::dense{8}, L::relu{}, L::dense{3}}, set), 0.9);
    check_gradient(network("pool", {L::conv2d{3, 3, 1}, L::max_pool{2}, L::dense{3}}, set), 0.9);
    check_gradient(network("all", {L::conv2d{3, 3, 1}, L::relu{}, L::max_pool{2}, L::conv2d{4, 3, 0}, L::relu{},
                                   L::dense{6}, L::relu{}, L::dense{3}},
                           set),
                   0.85);
  }

  TEST_CASE("block gradients equal the full gradient's slices, for layout blocks and arbitrary ranges") {
    auto set = random_images(12, 10, 3, 4);
    network net("all", {L::conv2d{3, 3, 1}, L::relu{}, L::max_pool{2}, L::conv2d{4, 3, 0}, L::relu{}, L::dense{6},
                        L::relu{}, L::dense{3}},
                set);
    std::vector<float> x(net.dimension());
    net.initialize(x, 9);
    const std::vector<std::size_t> batch{1, 2, 7};
    std::vector<float> full(net.dimension());
    const float loss = net.gradient(x, batch, full);
    std::vector<asgd::param_range> ranges;
    for (const auto& b : net.layout()) ranges.push_back(b.range);
    ranges.push_back({5, 200});
    ranges.push_back({net.dimension() - 1, net.dimension()});
    for (const auto& r : ranges) {
      std::vector<float> part(r.size());
      CHECK(net.gradient(x, batch, part, r) == loss);
      for (std::size_t k = 0; k < r.size(); ++k) REQUIRE(part[k] == full[r.begin + k]);
    }
  }

  TEST_CASE("the MLP, CNN and LeNet-5 have the published shapes and layouts") {
    auto img = random_images(4, 28, 10, 5);
    const auto mlp = asgd::problems::make_mlp(img, nullptr, {128});
    CHECK(mlp.dimension() == 784 * 128 + 128 + 128 * 10 + 10);
    const auto layout = mlp.layout();
    REQUIRE(layout.size() == 4);
    CHECK(layout[0].name == "fc1.weight");
    CHECK(layout[3].range == asgd::param_range{mlp.dimension() - 10, mlp.dimension()});

    const auto cnn = asgd::problems::make_cnn(img, nullptr);
    // conv 1->4 (3x3) + conv 4->8 (3x3) + fc 200->128 + fc 128->10
    CHECK(cnn.dimension() == (4 * 9 + 4) + (8 * 36 + 8) + (200 * 128 + 128) + (128 * 10 + 10));
    const auto lenet = asgd::problems::make_lenet5(img, nullptr);
    CHECK(lenet.dimension() == (6 * 25 + 6) + (16 * 150 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10));

    std::vector<float> x(cnn.dimension());
    cnn.initialize(x, 1);
    const double bound = 1.0 / std::sqrt(9.0);  // conv1's fan-in
    for (std::size_t i = 0; i < 40; ++i) CHECK(std::abs(x[i]) <= bound);
    CHECK(cnn.flops_per_sample() > 0.0);
  }

  TEST_CASE("evaluate reports loss and accuracy on the test set") {
    auto train = random_images(20, 6, 4, 6), test = random_images(10, 6, 4, 7);
    network net("t", {L::dense{4}}, train, test);
    std::vector<float> x(net.dimension(), 0.0f);  // uniform probabilities
    const auto e = net.evaluate(x);
    CHECK(e.loss == doctest::Approx(std::log(4.0)));
    // Equal logits: every image is taken for the first class, so the accuracy is its share.
    const auto zeros = std::count(test->labels.begin(), test->labels.end(), std::uint8_t{0});
    REQUIRE(zeros > 0);
    CHECK(e.accuracy == doctest::Approx(static_cast<double>(zeros) / 10.0));
  }

  TEST_CASE("evaluate keeps its buffers: the same figures again, from a copy, and from two threads at once") {
    // 1,200 test images: three batches, the last one short, so the kept buffers serve batches
    // of two sizes.
    auto train = random_images(20, 6, 4, 6), test = random_images(1200, 6, 4, 7);
    network net("t", {L::conv2d{2, 3}, L::relu{}, L::dense{4}}, train, test);
    std::vector<float> x(net.dimension());
    asgd::rng g(3);
    for (float& v : x) v = static_cast<float>(g.normal()) * 0.3f;
    std::vector<float> y = x;
    for (float& v : y) v *= -0.5f;
    const auto first = net.evaluate(x);
    const auto other = net.evaluate(y);  // other weights through the same buffers
    const auto again = net.evaluate(x);
    CHECK(again.loss == first.loss);
    CHECK(again.accuracy == first.accuracy);
    CHECK(other.loss != first.loss);
    const network copy = net;  // starts without the buffers
    CHECK(copy.evaluate(y).loss == other.loss);
    std::vector<asgd::evaluation> seen(8);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < seen.size(); ++t) {
      threads.emplace_back([&, t] { seen[t] = net.evaluate(t % 2 == 0 ? x : y); });
    }
    for (auto& t : threads) t.join();
    for (std::size_t t = 0; t < seen.size(); ++t) {
      CHECK(seen[t].loss == (t % 2 == 0 ? first : other).loss);
      CHECK(seen[t].accuracy == (t % 2 == 0 ? first : other).accuracy);
    }
  }

  TEST_CASE("bad shapes are refused with a message naming the network and the layer") {
    auto set = random_images(4, 6, 3, 8);
    CHECK_THROWS_WITH_AS(network("big", {L::conv2d{2, 9, 0}, L::dense{3}}, set),
                         doctest::Contains("network 'big': conv1's kernel is larger than its input"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(network("out", {L::dense{5}}, set), doctest::Contains("the last layer must output 3 values"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(network("pool", {L::max_pool{7}, L::dense{3}}, set),
                         doctest::Contains("pool1 does not fit its input"), std::invalid_argument);
  }
}
