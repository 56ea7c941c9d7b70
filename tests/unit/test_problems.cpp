// Reference problems: gradients against finite differences, block and sparse gradients against
// the dense one, and the generators' promises (a minimiser with zero gradient, a reachable
// accuracy).

#include "../support.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <numeric>
#include <set>
#include <vector>

namespace {

// Central differences in double precision of the mean loss over `batch`, at a few coordinates.
template <class P>
void check_against_finite_differences(P p, std::vector<float> x, std::vector<std::size_t> batch) {
  std::vector<float> g(p.dimension());
  p.gradient(std::span<const float>(x), batch, std::span<float>(g));
  asgd::rng pick(5);
  for (int t = 0; t < 12; ++t) {
    const std::size_t i = pick.below(p.dimension());
    const float h = 1e-2f;
    std::vector<float> scratch(p.dimension());
    const float x0 = x[i];
    x[i] = x0 + h;
    const double up = p.gradient(std::span<const float>(x), batch, std::span<float>(scratch));
    x[i] = x0 - h;
    const double down = p.gradient(std::span<const float>(x), batch, std::span<float>(scratch));
    x[i] = x0;
    const double numeric = (up - down) / (2.0 * h);
    CHECK(g[i] == doctest::Approx(numeric).epsilon(2e-2).scale(1.0));
  }
}

template <class P>
void check_block_gradients(P p, const std::vector<float>& x, const std::vector<std::size_t>& batch) {
  std::vector<float> full(p.dimension());
  const float loss = p.gradient(std::span<const float>(x), batch, std::span<float>(full));
  const std::size_t d = p.dimension();
  for (asgd::param_range r : {asgd::param_range{0, d}, asgd::param_range{0, d / 3}, asgd::param_range{d / 3, d - 1},
                              asgd::param_range{d - 1, d}}) {
    std::vector<float> part(r.size());
    const float l2 = p.gradient(std::span<const float>(x), batch, std::span<float>(part), r);
    CHECK(l2 == doctest::Approx(loss));
    for (std::size_t k = 0; k < r.size(); ++k) CHECK(part[k] == doctest::Approx(full[r.begin + k]).epsilon(1e-5));
  }
}

std::vector<float> random_model(std::size_t d, std::uint64_t seed, double scale = 0.3) {
  asgd::rng g(seed);
  std::vector<float> x(d);
  for (auto& v : x) v = static_cast<float>(scale * g.normal());
  return x;
}

}  // namespace

TEST_SUITE("problems") {
  TEST_CASE("least squares: gradient, block gradient, and the generator's minimiser") {
    auto inst = asgd::problems::make_least_squares(300, 12, 0.2, 1);
    const std::vector<std::size_t> batch{0, 5, 17, 200};
    check_against_finite_differences(inst.problem, random_model(12, 2), batch);
    check_block_gradients(inst.problem, random_model(12, 3), batch);

    std::vector<std::size_t> all(300);
    std::iota(all.begin(), all.end(), 0);
    std::vector<float> g(12);
    const float loss = inst.problem.gradient(std::span<const float>(inst.optimum), all, std::span<float>(g));
    CHECK(loss == doctest::Approx(inst.optimal_loss).epsilon(1e-4));
    for (float v : g) CHECK(std::abs(v) < 1e-4);
    CHECK(inst.problem.evaluate(inst.optimum).loss == doctest::Approx(inst.optimal_loss).epsilon(1e-4));
  }

  TEST_CASE("logistic regression: gradient, block gradient, accuracy of the generating model") {
    auto inst = asgd::problems::make_logistic_regression(2000, 10, 3);
    check_against_finite_differences(inst.problem, random_model(10, 4), {1, 2, 3, 99, 1500});
    check_block_gradients(inst.problem, random_model(10, 5), {7, 8, 1999});
    const auto e = inst.problem.evaluate(inst.truth);
    CHECK(e.accuracy == doctest::Approx(inst.reference_accuracy));
    CHECK(inst.reference_accuracy > 0.75);  // labels are informative
  }

  TEST_CASE("sparse problems: the sparse gradient equals the dense one, entry by entry") {
    auto ls = asgd::problems::make_sparse_least_squares(500, 80, 6, 9);
    auto lg = asgd::problems::make_sparse_logistic_regression(500, 80, 6, 10);
    auto check = [](auto p, std::uint64_t seed) {
      const auto x = random_model(p.dimension(), seed);
      const std::vector<std::size_t> batch{3, 3, 44, 100, 499};  // a repeated sample coalesces
      std::vector<float> dense(p.dimension());
      const float l1 = p.gradient(std::span<const float>(x), batch, std::span<float>(dense));
      asgd::sparse_gradient sg;
      const float l2 = p.gradient(asgd::model_reader(std::span<const float>(x)), batch, sg);
      CHECK(l1 == doctest::Approx(l2));
      std::vector<float> from_sparse(p.dimension(), 0.0f);
      for (std::size_t k = 0; k < sg.size(); ++k) from_sparse[sg.indices()[k]] = sg.values()[k];
      for (std::size_t i = 0; i < dense.size(); ++i) CHECK(from_sparse[i] == doctest::Approx(dense[i]).epsilon(1e-5));
      CHECK(sg.size() <= 5 * 6);  // only the batch's features
      check_against_finite_differences(p, x, batch);
      check_block_gradients(p, x, batch);
    };
    check(ls.problem, 1);
    check(lg.problem, 2);
    CHECK(ls.problem.evaluate(ls.optimum).loss < 1e-10);  // exact targets: the truth is the minimiser
  }

  TEST_CASE("sparse problems: one sample's gradient, with distinct and with repeated columns in its row") {
    // One sample takes the path that appends without merging, when every row's columns are
    // distinct; a row that names a column twice must still be merged.
    auto data = std::make_shared<asgd::problems::csr_data>();
    data->rows = 2;
    data->cols = 6;
    data->row_start = {0, 3, 6};
    data->column = {0, 2, 5, 1, 4, 1};  // row 1 names column 1 twice
    data->value = {1.0f, -2.0f, 0.5f, 1.5f, 2.0f, -0.5f};
    data->targets = {1.0f, -1.0f};
    for (bool repeated : {false, true}) {
      auto d = std::make_shared<asgd::problems::csr_data>(*data);
      if (!repeated) d->column[5] = 3;
      const asgd::problems::sparse_logistic_regression p(d);
      const auto x = random_model(6, 4);
      for (std::size_t sample : {0u, 1u}) {
        const std::vector<std::size_t> batch{sample};
        std::vector<float> dense(6);
        const float l1 = p.gradient(std::span<const float>(x), batch, std::span<float>(dense));
        asgd::sparse_gradient sg;
        const float l2 = p.gradient(asgd::model_reader(std::span<const float>(x)), batch, sg);
        CHECK(l1 == doctest::Approx(l2));
        std::set<std::uint32_t> seen;
        std::vector<float> from_sparse(6, 0.0f);
        for (std::size_t k = 0; k < sg.size(); ++k) {
          CHECK(seen.insert(sg.indices()[k]).second);  // one entry per coordinate
          from_sparse[sg.indices()[k]] = sg.values()[k];
        }
        for (std::size_t i = 0; i < 6; ++i) CHECK(from_sparse[i] == doctest::Approx(dense[i]).epsilon(1e-6));
      }
    }
  }

  TEST_CASE("softmax regression: gradient of both blocks, layout, Bayes accuracy of the generator") {
    auto inst = asgd::problems::make_softmax_regression(1000, 6, 4, 1.5, 3);
    const auto& p = inst.problem;
    CHECK(p.dimension() == 4 * 7);
    const auto layout = p.layout();
    REQUIRE(layout.size() == 2);
    CHECK(layout[0].range == asgd::param_range{0, 24});
    CHECK(layout[1].range == asgd::param_range{24, 28});
    check_against_finite_differences(p, random_model(28, 7), {0, 1, 2, 500});
    check_block_gradients(p, random_model(28, 8), {3, 9, 27});
    CHECK(inst.reference_accuracy > 0.6);
  }

  TEST_CASE("bad data is refused with a message saying what is wrong") {
    auto bad = std::make_shared<asgd::problems::dense_data>();
    bad->rows = 2;
    bad->cols = 3;
    bad->features.resize(5);
    bad->targets.resize(2);
    CHECK_THROWS_WITH_AS(asgd::problems::least_squares{bad}, doctest::Contains("5 features and 2 targets for 2 x 3"),
                         std::invalid_argument);

    auto csr = std::make_shared<asgd::problems::csr_data>();
    csr->rows = 1;
    csr->cols = 4;
    csr->row_start = {0, 1};
    csr->column = {9};
    csr->value = {1.0f};
    csr->targets = {1.0f};
    CHECK_THROWS_WITH_AS(asgd::problems::sparse_least_squares{csr}, doctest::Contains("column 9 at entry 0 >= cols"),
                         std::invalid_argument);

    auto labels = std::make_shared<asgd::problems::dense_data>();
    labels->rows = 1;
    labels->cols = 1;
    labels->features = {0.0f};
    labels->targets = {7.0f};
    CHECK_THROWS_WITH_AS((asgd::problems::softmax_regression{labels, 3}),
                         doctest::Contains("target 7.000000 of sample 0 is not a class index below 3"),
                         std::invalid_argument);
    CHECK_THROWS_AS((void)asgd::problems::make_sparse_least_squares(10, 5, 6, 1), std::invalid_argument);
  }
}
