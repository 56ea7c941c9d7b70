// The CUDA back end on a GPU, timed with CUDA events:
// - bm_copy/N: the device-to-device copy of N floats, the bound an in-place update can reach
//   (bytes read plus written per second);
// - bm_update<Write, Rule>/N: one worker's update of the whole model (update_block), its bytes
//   (model, gradient, momentum buffer read and written) per second, and in the summary its
//   share of the copy's bandwidth measured in the same run (the goal is 80% or more);
// - bm_local_async<Selector>/W: W workers training Fashion-MNIST's MLP shape (784-128-10, batch
//   16) on random images, samples/s and write conflicts per step; the summary divides by the
//   single-stream run (W = 1) of the same selector.
// Without a CUDA device it says so and exits 77 (CTest: skipped).

#include "bench_support.hpp"

#include <asgd/cuda/local_async.cuh>
#include <asgd/cuda/update.cuh>
#include <asgd/select/full.hpp>
#include <asgd/select/partitioned.hpp>
#include <asgd/select/random_block.hpp>
#include <asgd/select/round_robin.hpp>

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

namespace cu = asgd::cuda;

// Times `enqueue` (work on `stream`) between two events, `repeat` times per iteration.
template <class Enqueue>
void time_on_stream(benchmark::State& state, cudaStream_t stream, int repeat, Enqueue&& enqueue) {
  cudaEvent_t start = nullptr, stop = nullptr;
  cu::check("cudaEventCreate", cudaEventCreate(&start));
  cu::check("cudaEventCreate", cudaEventCreate(&stop));
  enqueue();  // warm up (and first-touch the pages)
  cu::check("cudaStreamSynchronize", cudaStreamSynchronize(stream));
  for (auto _ : state) {
    cu::check("cudaEventRecord", cudaEventRecord(start, stream));
    for (int k = 0; k < repeat; ++k) enqueue();
    cu::check("cudaEventRecord", cudaEventRecord(stop, stream));
    cu::check("cudaEventSynchronize", cudaEventSynchronize(stop));
    float ms = 0.0f;
    cu::check("cudaEventElapsedTime", cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(static_cast<double>(ms) / 1e3 / repeat);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

void bm_copy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  cu::device_array<float> from(n), to(n);
  cu::check("cudaMemset", cudaMemset(from.data(), 0, n * sizeof(float)));
  time_on_stream(state, nullptr, 20, [&] {
    cu::check("cudaMemcpyAsync", cudaMemcpyAsync(to.data(), from.data(), n * sizeof(float), cudaMemcpyDeviceToDevice));
  });
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(2 * n * sizeof(float)) * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

template <class Write, class Math>
void bm_update(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  cu::device_array<float> x(n), g(n), buffer(Math::has_buffer ? n : 0);
  cu::check("cudaMemset", cudaMemset(x.data(), 0, n * sizeof(float)));
  cu::check("cudaMemset", cudaMemset(g.data(), 0, n * sizeof(float)));
  if (Math::has_buffer) cu::check("cudaMemset", cudaMemset(buffer.data(), 0, n * sizeof(float)));
  time_on_stream(state, nullptr, 20, [&] {
    cu::update_block<Write>(Math{}, x.data(), n, 0, g.data(), n, buffer.data(), 1e-3f, nullptr);
  });
  // x read and written, g read; the momentum buffer read and written.
  const std::size_t bytes = (3 + (Math::has_buffer ? 2 : 0)) * n * sizeof(float);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// Random 28 x 28 images in 10 classes, as many as Fashion-MNIST's training set.
const asgd::data::image_set& random_images() {
  static const asgd::data::image_set set = [] {
    asgd::data::image_set s;
    s.rows = 28;
    s.cols = 28;
    s.classes = 10;
    asgd::rng g(11, 1);
    const std::size_t n = 60'000;
    s.pixel_bytes.resize(n * 784);
    for (auto& p : s.pixel_bytes) p = static_cast<std::uint8_t>(g.below(256));
    for (std::size_t i = 0; i < n; ++i) s.labels.push_back(static_cast<std::uint8_t>(g.below(10)));
    return s;
  }();
  return set;
}

template <class Selector>
void bm_local_async(benchmark::State& state) {
  const auto workers = static_cast<std::size_t>(state.range(0));
  const auto m = cu::mlp_layout::of({784, 128, 10});
  const auto blocks = m.blocks();
  const std::vector<float> initial(m.dimension, 0.01f);
  const std::uint64_t steps = 2'000;
  const cu::local_async_settings warm_up{.workers = workers, .steps = 50, .batch = 16, .lr = 0.01f, .seed = 1};
  // Unmeasured: the first launch of each kernel loads it (CUDA's lazy module loading), which
  // made the first configuration of the run look 20% slower than the same one run later.
  (void)cu::train_local_async(m, random_images(), initial, cu::hogwild_writes{}, Selector{},
                              asgd::update::momentum{.mu = 0.9f}, blocks, warm_up);
  double samples = 0.0, conflicts = 0.0;
  for (auto _ : state) {
    const auto r = cu::train_local_async(m, random_images(), initial, cu::hogwild_writes{}, Selector{},
                                         asgd::update::momentum{.mu = 0.9f}, blocks,
                                         {.workers = workers, .steps = steps, .batch = 16, .lr = 0.01f, .seed = 1});
    state.SetIterationTime(r.seconds);
    samples += static_cast<double>(r.steps * 16);
    conflicts += static_cast<double>(r.conflicts);
  }
  state.counters["samples/s"] = benchmark::Counter(samples, benchmark::Counter::kIsRate);
  state.counters["conflicts/step"] = conflicts / (static_cast<double>(steps) * static_cast<double>(state.iterations()));
}

constexpr std::int64_t model_sizes[] = {1 << 20, 1 << 24, 1 << 26};

BENCHMARK(bm_copy)->ArgName("n")->Arg(model_sizes[0])->Arg(model_sizes[1])->Arg(model_sizes[2])->UseManualTime();
BENCHMARK(bm_update<cu::hogwild_writes, cu::sgd_math>)->ArgName("n")->Arg(model_sizes[0])->Arg(model_sizes[1])->Arg(model_sizes[2])->UseManualTime();
BENCHMARK(bm_update<cu::atomic_add_writes, cu::sgd_math>)->ArgName("n")->Arg(model_sizes[0])->Arg(model_sizes[1])->Arg(model_sizes[2])->UseManualTime();
BENCHMARK(bm_update<cu::hogwild_writes, cu::momentum_math>)->ArgName("n")->Arg(model_sizes[0])->Arg(model_sizes[1])->Arg(model_sizes[2])->UseManualTime();
BENCHMARK(bm_local_async<asgd::select::full>)->ArgName("W")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseManualTime()->Iterations(3);
BENCHMARK(bm_local_async<asgd::select::partitioned>)->ArgName("W")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseManualTime()->Iterations(3);
BENCHMARK(bm_local_async<asgd::select::round_robin>)->ArgName("W")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseManualTime()->Iterations(3);
BENCHMARK(bm_local_async<asgd::select::random_block>)->ArgName("W")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseManualTime()->Iterations(3);

// The ratios, from this run's own figures.
const bool summary = asgd_bench::add_summary([](const asgd_bench::recorder& r) {
  const auto value = [&](const std::string& name, const char* counter) {
    const auto it = r.results.find(name);
    return it == r.results.end() ? 0.0 : it->second.at(counter);
  };
  std::printf("\nupdate kernels against the device-to-device copy (the goal is >= 80%%)\n");
  for (const auto n : model_sizes) {
    const std::string suffix = "/n:" + std::to_string(n) + "/manual_time";
    const double copy = value("bm_copy" + suffix, "GB/s");
    for (const char* kernel : {"bm_update<cu::hogwild_writes, cu::sgd_math>", "bm_update<cu::atomic_add_writes, cu::sgd_math>",
                               "bm_update<cu::hogwild_writes, cu::momentum_math>"}) {
      const double gbs = value(kernel + suffix, "GB/s");
      // The counters are bytes per second.
      if (copy > 0 && gbs > 0) std::printf("  %-50s n=%-9lld %8.1f GB/s  %5.1f%% of copy (%.1f GB/s)\n", kernel,
                                           static_cast<long long>(n), gbs / 1e9, 100.0 * gbs / copy, copy / 1e9);
    }
  }
  std::printf("\nlocal asynchrony, samples/s against one worker (a single stream), and conflicts per step\n");
  for (const char* selector : {"full", "partitioned", "round_robin", "random_block"}) {
    const std::string base = std::string("bm_local_async<asgd::select::") + selector + ">/W:";
    const double one = value(base + "1/iterations:3/manual_time", "samples/s");
    for (const int w : {1, 2, 4, 8}) {
      const std::string name = base + std::to_string(w) + "/iterations:3/manual_time";
      const double s = value(name, "samples/s");
      if (one > 0 && s > 0) std::printf("  %-14s W=%d %10.0f samples/s  x%.2f  %.3f conflicts/step\n", selector, w, s,
                                        s / one, value(name, "conflicts/step"));
    }
  }
});

}  // namespace

int main(int argc, char** argv) {
  cu::visible_devices devices;
  try {
    devices = cu::find_devices();
  } catch (const cu::cuda_error& e) {
    std::printf("CUDA is broken on this machine: %s\n", e.what());
    return 1;
  }
  if (devices.count == 0) {
    if (cu::gpu_required(std::getenv("ASGD_REQUIRE_GPU"))) {
      std::printf("ASGD_REQUIRE_GPU is set, and this machine has none (%s)\n", devices.why.c_str());
      return 1;
    }
    std::printf("no CUDA device (%s): the CUDA benchmarks are skipped\n", devices.why.c_str());
    return 77;
  }
  cudaDeviceProp properties{};
  cu::check("cudaGetDeviceProperties", cudaGetDeviceProperties(&properties, 0));
  asgd_bench::add_context();
  benchmark::AddCustomContext("device", properties.name);
  return asgd_bench::run_benchmarks(argc, argv);
}
