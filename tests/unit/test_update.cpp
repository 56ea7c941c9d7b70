// Update rules against PyTorch's SGD formulas, schedules and staleness scaling.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace {

// PyTorch's torch.optim.SGD step (dampening 0), written out for one coordinate.
struct torch_sgd {
  float lr, mu, wd;
  bool nesterov;
  float buf = 0.0f;
  bool has_buf = false;
  float step(float x, float g) {
    float d = g + wd * x;
    if (mu != 0.0f) {
      buf = has_buf ? mu * buf + d : d;
      has_buf = true;
      d = nesterov ? d + mu * buf : buf;
    }
    return x - lr * d;
  }
};

template <class Rule>
void matches_torch(const Rule& rule, float mu, bool nesterov) {
  const float lr = 0.1f, wd = rule.weight_decay;
  auto state = rule.make_state(3);
  std::vector<float> x{1.0f, -2.0f, 0.5f};
  std::vector<torch_sgd> ref(3, torch_sgd{lr, mu, wd, nesterov});
  std::vector<float> expect = x;
  const float grads[4][3] = {{0.3f, -1.0f, 2.0f}, {0.1f, 0.2f, -0.3f}, {-1.0f, 0.0f, 0.5f}, {2.0f, 1.0f, 1.0f}};
  for (const auto& g : grads) {
    for (std::size_t i = 0; i < 3; ++i) {
      x[i] -= lr * rule.direction(state, i, g[i], x[i]);
      expect[i] = ref[i].step(expect[i], g[i]);
      CHECK(x[i] == doctest::Approx(expect[i]).epsilon(1e-6));
    }
  }
}

}  // namespace

TEST_SUITE("update") {
  TEST_CASE("sgd, momentum and nesterov match PyTorch's SGD (dampening 0), with and without weight decay") {
    for (float wd : {0.0f, 0.01f}) {
      matches_torch(asgd::update::sgd{.weight_decay = wd}, 0.0f, false);
      matches_torch(asgd::update::momentum{.mu = 0.9f, .weight_decay = wd}, 0.9f, false);
      matches_torch(asgd::update::nesterov{.mu = 0.9f, .weight_decay = wd}, 0.9f, true);
    }
  }

  TEST_CASE("momentum state is per worker and per coordinate") {
    asgd::update::momentum rule{.mu = 0.5f};
    auto a = rule.make_state(2), b = rule.make_state(2);
    CHECK(rule.direction(a, 0, 1.0f, 0.0f) == 1.0f);
    CHECK(rule.direction(a, 0, 1.0f, 0.0f) == 1.5f);
    CHECK(rule.direction(b, 0, 1.0f, 0.0f) == 1.0f);  // b untouched by a
    CHECK(rule.direction(a, 1, 1.0f, 0.0f) == 1.0f);  // coordinate 1 untouched by 0
  }

  TEST_CASE("bad knobs throw invalid_argument naming the field") {
    CHECK_THROWS_WITH_AS(asgd::update::momentum{.mu = 1.5f}.validate(), doctest::Contains("update::momentum.mu = 1.5"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(asgd::update::sgd{.weight_decay = -1.0f}.validate(),
                         doctest::Contains("update::sgd.weight_decay = -1"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(asgd::update::nesterov{.mu = std::nanf("")}.validate(), doctest::Contains("nesterov.mu"),
                         std::invalid_argument);
  }

  TEST_CASE("schedules") {
    using asgd::schedule;
    CHECK(schedule::constant().factor(3.7) == 1.0);

    const auto ms = schedule::multistep({2.0, 5.0}, 0.1);
    CHECK(ms.factor(1.99) == 1.0);
    CHECK(ms.factor(2.0) == doctest::Approx(0.1));
    CHECK(ms.factor(6.0) == doctest::Approx(0.01));

    const auto cos = schedule::cosine(10.0);
    CHECK(cos.factor(0.0) == doctest::Approx(1.0));
    CHECK(cos.factor(5.05) == doctest::Approx(0.5));  // LAP-SGD's T_max = E + 0.1
    CHECK(cos.factor(10.1) == doctest::Approx(0.0).epsilon(1e-9));

    auto warm = schedule::cosine(10.0, 2.0);
    warm.warmup_start = 0.25;
    CHECK(warm.factor(0.0) == doctest::Approx(0.25));
    CHECK(warm.factor(1.0) == doctest::Approx(0.625));
    CHECK(warm.factor(2.0) == doctest::Approx(1.0));

    const auto back = schedule::backoff(0.8);
    CHECK(back.factor(0.9) == 1.0);
    CHECK(back.factor(2.5) == doctest::Approx(0.64));

    CHECK_THROWS_WITH_AS(schedule::multistep({3.0, 2.0}).validate(), doctest::Contains("milestones must increase"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(schedule::backoff(1.5).validate(), doctest::Contains("schedule.beta = 1.5"),
                         std::invalid_argument);
  }

  TEST_CASE("staleness scaling: none, inverse and FLeet") {
    using k = asgd::staleness_scaling::kind;
    CHECK(asgd::staleness_scaling{}.factor(9, 4) == 1.0);
    CHECK(asgd::staleness_scaling{.type = k::inverse}.factor(3, 4) == doctest::Approx(0.25));
    const asgd::staleness_scaling fleet{.type = k::fleet};
    const double t = 5.0;  // 4 workers + 1, as in Leashed-SGD's code
    const double beta = 2.0 / t * std::log(1.0 + t / 2.0);
    CHECK(fleet.resolved_beta(4) == doctest::Approx(beta));
    CHECK(fleet.factor(2, 4) == doctest::Approx(std::exp(-2.0 * beta)));
    CHECK(asgd::staleness_scaling{.type = k::fleet, .beta = 0.5}.factor(2, 4) == doctest::Approx(std::exp(-1.0)));
  }
}
