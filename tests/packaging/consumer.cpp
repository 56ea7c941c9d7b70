// The plain consumer: asgd::asgd alone (the C++ standard library and threads; no Eigen, no zlib),
// the umbrella header, a problem of its own. Trains and checks the result.
#include <asgd/asgd.hpp>

#include <cmath>
#include <cstdio>
#include <span>
#include <vector>

// Fit y = 2x + 1 by least squares.
struct line_fit {
  std::vector<float> xs, ys;
  std::size_t dimension() const { return 2; }
  std::size_t num_samples() const { return xs.size(); }
  float gradient(std::span<const float> w, asgd::batch_view batch, std::span<float> g) const {
    g[0] = g[1] = 0.0f;
    float loss = 0.0f;
    for (std::size_t i : batch) {
      const float r = w[0] * xs[i] + w[1] - ys[i];
      g[0] += r * xs[i];
      g[1] += r;
      loss += 0.5f * r * r;
    }
    const auto n = static_cast<float>(batch.size());
    g[0] /= n;
    g[1] /= n;
    return loss / n;
  }
};

int main() {
  line_fit p;
  for (int i = 0; i < 200; ++i) {
    p.xs.push_back(static_cast<float>(i % 20) / 10.0f - 1.0f);
    p.ys.push_back(2.0f * p.xs.back() + 1.0f);
  }
  // Two threads in rounds that depend on no timing: an asynchronous mode's run here lasts about a
  // millisecond, and on a loaded machine a worker preempted throughout may land, at the end, a
  // gradient it computed at the start (Leashed-SGD's runs ended 0.03-0.06 off, the same values
  // each time, about once in 150 runs beside 3 others).
  asgd::trainer<line_fit, asgd::consistency::synchronous, asgd::update::momentum> t{
      p, {.threads = 2, .epochs = 40, .batch = 4, .lr = 0.05f}};
  const auto r = t.run();
  const auto w = t.parameters();
  std::printf("asgd %s: w = (%g, %g)\n", asgd::version_string.data(), w[0], w[1]);
  return std::abs(w[0] - 2.0f) < 1e-2f && std::abs(w[1] - 1.0f) < 1e-2f && r.steps == 2000 ? 0 : 1;
}
