// Every consistency mode on the same problem, same settings, side by side: time, throughput,
// staleness and the accuracy reached. A quick way to see what each mode costs on a machine.
//
//   asgd-compare [threads] [epochs]
#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using problem_t = asgd::problems::softmax_regression;

struct row {
  std::string mode;
  asgd::report r;
};

template <class Mode>
row run(const problem_t& p, const asgd::settings& s) {
  asgd::settings local = s;
  if (Mode::max_workers == 1) local.threads = 1;
  asgd::trainer<problem_t, Mode, asgd::update::momentum> t{p, local, asgd::update::momentum{.mu = 0.9f}};
  return {std::string(Mode::name), t.run()};
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t threads = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 2;
  const std::size_t epochs = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 3;
  // 20 classes of 200-dimensional Gaussian data: 4020 parameters, 40 000 samples.
  const auto inst = asgd::problems::make_softmax_regression(40000, 200, 20, 0.2, 2024);
  const asgd::settings s{.threads = threads, .epochs = epochs, .batch = 16, .lr = 0.01f,
                         .lr_schedule = asgd::schedule::cosine()};
  std::printf("softmax regression, %zu samples x %zu features, %zu classes; %zu threads, %zu epochs, batch %zu\n",
              inst.problem.num_samples(), inst.problem.features(), inst.problem.classes(), threads, epochs, s.batch);
  std::printf("accuracy of the generating (Bayes) classifier: %.4f\n\n", inst.reference_accuracy);

  const row rows[] = {
      run<asgd::consistency::sequential>(inst.problem, s), run<asgd::consistency::synchronous>(inst.problem, s),
      run<asgd::consistency::locked>(inst.problem, s),     run<asgd::consistency::hogwild>(inst.problem, s),
      run<asgd::consistency::atomic_add>(inst.problem, s), run<asgd::consistency::leashed>(inst.problem, s),
      run<asgd::consistency::bounded_staleness<4>>(inst.problem, s),
  };
  std::printf("%-18s %8s %12s %10s %9s %9s %10s %8s\n", "mode", "threads", "samples/s", "time [s]", "loss",
              "accuracy", "staleness", "versions");
  bool ok = true;
  for (const auto& [mode, r] : rows) {
    std::printf("%-18s %8zu %12.0f %10.3f %9.4f %9.4f %10.2f %8zu\n", mode.c_str(), r.used.threads,
                r.samples_per_second, r.wall_seconds, r.final_evaluation->loss, r.final_evaluation->accuracy,
                r.staleness.mean(), r.peak_live_versions);
    ok = ok && r.final_evaluation->accuracy > inst.reference_accuracy - 0.05;
  }
  return ok ? 0 : 1;
}
