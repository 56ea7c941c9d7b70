#include "mlp_problem.hpp"

#include "support.hpp"

#include <asgd/problems/network.hpp>

namespace asgd_test {

namespace {
std::shared_ptr<const asgd::data::image_set> quadrant_images(std::size_t n, unsigned seed) {
  auto set = std::make_shared<asgd::data::image_set>();
  set->rows = 8;
  set->cols = 8;
  set->classes = 4;
  const auto noise = random_floats(n * 64, seed);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = (i * 5 + 1) % 4;
    set->labels.push_back(static_cast<std::uint8_t>(c));
    for (std::size_t p = 0; p < 64; ++p) {
      const std::size_t quadrant = (p / 8 >= 4 ? 2 : 0) + (p % 8 >= 4 ? 1 : 0);
      const float value = (quadrant == c ? 0.8f : 0.1f) + 0.1f * noise[i * 64 + p];  // in [0, 1]
      set->pixel_bytes.push_back(static_cast<std::uint8_t>(255.0f * value + 0.5f));
    }
  }
  return set;
}
}  // namespace

mlp_problem make_quadrant_problem(std::size_t train_images, const std::vector<std::size_t>& hidden, unsigned seed) {
  mlp_problem p;
  p.train = quadrant_images(train_images, seed);
  p.test = quadrant_images(1000, seed + 1000);
  const auto net = asgd::problems::make_mlp(p.train, p.test, hidden);
  p.widths.push_back(64);
  p.widths.insert(p.widths.end(), hidden.begin(), hidden.end());
  p.widths.push_back(4);
  p.layout = net.layout();
  p.initial.resize(net.dimension());
  net.initialize(p.initial, seed);
  return p;
}

double test_accuracy(const mlp_problem& p, std::span<const float> model) {
  return asgd::problems::make_mlp(p.train, p.test, std::vector<std::size_t>(p.widths.begin() + 1, p.widths.end() - 1))
      .evaluate(model)
      .accuracy;
}

}  // namespace asgd_test
