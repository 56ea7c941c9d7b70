// The consistency stores' cost per update, against the machine's copy bandwidth.
//
// What one iteration measures (per thread): the store protocol of one worker step without the
// gradient computation: read the model (hogwild, atomic_add, locked and bounded_staleness copy
// it into the worker's buffer; leashed pins a version; sequential and synchronous hand out the
// model) and apply one update from a gradient already in memory. "update_only" rows skip the
// read (HOGWILD!'s write path alone).
//   dense:  the update covers all d coordinates;
//   sparse: 1% of them (at least one), random and unique, read through a model_reader.
// Bytes counted per update: 12 per updated coordinate (read x, read g, write x), the floor of
// any update; a mode that moves more (copies, CAS loops) shows it as a lower ratio.
// Copy bandwidth: STREAM's copy a[i] = b[i] over d floats split among the threads, counted as
// STREAM counts it (8 B per element), measured right before the modes at the same d and
// thread count, so the ratio update GB/s / copy GB/s compares numbers taken minutes apart at
// most (timings on this VM drift 1.5-3x between runs, docs/performance.md "The machine").
//
//   bench_consistency                                  # full matrix, about 3 minutes here
//   bench_consistency --benchmark_filter='/10000000/'  # only d = 1e7
#include "bench_support.hpp"

#include <asgd/asgd.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace {

constexpr std::int64_t sizes[] = {1000, 100000, 10000000};
constexpr int thread_counts[] = {1, 2, 4};

// ---- copy bandwidth -----------------------------------------------------------------------
struct copy_fixture {
  static inline std::vector<float> a, b;
  static void setup(const benchmark::State& s) {
    a.assign(static_cast<std::size_t>(s.range(0)), 1.0f);
    b.assign(static_cast<std::size_t>(s.range(0)), 2.0f);
  }
  static void teardown(const benchmark::State&) {
    a = {};
    b = {};
  }
};

void bm_copy(benchmark::State& state) {
  const auto d = static_cast<std::size_t>(state.range(0));
  const auto t = static_cast<std::size_t>(state.thread_index());
  const auto n = static_cast<std::size_t>(state.threads());
  const std::size_t lo = t * d / n, hi = (t + 1) * d / n;
  for (auto _ : state) {
    std::memcpy(copy_fixture::a.data() + lo, copy_fixture::b.data() + lo, (hi - lo) * sizeof(float));
    benchmark::ClobberMemory();
  }
  const double bytes = 8.0 * static_cast<double>(hi - lo) * static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
}

// ---- store updates ------------------------------------------------------------------------
template <class Mode>
struct store_fixture {
  static inline std::unique_ptr<typename Mode::store> store;
  static void setup(const benchmark::State& s) {
    const auto d = static_cast<std::size_t>(s.range(0));
    const std::vector<float> zero(d, 0.0f);
    store = std::make_unique<typename Mode::store>(Mode{}, asgd::store_config{d, static_cast<std::size_t>(s.threads())},
                                                   zero);
  }
  static void teardown(const benchmark::State&) { store.reset(); }
};

struct plain_direction {
  float operator()(std::size_t, float g, float) const noexcept { return g; }
};
struct fixed_lr {
  double operator()(std::uint64_t) const noexcept { return 1e-3; }
};

enum class kind { dense, sparse, update_only };

template <class Mode, kind K>
void bm_update(benchmark::State& state) {
  auto& store = *store_fixture<Mode>::store;
  const auto d = static_cast<std::size_t>(state.range(0));
  auto w = store.make_worker(static_cast<std::size_t>(state.thread_index()));
  const std::size_t touched = K == kind::sparse ? std::max<std::size_t>(1, d / 100) : d;
  const std::vector<float> g(touched, 1e-6f);

  // Sparse: a few sets of unique random coordinates per thread, used in turn.
  std::vector<std::vector<std::uint32_t>> index_sets;
  if constexpr (K == kind::sparse) {
    asgd::rng r(7, static_cast<std::uint64_t>(state.thread_index()));
    std::vector<std::uint32_t> all(d);
    std::iota(all.begin(), all.end(), 0u);
    for (int s = 0; s < 8; ++s) {
      for (std::size_t k = 0; k < touched; ++k) std::swap(all[k], all[k + r.below(d - k)]);
      index_sets.emplace_back(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(touched));
    }
  }

  std::size_t round = 0;
  if constexpr (K == kind::update_only) {
    auto h = store.read(w);
    for (auto _ : state) store.apply(w, h, {0, d}, g, plain_direction{}, fixed_lr{});
  } else {
    for (auto _ : state) {
      if constexpr (K == kind::dense) {
        auto h = store.read(w);
        store.apply(w, h, {0, d}, g, plain_direction{}, fixed_lr{});
      } else {
        auto h = store.read_sparse(w);
        store.apply_sparse(w, h, index_sets[round++ & 7], g, plain_direction{}, fixed_lr{});
      }
    }
  }
  if constexpr (!Mode::lockstep) store.finish(w);
  const auto iterations = static_cast<double>(state.iterations());
  state.counters["updates/s"] = benchmark::Counter(iterations, benchmark::Counter::kIsRate);
  state.counters["GB/s"] =
      benchmark::Counter(12.0 * static_cast<double>(touched) * iterations / 1e9, benchmark::Counter::kIsRate);
}

// ---- the headline pair: HOGWILD!'s dense update against a copy, interleaved ----------------
// Each iteration times, back to back on the thread's slice (d / threads floats): a copy, the
// hogwild read (which copies only what the worker's last update did not write: the other
// threads' slices) and update, the plain vectorised SGD kernel x -= lr * g on other arrays
// (the bound of any update), and the same kernel writing each new value to a private copy as
// well (the bound of an update that keeps the worker's copy, as hogwild's does). On one thread,
// also a solo worker's read and update (one worker beside a reader: racy stores in place, no
// private copy), on a store of its own. Per-iteration
// ratios are immune to the slow drift of this VM; the counters give their median, minimum and
// maximum. d = 101,770 is the MLP's model (in cache), d = 1e7 a model in DRAM.
struct paired_fixture {
  static inline std::vector<float> a, b, x, g, copy;
  static inline std::unique_ptr<asgd::consistency::hogwild::store> store, solo;
  static void setup(const benchmark::State& s) {
    const auto d = static_cast<std::size_t>(s.range(0));
    copy_fixture::setup(s);
    a.swap(copy_fixture::a);
    b.swap(copy_fixture::b);
    x.assign(d, 0.0f);
    g.assign(d, 1e-6f);
    copy.assign(d, 0.0f);
    // A store made for at least two workers: one worker alone at a store takes the plain path
    // (lone) or, beside a reader, the solo one; this pair measures the racy path of several
    // workers, with the second one idle when the benchmark runs one thread.
    const auto workers = std::max<std::size_t>(2, static_cast<std::size_t>(s.threads()));
    store = std::make_unique<asgd::consistency::hogwild::store>(
        asgd::consistency::hogwild{}, asgd::store_config{d, workers, 0, 1}, std::vector<float>(d, 0.0f));
    solo = std::make_unique<asgd::consistency::hogwild::store>(
        asgd::consistency::hogwild{}, asgd::store_config{d, 1, 0, 1}, std::vector<float>(d, 0.0f));
  }
  static void teardown(const benchmark::State&) {
    a = {};
    b = {};
    x = {};
    g = {};
    copy = {};
    store.reset();
    solo.reset();
  }
};

void bm_paired(benchmark::State& state) {
  using clock = std::chrono::steady_clock;
  const auto d = static_cast<std::size_t>(state.range(0));
  const auto t = static_cast<std::size_t>(state.thread_index());
  const auto n = static_cast<std::size_t>(state.threads());
  const std::size_t lo = t * d / n, hi = (t + 1) * d / n;
  auto& store = *paired_fixture::store;
  auto w = store.make_worker(t);
  const bool with_solo = n == 1;
  auto solo_w = paired_fixture::solo->make_worker(0);
  const std::vector<float> g(hi - lo, 1e-6f);
  std::vector<double> ratios, kernel_ratios, step_ratios, copying_ratios, solo_ratios;
  double copy_s = 0, update_s = 0, kernel_s = 0, read_s = 0, copying_s = 0, solo_s = 0;
  float* kx = paired_fixture::x.data();
  float* kc = paired_fixture::copy.data();
  const float* kg = paired_fixture::g.data();
  for (auto _ : state) {
    const auto t0 = clock::now();
    std::memcpy(paired_fixture::a.data() + lo, paired_fixture::b.data() + lo, (hi - lo) * sizeof(float));
    benchmark::ClobberMemory();
    const auto tr = clock::now();
    // The step's read: after this worker's own update only what it did not write is copied.
    auto h = store.read(w);
    benchmark::ClobberMemory();
    const auto t1 = clock::now();
    store.apply(w, h, {lo, hi}, g, plain_direction{}, fixed_lr{});
    benchmark::ClobberMemory();
    const auto t2 = clock::now();
    for (std::size_t i = lo; i < hi; ++i) kx[i] -= 1e-3f * kg[i];
    benchmark::ClobberMemory();
    const auto t3 = clock::now();
    for (std::size_t i = lo; i < hi; ++i) kc[i] = kx[i] -= 1e-3f * kg[i];
    benchmark::ClobberMemory();
    const auto t4 = clock::now();
    if (with_solo) {
      auto sh = paired_fixture::solo->read(solo_w);
      paired_fixture::solo->apply(solo_w, sh, {lo, hi}, g, plain_direction{}, fixed_lr{});
      benchmark::ClobberMemory();
      const double so = std::chrono::duration<double>(clock::now() - t4).count();
      solo_s += so;
      solo_ratios.push_back(std::chrono::duration<double>(t3 - t2).count() / so);
    }
    const double c = std::chrono::duration<double>(tr - t0).count(), u = std::chrono::duration<double>(t2 - t1).count(),
                 k = std::chrono::duration<double>(t3 - t2).count(), rd = std::chrono::duration<double>(t1 - tr).count(),
                 kc_s = std::chrono::duration<double>(t4 - t3).count();
    copying_s += kc_s;
    copying_ratios.push_back(kc_s / u);
    copy_s += c;
    update_s += u;
    kernel_s += k;
    read_s += rd;
    ratios.push_back((12.0 / u) / (8.0 / c));
    kernel_ratios.push_back(k / u);
    step_ratios.push_back(k / (u + rd));
  }
  std::sort(ratios.begin(), ratios.end());
  std::sort(kernel_ratios.begin(), kernel_ratios.end());
  std::sort(step_ratios.begin(), step_ratios.end());
  std::sort(copying_ratios.begin(), copying_ratios.end());
  std::sort(solo_ratios.begin(), solo_ratios.end());
  const double bytes = static_cast<double>(hi - lo) * static_cast<double>(state.iterations());
  using counter = benchmark::Counter;
  state.counters["copy GB/s"] = counter(8.0 * bytes / 1e9 / copy_s * static_cast<double>(n), counter::kAvgThreads);
  state.counters["update GB/s"] = counter(12.0 * bytes / 1e9 / update_s * static_cast<double>(n), counter::kAvgThreads);
  state.counters["ratio median"] = counter(ratios[ratios.size() / 2], counter::kAvgThreads);
  state.counters["ratio min"] = counter(ratios.front(), counter::kAvgThreads);
  state.counters["ratio max"] = counter(ratios.back(), counter::kAvgThreads);
  state.counters["kernel GB/s"] = counter(12.0 * bytes / 1e9 / kernel_s * static_cast<double>(n), counter::kAvgThreads);
  state.counters["of kernel median"] = counter(kernel_ratios[kernel_ratios.size() / 2], counter::kAvgThreads);
  state.counters["of kernel min"] = counter(kernel_ratios.front(), counter::kAvgThreads);
  state.counters["of kernel max"] = counter(kernel_ratios.back(), counter::kAvgThreads);
  state.counters["kernel+copy GB/s"] =
      counter(12.0 * bytes / 1e9 / copying_s * static_cast<double>(n), counter::kAvgThreads);
  state.counters["of kernel+copy median"] = counter(copying_ratios[copying_ratios.size() / 2], counter::kAvgThreads);
  state.counters["kernel+copy of kernel"] = counter(kernel_s / copying_s, counter::kAvgThreads);
  state.counters["step of kernel median"] = counter(step_ratios[step_ratios.size() / 2], counter::kAvgThreads);
  state.counters["step of kernel min"] = counter(step_ratios.front(), counter::kAvgThreads);
  state.counters["step of kernel max"] = counter(step_ratios.back(), counter::kAvgThreads);
  state.counters["read us"] = counter(1e6 * read_s / static_cast<double>(state.iterations()), counter::kAvgThreads);
  state.counters["pairs"] = counter(static_cast<double>(ratios.size()));
  if (with_solo) {
    state.counters["solo GB/s"] = counter(12.0 * bytes / 1e9 / solo_s, counter::kAvgThreads);
    state.counters["solo of kernel median"] = counter(solo_ratios[solo_ratios.size() / 2], counter::kAvgThreads);
    state.counters["solo of kernel min"] = counter(solo_ratios.front(), counter::kAvgThreads);
    state.counters["solo of kernel max"] = counter(solo_ratios.back(), counter::kAvgThreads);
  }
}

template <class Mode, kind K>
void register_update(const char* mode, const char* k, std::int64_t d, int threads) {
  benchmark::RegisterBenchmark((std::string("update/") + mode + "/" + k).c_str(), bm_update<Mode, K>)
      ->Arg(d)
      ->Threads(threads)
      ->UseRealTime()
      ->Setup(store_fixture<Mode>::setup)
      ->Teardown(store_fixture<Mode>::teardown);
}

template <class Mode>
void register_mode(const char* mode, std::int64_t d, int threads) {
  if (Mode::max_workers < static_cast<std::size_t>(threads)) return;
  register_update<Mode, kind::dense>(mode, "dense", d, threads);
  register_update<Mode, kind::sparse>(mode, "sparse", d, threads);
}

const bool registered = [] {
  namespace c = asgd::consistency;
  for (std::int64_t d : {101770, 10000000}) {
    for (int t : {1, 2}) {
      benchmark::RegisterBenchmark("paired/hogwild_update_vs_copy", bm_paired)
          ->Arg(d)
          ->Threads(t)
          ->UseRealTime()
          ->MinTime(2.0)
          ->Setup(paired_fixture::setup)
          ->Teardown(paired_fixture::teardown);
    }
  }
  for (std::int64_t d : sizes) {
    for (int t : thread_counts) {
      benchmark::RegisterBenchmark("copy", bm_copy)
          ->Arg(d)
          ->Threads(t)
          ->UseRealTime()
          ->Setup(copy_fixture::setup)
          ->Teardown(copy_fixture::teardown);
      register_update<c::hogwild, kind::update_only>("hogwild", "update_only", d, t);
      register_update<c::atomic_add, kind::update_only>("atomic_add", "update_only", d, t);
      register_mode<c::sequential>("sequential", d, t);
      register_mode<c::synchronous>("synchronous", d, t);
      register_mode<c::locked>("locked", d, t);
      register_mode<c::hogwild>("hogwild", d, t);
      register_mode<c::atomic_add>("atomic_add", d, t);
      register_mode<c::leashed>("leashed", d, t);
      register_mode<c::bounded_staleness<4>>("bounded_staleness", d, t);
    }
  }
  return true;
}();

// ---- the summary ----------------------------------------------------------------------------
const bool summary = asgd_bench::add_summary([](const asgd_bench::recorder& r) {
  auto get = [&](const std::string& name, const char* counter) -> double {
    const auto it = r.results.find(name);
    if (it == r.results.end()) return 0.0;
    const auto c = it->second.find(counter);
    return c == it->second.end() ? 0.0 : c->second;
  };
  const char* modes[] = {"sequential", "synchronous", "locked", "hogwild", "atomic_add", "leashed", "bounded_staleness"};
  for (const char* d : {"101770", "10000000"}) {
  for (int t : {1, 2}) {
    const std::string name = std::string("paired/hogwild_update_vs_copy/") + d +
                             "/min_time:2.000/real_time/threads:" + std::to_string(t);
    if (r.results.count(name) == 0) continue;
    std::printf("\nheadline, d = %s, %d thread(s), %g interleaved iterations:\n", d, t, get(name, "pairs"));
    std::printf("  hogwild update %.2f GB/s (12 B/element), copy %.2f GB/s (8 B/element), plain SGD kernel %.2f GB/s\n",
                get(name, "update GB/s"), get(name, "copy GB/s"), get(name, "kernel GB/s"));
    std::printf("  update / copy:   median %.3f (min %.3f, max %.3f)\n", get(name, "ratio median"),
                get(name, "ratio min"), get(name, "ratio max"));
    std::printf("  update / kernel: median %.3f (min %.3f, max %.3f)\n", get(name, "of kernel median"),
                get(name, "of kernel min"), get(name, "of kernel max"));
    std::printf("  update / (kernel writing a private copy too): median %.3f; that kernel / kernel %.3f\n",
                get(name, "of kernel+copy median"), get(name, "kernel+copy of kernel"));
    std::printf("  read + update / kernel: median %.3f (min %.3f, max %.3f); read %.1f us\n",
                get(name, "step of kernel median"), get(name, "step of kernel min"), get(name, "step of kernel max"),
                get(name, "read us"));
    if (get(name, "solo GB/s") > 0) {
      std::printf("  solo (one worker beside a reader) read + update %.2f GB/s; / kernel: median %.3f (min %.3f, max %.3f)\n",
                  get(name, "solo GB/s"), get(name, "solo of kernel median"), get(name, "solo of kernel min"),
                  get(name, "solo of kernel max"));
    }
  }
  }
  std::printf("\nratio = update GB/s (12 B per updated coordinate) / copy GB/s (STREAM, 8 B per element), same d and threads\n");
  std::printf("%-12s %9s %8s %10s | %-18s %14s %9s %7s\n", "kind", "d", "threads", "copy GB/s", "mode", "updates/s",
              "GB/s", "ratio");
  for (const char* k : {"update_only", "dense", "sparse"}) {
    for (std::int64_t d : sizes) {
      for (int t : thread_counts) {
        const std::string suffix = "/" + std::to_string(d) + "/real_time/threads:" + std::to_string(t);
        const double copy = get("copy" + suffix, "GB/s");
        for (const char* m : modes) {
          const std::string name = std::string("update/") + m + "/" + k + suffix;
          if (r.results.count(name) == 0) continue;
          const double gbs = get(name, "GB/s");
          std::printf("%-12s %9lld %8d %10.2f | %-18s %14.4g %9.3f %7.3f\n", k, static_cast<long long>(d), t, copy, m,
                      get(name, "updates/s"), gbs, copy > 0 ? gbs / copy : 0.0);
        }
      }
    }
  }
  std::printf("\noverheads (updates/s ratios, same d and threads): leashed / locked and atomic_add / hogwild\n");
  std::printf("%-7s %9s %8s %16s %19s\n", "kind", "d", "threads", "leashed/locked", "atomic_add/hogwild");
  for (const char* k : {"dense", "sparse"}) {
    for (std::int64_t d : sizes) {
      for (int t : thread_counts) {
        const std::string suffix = std::string("/") + k + "/" + std::to_string(d) + "/real_time/threads:" + std::to_string(t);
        auto ups = [&](const char* m) { return get(std::string("update/") + m + suffix, "updates/s"); };
        const double ll = ups("locked") > 0 ? ups("leashed") / ups("locked") : 0.0;
        const double ah = ups("hogwild") > 0 ? ups("atomic_add") / ups("hogwild") : 0.0;
        if (ll == 0.0 && ah == 0.0) continue;
        std::printf("%-7s %9lld %8d %16.3f %19.3f\n", k, static_cast<long long>(d), t, ll, ah);
      }
    }
  }
});

}  // namespace
