// The one translation unit that compiles the trainer's members (and the problem's gradient).
#include "line_trainer.hpp"

float line_fit::gradient(std::span<const float> w, asgd::batch_view batch, std::span<float> g) const {
  g[0] = g[1] = 0.0f;
  float loss = 0.0f;
  const auto n = static_cast<float>(batch.size());
  for (std::size_t i : batch) {
    const float r = w[0] * xs[2 * i] + w[1] * xs[2 * i + 1] - ys[i];
    g[0] += r * xs[2 * i] / n;
    g[1] += r * xs[2 * i + 1] / n;
    loss += 0.5f * r * r / n;
  }
  return loss;
}

// [example-begin instantiate]
template class asgd::trainer<line_fit, asgd::consistency::leashed, asgd::update::momentum>;
// [example-end instantiate]
