// The smallest complete use of asgd: describe a problem, pick policies, train with threads.
//
//   worker 0 ─┐   read (consistent version) -> gradient -> publish with one CAS
//   worker 1 ─┼─> shared model (consistency::leashed)
//   ...      ─┘
#include <asgd/asgd.hpp>

#include <cmath>
#include <cstdio>
#include <span>
#include <vector>

// [example-begin problem]
// A problem is any copyable type with a dimension, a sample count and a minibatch gradient.
// This one fits y = 3 x0 - 2 x1 by least squares on generated samples.
struct line_fit {
  std::vector<float> xs = std::vector<float>(400000), ys = std::vector<float>(200000);

  std::size_t dimension() const { return 2; }
  std::size_t num_samples() const { return ys.size(); }

  // Writes the mean gradient of the batch into g and returns the mean loss.
  float gradient(std::span<const float> w, asgd::batch_view batch, std::span<float> g) const {
    g[0] = g[1] = 0.0f;
    float loss = 0.0f;
    for (std::size_t i : batch) {
      const float r = w[0] * xs[2 * i] + w[1] * xs[2 * i + 1] - ys[i];
      g[0] += r * xs[2 * i] / static_cast<float>(batch.size());
      g[1] += r * xs[2 * i + 1] / static_cast<float>(batch.size());
      loss += 0.5f * r * r / static_cast<float>(batch.size());
    }
    return loss;
  }
};
// [example-end problem]

int main() {
  line_fit problem;
  asgd::rng g(1);
  for (std::size_t i = 0; i < problem.ys.size(); ++i) {
    problem.xs[2 * i] = static_cast<float>(g.normal());
    problem.xs[2 * i + 1] = static_cast<float>(g.normal());
    problem.ys[i] = 3.0f * problem.xs[2 * i] - 2.0f * problem.xs[2 * i + 1];
  }

  // [example-begin train]
  using trainer = asgd::trainer<line_fit,
                                asgd::consistency::leashed,  // how threads share the model
                                asgd::update::momentum,      // what a step does
                                asgd::select::full>;         // which part of the model a step updates
  trainer t{problem, {.threads = 2, .epochs = 1, .batch = 8, .lr = 0.01f}};
  const asgd::report r = t.run();
  std::printf("w = (%.3f, %.3f) after %llu updates, %.0f samples/s, mean staleness %.2f\n", t.parameters()[0],
              t.parameters()[1], static_cast<unsigned long long>(r.updates_applied), r.samples_per_second,
              r.staleness.mean());
  // [example-end train]

  // Asynchronous: a worker descheduled from the start to the end of the run publishes a gradient
  // of the start's model into the end's. The run is long enough (25,000 updates) that the OS
  // does not keep a ready thread off a core for all of it, so the fit holds every time.
  const bool ok = std::abs(t.parameters()[0] - 3.0f) < 1e-2f && std::abs(t.parameters()[1] + 2.0f) < 1e-2f;
  return ok ? 0 : 1;
}
