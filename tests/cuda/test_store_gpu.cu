// The device parameter stores on a GPU (label gpu): one worker's updates in each mode match the
// host reference; W workers, each a host thread with its own stream, lose no update under
// atomic adds or versioned publication; versioned publication numbers its versions without a
// gap, keeps at most 2 W + 1 buffers, and counts dropped gradients. Without a CUDA device the
// program says so and exits with 77 (skipped).

#define DOCTEST_CONFIG_IMPLEMENT
#include <asgd/cuda/store.cuh>

#include "support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

namespace {

namespace cu = asgd::cuda;

struct stream {
  cudaStream_t s = nullptr;
  stream() { cu::check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }  // as the workers make theirs
  ~stream() { cudaStreamDestroy(s); }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
};

auto constant_lr(float lr) {
  return [lr](std::uint64_t) { return lr; };
}

// Three overlapping block updates by one worker, then the model against reference_update.
template <class Mode, class Rule>
void one_worker_matches_reference(Mode mode, const Rule& rule) {
  constexpr std::size_t dimension = 50'000;
  const auto math = cu::device_math(rule);
  std::vector<float> x = asgd_test::random_floats(dimension, 3), buffer(dimension, 0.0f);
  cu::device_store<Mode> store(mode, 1, x);
  auto w = store.make_worker(math);
  stream s;
  for (unsigned step = 0; step < 3; ++step) {
    const std::size_t lo = 10'000 * step, n = 25'000;
    const auto g = asgd_test::random_floats(n, 11 + step);
    cu::device_array<float> dg{std::span<const float>(g)};
    auto v = store.read(w);
    const auto r = store.apply(w, v, math, lo, dg.data(), n, constant_lr(0.1f), s.s);
    CHECK(r.applied);
    CHECK(r.staleness == 0);
    cu::check("cudaStreamSynchronize", cudaStreamSynchronize(s.s));
    cu::reference_update(math, std::span<float>(x), lo, std::span<const float>(g), buffer, 0.1f);
  }
  store.finish(w);
  const auto got = store.download();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < dimension; ++i)
    if (std::fabs(got[i] - x[i]) > 1e-5f * (1.0f + std::fabs(x[i]))) ++bad;
  CHECK(bad == 0);
}

// W threads, each on its own stream, apply `steps` gradients of ones to random blocks with
// lr 1: without a lost update, coordinate i ends at minus the number of blocks that covered it.
template <class Mode>
void workers_lose_no_update(Mode mode, std::size_t workers) {
  constexpr std::size_t dimension = 1 << 14, block = 1 << 12, steps = 40;
  const auto math = cu::device_math(asgd::update::sgd{});
  cu::device_store<Mode> store(mode, workers, std::vector<float>(dimension, 0.0f));
  const std::vector<float> ones(block, 1.0f);
  cu::device_array<float> dg{std::span<const float>(ones)};
  std::vector<std::vector<std::size_t>> starts(workers);
  std::atomic<std::uint64_t> staleness{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < workers; ++t) {
    threads.emplace_back([&, t] {
      stream s;
      auto w = store.make_worker(math);
      std::mt19937 gen(static_cast<unsigned>(t));
      for (std::size_t k = 0; k < steps; ++k) {
        const std::size_t lo = std::uniform_int_distribution<std::size_t>(0, dimension - block)(gen);
        starts[t].push_back(lo);
        auto v = store.read(w);
        const auto r = store.apply(w, v, math, lo, dg.data(), block, constant_lr(1.0f), s.s);
        staleness += r.staleness;
      }
      cu::check("cudaStreamSynchronize", cudaStreamSynchronize(s.s));
      store.finish(w);
    });
  }
  for (auto& th : threads) th.join();
  std::vector<float> want(dimension, 0.0f);
  for (const auto& list : starts)
    for (const std::size_t lo : list)
      for (std::size_t i = lo; i < lo + block; ++i) want[i] -= 1.0f;
  const auto got = store.download();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < dimension; ++i)
    if (got[i] != want[i]) ++bad;
  CHECK(bad == 0);
  // Each update sees at most the other workers' updates of its own lifetime.
  CHECK(staleness.load() <= workers * steps * (workers - 1) * steps);
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("device stores: one worker's updates match the host reference in every mode") {
    one_worker_matches_reference(cu::hogwild_writes{}, asgd::update::momentum{.mu = 0.9f});
    one_worker_matches_reference(cu::atomic_add_writes{}, asgd::update::sgd{.weight_decay = 1e-3f});
    one_worker_matches_reference(cu::versioned_publish{}, asgd::update::sgd{});
    one_worker_matches_reference(cu::versioned_publish{}, asgd::update::nesterov{.mu = 0.9f, .weight_decay = 5e-4f});
  }

  TEST_CASE("device stores: 8 workers on their own streams lose no update (atomic adds, versioned)") {
    workers_lose_no_update(cu::atomic_add_writes{}, 8);
    workers_lose_no_update(cu::versioned_publish{}, 8);
  }

  TEST_CASE("versioned: versions have no gap, buffers stay within 2 W + 1, drops are counted") {
    constexpr std::size_t dimension = 1 << 16, workers = 6, steps = 30;
    const auto math = cu::device_math(asgd::update::sgd{});
    cu::device_store<cu::versioned_publish> store(cu::versioned_publish{.persistence = 0}, workers,
                                                  std::vector<float>(dimension, 0.0f));
    const std::vector<float> ones(dimension, 1.0f);
    cu::device_array<float> dg{std::span<const float>(ones)};
    std::atomic<std::size_t> applied{0}, dropped{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < workers; ++t) {
      threads.emplace_back([&] {
        stream s;
        auto w = store.make_worker(math);
        for (std::size_t k = 0; k < steps; ++k) {
          auto v = store.read(w);
          const auto r = store.apply(w, v, math, 0, dg.data(), dimension, constant_lr(1.0f), s.s);
          (r.applied ? applied : dropped) += 1;
        }
        store.finish(w);
      });
    }
    for (auto& th : threads) th.join();
    CHECK(applied + dropped == workers * steps);
    CHECK(store.version() == applied.load());
    // Every published version applied one whole-model gradient of ones to its predecessor.
    const auto got = store.download();
    CHECK(got.front() == -static_cast<float>(applied.load()));
    CHECK(got.back() == -static_cast<float>(applied.load()));
    CHECK(store.stats().peak_live_versions <= 2 * workers + 1);
    CHECK(store.live_versions() == 1);
  }

  TEST_CASE("device stores refuse an empty model and a block outside the model") {
    const auto math = cu::device_math(asgd::update::sgd{});
    CHECK_THROWS_WITH_AS(cu::device_store<cu::versioned_publish>(cu::versioned_publish{}, 1, std::vector<float>{}),
                         "asgd: cuda::device_store: the initial model is empty", std::invalid_argument);
    cu::device_store<cu::versioned_publish> store(cu::versioned_publish{}, 1, std::vector<float>(10, 0.0f));
    auto w = store.make_worker(math);
    cu::device_array<float> dg(8);
    auto v = store.read(w);
    CHECK_THROWS_AS(store.apply(w, v, math, 5, dg.data(), 8, constant_lr(1.0f), nullptr), std::invalid_argument);
  }
}

int main(int argc, char** argv) {
  if (const int devices = asgd_test::devices_or_skip(); devices <= 0) return asgd_test::exit_without_devices(devices);
  doctest::Context context(argc, argv);
  return context.run();
}
