// The reference networks allocate nothing in a training step once their scratch space has grown
// to the batch: Eigen's runtime check (EIGEN_RUNTIME_NO_MALLOC) throws where Eigen would allocate.
// Its own program: the check changes Eigen's inline functions, which no other test may share.
#include <stdexcept>

#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x) \
  do {                  \
    if (!(x)) throw std::logic_error("Eigen: " #x); \
  } while (false)

#include <asgd/problems/network.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <vector>

namespace {

namespace L = asgd::problems::layers;

std::shared_ptr<asgd::data::image_set> random_images(std::size_t n, std::size_t side, std::uint64_t seed) {
  auto set = std::make_shared<asgd::data::image_set>();
  set->rows = set->cols = side;
  set->classes = 10;
  asgd::rng g(seed);
  for (std::size_t i = 0; i < n * side * side; ++i) set->pixel_bytes.push_back(static_cast<std::uint8_t>(g.below(256)));
  for (std::size_t i = 0; i < n; ++i) set->labels.push_back(static_cast<std::uint8_t>(g.below(10)));
  return set;
}

// A step's gradient, then four more with Eigen's allocations forbidden.
void steps_allocate_nothing(asgd::problems::network net, std::size_t batch_size) {
  std::vector<float> x(net.dimension()), g(net.dimension());
  net.initialize(x, 1);
  std::vector<std::size_t> batch(batch_size);
  for (std::size_t k = 0; k < batch_size; ++k) batch[k] = k;
  net.gradient(x, batch, g);  // the scratch space grows to the batch
  Eigen::internal::set_is_malloc_allowed(false);
  for (int step = 0; step < 4; ++step) {
    for (std::size_t& i : batch) i = (i + batch_size) % net.num_samples();
    CHECK_NOTHROW(net.gradient(x, batch, g));
  }
  Eigen::internal::set_is_malloc_allowed(true);
}

TEST_CASE("the MLP's and the CNN's gradients allocate nothing after the first step") {
  const auto images = random_images(64, 28, 3);
  // The MLP's first layer packs 784 x 128 weights (400 KB): past Eigen's 128 KB stack limit.
  steps_allocate_nothing(asgd::problems::make_mlp(images, nullptr), 16);
  steps_allocate_nothing(asgd::problems::make_cnn(images, nullptr), 4);
  // A copy packs into buffers of its own, grown at its first step.
  const asgd::problems::network mlp = asgd::problems::make_mlp(images, nullptr);
  asgd::problems::network copy = mlp;
  steps_allocate_nothing(copy, 16);
}

TEST_CASE("the check catches an allocation") {
  Eigen::internal::set_is_malloc_allowed(false);
  CHECK_THROWS_AS(Eigen::VectorXf(1 << 20), std::logic_error);
  Eigen::internal::set_is_malloc_allowed(true);
}

}  // namespace
