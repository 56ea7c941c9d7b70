// The Fashion-MNIST MLP 784-128-10 step against the machine's Eigen GEMM rate, and its
// scaling from one to two threads under hogwild and leashed.
//
// What one iteration measures, back to back (so the ratios survive this VM's drift):
//   gemm   the layer's forward GEMM, (B x 784) * (784 x 128), repeated for ~0.1 s: GFLOP/s;
//   square a 512 x 512 x 512 GEMM for ~0.1 s, Eigen's rate on a shape it likes: GFLOP/s;
//   seq    `steps` minibatches of sequential momentum SGD through asgd::trainer: samples/s,
//          and the FLOP rate they imply (409,088 FLOP per sample: forward, weight gradients,
//          and the second layer's input gradient);
//   hogwild and leashed at 1 and 2 threads, `steps` minibatches each: samples/s, and hogwild's
//          1- and 2-thread samples/s against sequential's (goals: >= 0.9 and >= 1.6).
// Counters give the median over iterations of: step GFLOP/s / gemm GFLOP/s (goal: >= 0.5 at
// batch 64, >= 0.3 at batch 16), the same against the square GEMM, and 2-thread / 1-thread
// samples/s for hogwild and leashed (goal: >= 1.7).
//
//   bench_mlp                                  # batch 16 and 64, 5 iterations each (~1 minute)
#include "bench_support.hpp"

#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

const asgd::problems::network& mlp() {
  static const asgd::problems::network net = [] {
    auto d = asgd::data::load_mnist_like();
    asgd::data::standardize(d);
    return asgd::problems::make_mlp(std::make_shared<const asgd::data::image_set>(std::move(d.train)), nullptr, {128});
  }();
  return net;
}

// GFLOP/s of c = a * b^T with a (m x k), b (n x k), repeated for about `seconds`.
double gemm_rate(Eigen::Index m, Eigen::Index k, Eigen::Index n, double seconds) {
  const row_major a = row_major::Random(m, k), b = row_major::Random(n, k);
  row_major c(m, n);
  std::size_t reps = 0;
  const auto t0 = clock_type::now();
  double elapsed = 0.0;
  while (elapsed < seconds) {
    for (int i = 0; i < 8; ++i) c.noalias() = a * b.transpose();
    reps += 8;
    elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  }
  benchmark::DoNotOptimize(c.data());
  return 2.0 * static_cast<double>(m * k * n) * static_cast<double>(reps) / elapsed / 1e9;
}

template <class Mode>
double samples_per_second(std::size_t threads, std::size_t batch, std::size_t steps) {
  asgd::trainer<asgd::problems::network, Mode, asgd::update::momentum> t{
      mlp(), {.threads = threads, .steps = steps, .batch = batch, .lr = 0.01f, .evaluate = false}};
  return t.run().samples_per_second;
}

void bm_mlp(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const std::size_t steps = 48000 / batch;  // 48 000 samples per measurement
  const double flops = mlp().flops_per_sample();
  std::vector<double> of_gemm, of_square, hog_scaling, leashed_scaling, seq_gflops, gemm_gflops, square_gflops;
  std::vector<double> hog1, hog2, lsh1, lsh2, seq, hog1_of_seq, hog2_of_seq;
  for (auto _ : state) {
    const double gemm = gemm_rate(static_cast<Eigen::Index>(batch), 784, 128, 0.1);
    const double square = gemm_rate(512, 512, 512, 0.1);
    const double s = samples_per_second<asgd::consistency::sequential>(1, batch, steps);
    const double h1 = samples_per_second<asgd::consistency::hogwild>(1, batch, steps);
    const double h2 = samples_per_second<asgd::consistency::hogwild>(2, batch, steps);
    const double l1 = samples_per_second<asgd::consistency::leashed>(1, batch, steps);
    const double l2 = samples_per_second<asgd::consistency::leashed>(2, batch, steps);
    gemm_gflops.push_back(gemm);
    square_gflops.push_back(square);
    seq_gflops.push_back(s * flops / 1e9);
    of_gemm.push_back(s * flops / 1e9 / gemm);
    of_square.push_back(s * flops / 1e9 / square);
    hog_scaling.push_back(h2 / h1);
    hog1_of_seq.push_back(h1 / s);
    hog2_of_seq.push_back(h2 / s);
    leashed_scaling.push_back(l2 / l1);
    seq.push_back(s);
    hog1.push_back(h1);
    hog2.push_back(h2);
    lsh1.push_back(l1);
    lsh2.push_back(l2);
  }
  auto& c = state.counters;
  c["gemm GFLOP/s"] = asgd_bench::median(gemm_gflops);
  c["square GFLOP/s"] = asgd_bench::median(square_gflops);
  c["seq GFLOP/s"] = asgd_bench::median(seq_gflops);
  c["seq samples/s"] = asgd_bench::median(seq);
  c["step / gemm"] = asgd_bench::median(of_gemm);
  c["step / square"] = asgd_bench::median(of_square);
  c["hogwild 1T samples/s"] = asgd_bench::median(hog1);
  c["hogwild 2T samples/s"] = asgd_bench::median(hog2);
  c["leashed 1T samples/s"] = asgd_bench::median(lsh1);
  c["leashed 2T samples/s"] = asgd_bench::median(lsh2);
  c["hogwild 2T/1T"] = asgd_bench::median(hog_scaling);
  c["hogwild 1T / seq"] = asgd_bench::median(hog1_of_seq);
  c["hogwild 1T / seq min"] = *std::min_element(hog1_of_seq.begin(), hog1_of_seq.end());
  c["hogwild 1T / seq max"] = *std::max_element(hog1_of_seq.begin(), hog1_of_seq.end());
  c["hogwild 2T / seq"] = asgd_bench::median(hog2_of_seq);
  c["hogwild 2T / seq min"] = *std::min_element(hog2_of_seq.begin(), hog2_of_seq.end());
  c["hogwild 2T / seq max"] = *std::max_element(hog2_of_seq.begin(), hog2_of_seq.end());
  c["leashed 2T/1T"] = asgd_bench::median(leashed_scaling);
  c["hogwild 2T/1T min"] = *std::min_element(hog_scaling.begin(), hog_scaling.end());
  c["leashed 2T/1T min"] = *std::min_element(leashed_scaling.begin(), leashed_scaling.end());
  c["step / gemm min"] = *std::min_element(of_gemm.begin(), of_gemm.end());
}

BENCHMARK(bm_mlp)
    ->Arg(16)
    ->Arg(64)
    ->Iterations(asgd_bench::iterations(7))
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

// What recording a run's interleaving (trainer::record) costs: samples/s of 2 workers with and
// without a recording, interleaved, at batch 16 (goal: a recorded run at >= 0.95 of a plain one).
template <class Mode>
void bm_mlp_recording(benchmark::State& state) {
  const std::size_t batch = 16, steps = 48000 / batch;
  auto run = [&](bool record) {
    asgd::trainer<asgd::problems::network, Mode, asgd::update::momentum> t{
        mlp(), {.threads = 2, .steps = steps, .batch = batch, .lr = 0.01f, .evaluate = false}};
    asgd::sim::recording rec;
    if (record) t.record(&rec);
    return t.run().samples_per_second;
  };
  std::vector<double> plain, recorded, ratio;
  for (auto _ : state) {
    const double a = run(false);
    const double b = run(true);
    plain.push_back(a);
    recorded.push_back(b);
    ratio.push_back(b / a);
  }
  state.counters["plain samples/s"] = asgd_bench::median(plain);
  state.counters["recorded samples/s"] = asgd_bench::median(recorded);
  state.counters["recorded / plain"] = asgd_bench::median(ratio);
  state.counters["recorded / plain min"] = *std::min_element(ratio.begin(), ratio.end());
}
BENCHMARK(bm_mlp_recording<asgd::consistency::locked>)
    ->Iterations(asgd_bench::iterations(7))
    ->Unit(benchmark::kSecond)
    ->UseRealTime();
BENCHMARK(bm_mlp_recording<asgd::consistency::leashed>)
    ->Iterations(asgd_bench::iterations(7))
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

const bool summary = asgd_bench::add_summary([](const asgd_bench::recorder& r) {
  std::printf("\nMLP 784-128-10 on Fashion-MNIST, medians over 7 interleaved iterations (min in brackets)\n");
  std::printf("%6s %11s %11s %10s %13s %12s %14s %14s %19s %19s\n", "batch", "gemm GF/s", "square GF/s",
              "step GF/s", "step/gemm", "step/square", "hogwild 2T/1T", "leashed 2T/1T", "hogwild 1T/seq",
              "hogwild 2T/seq");
  for (int b : {16, 64}) {
    const std::string name = "bm_mlp/" + std::to_string(b) + "/iterations:7/real_time";
    const auto it = r.results.find(name);
    if (it == r.results.end()) continue;
    auto g = [&](const char* k) { return it->second.count(k) ? it->second.at(k) : 0.0; };
    std::printf("%6d %11.1f %11.1f %10.1f %6.3f [%.3f] %12.3f %7.2f [%.2f] %7.2f [%.2f] %5.3f [%.3f-%.3f] "
                "%5.3f [%.3f-%.3f]\n",
                b, g("gemm GFLOP/s"), g("square GFLOP/s"), g("seq GFLOP/s"), g("step / gemm"), g("step / gemm min"),
                g("step / square"), g("hogwild 2T/1T"), g("hogwild 2T/1T min"), g("leashed 2T/1T"),
                g("leashed 2T/1T min"), g("hogwild 1T / seq"), g("hogwild 1T / seq min"), g("hogwild 1T / seq max"),
                g("hogwild 2T / seq"), g("hogwild 2T / seq min"), g("hogwild 2T / seq max"));
  }
});

}  // namespace
