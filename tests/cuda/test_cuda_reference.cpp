// The CUDA back end's host reference, on the CPU (every build; no GPU, no CUDA headers): the
// device update math of <asgd/cuda/rules.hpp> is the host library's update rules, coordinate
// for coordinate, and bad blocks are refused with a message that says what was wrong.

#include <asgd/cuda/rules.hpp>

#include <doctest/doctest.h>

#include <random>
#include <stdexcept>
#include <vector>

namespace {

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
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
}
