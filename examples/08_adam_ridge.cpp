// A custom update rule (Adam) and a custom problem (ridge regression), trained by two Leashed-SGD
// workers and checked against the problem's closed-form optimum.
#include <asgd/consistency/leashed.hpp>
#include <asgd/random.hpp>
#include <asgd/trainer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

// [example-begin problem]
// Ridge regression: mean over samples of 0.5 (w.x - y)^2, plus 0.5 lambda |w|^2.
struct ridge {
  std::size_t features = 0;
  std::vector<float> x, y;  // x: one row of `features` values per sample
  float lambda = 0.1f;

  std::size_t dimension() const { return features; }
  std::size_t num_samples() const { return y.size(); }

  float gradient(std::span<const float> w, asgd::batch_view batch, std::span<float> g) const {
    for (std::size_t j = 0; j < features; ++j) g[j] = lambda * w[j];
    float loss = 0.0f;
    const auto n = static_cast<float>(batch.size());
    for (std::size_t i : batch) {
      const float* row = &x[i * features];
      float r = -y[i];
      for (std::size_t j = 0; j < features; ++j) r += w[j] * row[j];
      for (std::size_t j = 0; j < features; ++j) g[j] += r * row[j] / n;
      loss += 0.5f * r * r / n;
    }
    for (std::size_t j = 0; j < features; ++j) loss += 0.5f * lambda * w[j] * w[j];
    return loss;
  }
};
// [example-end problem]

// [example-begin adam]
// Adam (Kingma and Ba, 2015): the step is lr * m_hat / (sqrt(v_hat) + epsilon), with bias-corrected
// first and second moments of the gradient. Each worker owns its moments, as it owns momentum.
struct adam {
  using policy_kind = asgd::update_rule_tag;
  static constexpr std::string_view name = "adam";

  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-8f;

  struct state {
    std::vector<float> m, v;
    std::vector<float> beta1_t, beta2_t;  // beta^t of each coordinate's own step count t
  };
  state make_state(std::size_t n) const { return {std::vector<float>(n), std::vector<float>(n), std::vector<float>(n, 1.0f), std::vector<float>(n, 1.0f)}; }

  // Touches only coordinate i, so a sparse or block step advances only the coordinates it updates.
  float direction(state& s, std::size_t i, float g, float /*x*/) const {
    s.m[i] = beta1 * s.m[i] + (1.0f - beta1) * g;
    s.v[i] = beta2 * s.v[i] + (1.0f - beta2) * g * g;
    s.beta1_t[i] *= beta1;
    s.beta2_t[i] *= beta2;
    const float m_hat = s.m[i] / (1.0f - s.beta1_t[i]);
    const float v_hat = s.v[i] / (1.0f - s.beta2_t[i]);
    return m_hat / (std::sqrt(v_hat) + epsilon);
  }

  void validate() const {  // checked by run() before any thread starts
    if (!(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f && epsilon > 0.0f)) {
      throw std::invalid_argument("adam: beta1 and beta2 must be in [0, 1) and epsilon > 0");
    }
  }
};
static_assert(asgd::update_rule<adam>);
// [example-end adam]

// The optimum solves (X^T X / n + lambda I) w = X^T y / n; Gaussian elimination on a small system.
std::vector<double> ridge_optimum(const ridge& p) {
  const std::size_t d = p.features, n = p.num_samples();
  std::vector<double> a(d * (d + 1), 0.0);  // [A | b], row-major
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) {
      for (std::size_t k = 0; k < d; ++k) a[j * (d + 1) + k] += double(p.x[i * d + j]) * p.x[i * d + k] / double(n);
      a[j * (d + 1) + d] += double(p.x[i * d + j]) * p.y[i] / double(n);
    }
  }
  for (std::size_t j = 0; j < d; ++j) a[j * (d + 1) + j] += p.lambda;
  for (std::size_t c = 0; c < d; ++c) {  // symmetric positive definite: no pivoting needed
    for (std::size_t r = c + 1; r < d; ++r) {
      const double f = a[r * (d + 1) + c] / a[c * (d + 1) + c];
      for (std::size_t k = c; k <= d; ++k) a[r * (d + 1) + k] -= f * a[c * (d + 1) + k];
    }
  }
  std::vector<double> w(d);
  for (std::size_t c = d; c-- > 0;) {
    double s = a[c * (d + 1) + d];
    for (std::size_t k = c + 1; k < d; ++k) s -= a[c * (d + 1) + k] * w[k];
    w[c] = s / a[c * (d + 1) + c];
  }
  return w;
}

int main() {
  ridge problem;
  problem.features = 8;
  asgd::rng g(3);
  const std::vector<float> truth = {1.5f, -2.0f, 0.5f, 0.0f, 3.0f, -1.0f, 0.25f, 2.0f};
  for (std::size_t i = 0; i < 50000; ++i) {
    float y = 0.0f;
    for (std::size_t j = 0; j < problem.features; ++j) {
      problem.x.push_back(static_cast<float>(g.normal()));
      y += truth[j] * problem.x.back();
    }
    problem.y.push_back(y + 0.1f * static_cast<float>(g.normal()));
  }

  // [example-begin train]
  asgd::trainer<ridge, asgd::consistency::leashed, adam> t{
      problem, {.threads = 2, .epochs = 2, .batch = 16, .lr = 0.01f, .lr_schedule = asgd::schedule::cosine()},
      adam{.beta2 = 0.99f}};
  const asgd::report r = t.run();
  // [example-end train]

  const std::vector<double> best = ridge_optimum(problem);
  double worst = 0.0;
  for (std::size_t j = 0; j < problem.features; ++j) worst = std::max(worst, std::abs(t.parameters()[j] - best[j]));
  std::printf("%s: largest distance to the ridge optimum %.4f after %llu updates (w0 = %.3f, optimum %.3f)\n",
              r.update_rule.c_str(), worst, static_cast<unsigned long long>(r.updates_applied), t.parameters()[0],
              best[0]);
  return worst < 0.02 ? 0 : 1;
}
