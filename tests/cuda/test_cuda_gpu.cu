// The update kernels on a GPU (label gpu): each rule and write mode against the host reference,
// concurrent workers on their own streams, and refused launches. Without a CUDA device the
// program says so and exits with 77, which CTest reports as skipped.

#define DOCTEST_CONFIG_IMPLEMENT
#include <asgd/cuda/update.cuh>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

namespace cu = asgd::cuda;

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

// Within a few float roundings: the GPU may fuse x - lr * d into one multiply-add.
void check_close(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (std::fabs(got[i] - want[i]) > 1e-5f * (1.0f + std::fabs(want[i]))) ++bad;
  CHECK(bad == 0);
}

template <class Write, class Rule>
void check_against_reference(const Rule& rule) {
  constexpr std::size_t dimension = 100'000;
  const auto math = cu::device_math(rule);
  std::vector<float> x = random_floats(dimension, 1), buffer(dimension, 0.0f);
  cu::device_array<float> dx{std::span<const float>(x)}, dbuf{std::span<const float>(buffer)};
  for (unsigned step = 0; step < 4; ++step) {
    const std::size_t lo = 20'000 * step, n = 50'000;
    const auto g = random_floats(n, 7 + step);
    cu::device_array<float> dg{std::span<const float>(g)};
    cu::update_block<Write>(math, dx.data(), dimension, lo, dg.data(), n, dbuf.data(), 0.05f, nullptr);
    cu::check("cudaDeviceSynchronize", cudaDeviceSynchronize());
    cu::reference_update(math, std::span<float>(x), lo, std::span<const float>(g), buffer, 0.05f);
  }
  check_close(dx.download(), x);
  if constexpr (decltype(math)::has_buffer) check_close(dbuf.download(), buffer);
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("update kernels match the host reference for every rule and write mode") {
    check_against_reference<cu::hogwild_writes>(asgd::update::sgd{.weight_decay = 1e-3f});
    check_against_reference<cu::hogwild_writes>(asgd::update::momentum{.mu = 0.9f});
    check_against_reference<cu::hogwild_writes>(asgd::update::nesterov{.mu = 0.9f, .weight_decay = 5e-4f});
    check_against_reference<cu::atomic_add_writes>(asgd::update::sgd{});
    check_against_reference<cu::atomic_add_writes>(asgd::update::momentum{.mu = 0.5f, .weight_decay = 1e-3f});
    check_against_reference<cu::atomic_add_writes>(asgd::update::nesterov{.mu = 0.9f});
  }

  TEST_CASE("atomic_add: workers on 8 streams writing one block lose no update") {
    // Plain SGD: each step is -lr g whatever x is, so the sum of all workers' steps is known.
    constexpr std::size_t dimension = 1 << 16, workers = 8, steps = 16;
    const auto math = cu::device_math(asgd::update::sgd{});
    std::vector<float> x(dimension, 0.0f);
    cu::device_array<float> dx{std::span<const float>(x)};
    std::vector<cudaStream_t> streams(workers);
    for (auto& s : streams) cu::check("cudaStreamCreate", cudaStreamCreate(&s));
    const std::vector<float> ones(dimension, 1.0f);
    cu::device_array<float> dg{std::span<const float>(ones)};
    for (std::size_t step = 0; step < steps; ++step)
      for (std::size_t w = 0; w < workers; ++w)
        cu::update_block<cu::atomic_add_writes>(math, dx.data(), dimension, 0, dg.data(), dimension, nullptr, 0.25f,
                                                streams[w]);
    cu::check("cudaDeviceSynchronize", cudaDeviceSynchronize());
    for (auto s : streams) cudaStreamDestroy(s);
    const auto got = dx.download();
    std::size_t wrong = 0;
    const float want = -0.25f * static_cast<float>(workers * steps);  // exact: multiples of 1/4
    for (float v : got)
      if (v != want) ++wrong;
    CHECK(wrong == 0);
  }

  TEST_CASE("a launch with a block outside the model or no buffer is refused") {
    cu::device_array<float> dx(10), dg(4);
    const auto momentum = cu::device_math(asgd::update::momentum{});
    CHECK_THROWS_AS(cu::update_block<cu::hogwild_writes>(momentum, dx.data(), 10, 7, dg.data(), 4, dx.data(), 0.1f,
                                                         nullptr),
                    std::invalid_argument);
    CHECK_THROWS_AS(cu::update_block<cu::hogwild_writes>(momentum, dx.data(), 10, 0, dg.data(), 4, nullptr, 0.1f,
                                                         nullptr),
                    std::invalid_argument);
  }
}

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t code = cudaGetDeviceCount(&devices);
  if (code != cudaSuccess || devices == 0) {
    std::printf("no CUDA device (cudaGetDeviceCount: %s): the gpu tests are skipped\n",
                code != cudaSuccess ? cudaGetErrorString(code) : "0 devices");
    return 77;
  }
  cudaDeviceProp prop{};
  cu::check("cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, 0));
  std::printf("device 0: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  doctest::Context context(argc, argv);
  return context.run();
}
