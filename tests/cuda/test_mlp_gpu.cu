// The device MLP and local asynchrony on a GPU (label gpu): the cuBLAS gradient matches its
// host reference (whole model and one block); W workers on their own streams train a learnable
// synthetic problem in every mode, with partitioned blocks never conflicting. Without a CUDA
// device the program says so and exits with 77 (skipped).

#define DOCTEST_CONFIG_IMPLEMENT
#include <asgd/cuda/local_async.cuh>
#include <asgd/select/full.hpp>
#include <asgd/select/partitioned.hpp>

#include "mlp_problem.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace {

namespace cu = asgd::cuda;

template <class Mode, class Selector>
void trains(const Mode& mode, const Selector& selector, double min_accuracy, bool expect_no_conflict) {
  const auto p = asgd_test::make_quadrant_problem(4000, {32}, 1);
  const auto m = cu::mlp_layout::of(p.layout, 64);
  const double before = asgd_test::test_accuracy(p, p.initial);
  const auto r = cu::train_local_async(m, *p.train, p.initial, mode, selector, asgd::update::momentum{.mu = 0.9f}, p.layout,
                                       {.workers = 4, .epochs = 3.0, .batch = 16, .lr = 0.05f, .seed = 3});
  const double after = asgd_test::test_accuracy(p, r.model);
  MESSAGE("accuracy " << before << " -> " << after << ", conflicts " << r.conflicts << ", staleness sum "
                      << r.staleness_sum << ", " << r.samples_per_second(16) << " samples/s");
  CHECK(r.steps == 3 * 4000 / 16);
  CHECK(r.dropped == 0);
  CHECK(after > min_accuracy);
  if (expect_no_conflict) CHECK(r.conflicts == 0);
}

// The whole model, except that worker 2 fails at its third step.
struct failing_selector {
  using policy_kind = asgd::block_selector_tag;
  struct state {
    std::size_t worker = 0;
    std::size_t dimension = 0;
  };
  [[nodiscard]] state make_state(const asgd::selection_context& c) const { return {c.worker, c.dimension}; }
  [[nodiscard]] asgd::param_range select(state& s, const asgd::step_info& info) const {
    if (s.worker == 2 && info.local_step == 2) throw std::runtime_error("worker 2 fails at its third step");
    return {0, s.dimension};
  }
};

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("mlp_gradient matches the host reference, whole model and one block") {
    const auto p = asgd_test::make_quadrant_problem(200, {24, 12}, 4);
    const auto m = cu::mlp_layout::of(p.widths);
    const std::vector<float>& x = p.initial;
    const auto& train = p.train;
    const cu::device_images images(*train);
    cu::device_array<float> dx{std::span<const float>(x)};
    cudaStream_t stream = nullptr;
    cu::check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    {
      cu::mlp_gradient grad(m, images, 32, stream);
      const std::vector<std::uint32_t> batch{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
      const std::vector<std::size_t> wide(batch.begin(), batch.end());
      for (const asgd::param_range r : {asgd::param_range{0, m.dimension}, asgd::param_range{m.weights(1), m.bias(1)}}) {
        const float* g = grad.compute(dx.data(), batch, r);
        const float loss = grad.loss();
        std::vector<float> got(m.dimension), want(m.dimension, 0.0f);
        cu::check("cudaMemcpy", cudaMemcpy(got.data(), g, m.dimension * sizeof(float), cudaMemcpyDeviceToHost));
        const float want_loss = cu::reference_mlp_gradient(m, x, *train, wide, want, r);
        CHECK(loss == doctest::Approx(want_loss).epsilon(1e-4));
        std::size_t bad = 0;
        for (std::size_t i = r.begin; i < r.end; ++i)
          if (std::fabs(got[i] - want[i]) > 1e-4f * (1.0f + std::fabs(want[i]))) ++bad;
        CHECK(bad == 0);
      }
      const std::vector<std::uint32_t> outside{200};
      cu::mlp_gradient fresh(m, images, 4, stream);
      CHECK(std::isnan(fresh.loss()));  // no batch yet: no loss, not uninitialised memory
      CHECK_THROWS_AS(grad.compute(dx.data(), outside, {0, m.dimension}), std::invalid_argument);
    }
    cudaStreamDestroy(stream);
  }

  TEST_CASE("4 workers on one GPU learn in every mode; partitioned blocks never conflict") {
    trains(cu::hogwild_writes{}, asgd::select::full{}, 0.9, false);
    trains(cu::atomic_add_writes{}, asgd::select::full{}, 0.9, false);
    trains(cu::versioned_publish{}, asgd::select::full{}, 0.9, false);
    // Each worker trains a quarter of the model (one layer's weights or biases): above chance (0.25).
    trains(cu::hogwild_writes{}, asgd::select::partitioned{}, 0.5, true);
  }

  TEST_CASE("a worker's error ends the run and comes out of train_local_async") {
    const auto p = asgd_test::make_quadrant_problem(4000, {32}, 1);
    const auto m = cu::mlp_layout::of(p.layout, 64);
    CHECK_THROWS_WITH_AS(cu::train_local_async(m, *p.train, p.initial, cu::hogwild_writes{}, failing_selector{},
                                               asgd::update::momentum{.mu = 0.9f}, p.layout,
                                               {.workers = 4, .epochs = 3.0, .batch = 16, .lr = 0.05f, .seed = 3}),
                         "worker 2 fails at its third step", std::runtime_error);
  }

  TEST_CASE("on a device other than 0, the workers train there (their threads select it)") {
    int devices = 0;
    cu::check("cudaGetDeviceCount", cudaGetDeviceCount(&devices));
    if (devices < 2) {
      MESSAGE("one CUDA device: the device-1 case needs two and is not run here");
      return;
    }
    cu::check("cudaSetDevice", cudaSetDevice(1));
    // The store, images and model live on device 1; a worker on device 0 would fault on them.
    trains(cu::hogwild_writes{}, asgd::select::full{}, 0.9, false);
    trains(cu::versioned_publish{}, asgd::select::full{}, 0.9, false);
    cu::check("cudaSetDevice", cudaSetDevice(0));
  }
}

int main(int argc, char** argv) {
  if (const int devices = asgd_test::devices_or_skip(); devices <= 0) return asgd_test::exit_without_devices(devices);
  doctest::Context context(argc, argv);
  return context.run();
}
