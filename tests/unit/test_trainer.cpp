// The trainer: policy values, settings validation, reproducibility, reports, errors, and
// partial back-propagation through block selectors.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using ls = asgd::problems::least_squares;

ls small_problem() { return asgd::problems::make_least_squares(400, 8, 0.1, 1).problem; }

// One worker of `mode` trains what sequential SGD trains, bit for bit: dense least squares with
// momentum through pauses, and sparse logistic regression.
template <class Mode>
void check_one_worker_is_sequential(const Mode& mode) {
  const asgd::settings s{.threads = 1, .epochs = 3, .batch = 10, .lr = 0.05f, .evaluations_per_epoch = 3};
  asgd::trainer<ls, asgd::consistency::sequential, asgd::update::momentum> seq{small_problem(), s};
  asgd::trainer<ls, Mode, asgd::update::momentum> one{small_problem(), s, mode};
  seq.run();
  one.run();
  CHECK(std::vector<float>(one.parameters().begin(), one.parameters().end()) ==
        std::vector<float>(seq.parameters().begin(), seq.parameters().end()));
  auto sparse = asgd::problems::make_sparse_logistic_regression(500, 100, 5, 3).problem;
  const asgd::settings ss{.threads = 1, .epochs = 2, .batch = 2, .lr = 0.05f};
  asgd::trainer<asgd::problems::sparse_logistic_regression, asgd::consistency::sequential> sseq{sparse, ss};
  asgd::trainer<asgd::problems::sparse_logistic_regression, Mode> sone{sparse, ss, mode};
  sseq.run();
  sone.run();
  CHECK(std::vector<float>(sone.parameters().begin(), sone.parameters().end()) ==
        std::vector<float>(sseq.parameters().begin(), sseq.parameters().end()));
}

// A problem that records which blocks its gradients were asked for, to see partial
// back-propagation happen, and can be told to fail.
struct recording_problem {
  static constexpr std::string_view name = "recording";
  std::size_t dim = 12;
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  std::shared_ptr<std::multiset<std::pair<std::size_t, std::size_t>>> blocks =
      std::make_shared<std::multiset<std::pair<std::size_t, std::size_t>>>();
  std::uint64_t fail_at = std::uint64_t(-1);  // call count at which the loss turns NaN
  std::shared_ptr<std::atomic<std::uint64_t>> calls = std::make_shared<std::atomic<std::uint64_t>>(0);
  bool throw_instead = false;

  [[nodiscard]] std::size_t dimension() const { return dim; }
  [[nodiscard]] std::size_t num_samples() const { return 100; }
  [[nodiscard]] asgd::block_layout layout() const { return {{"a", {0, 4}}, {"b", {4, 8}}, {"c", {8, 12}}}; }
  float gradient(std::span<const float> x, asgd::batch_view b, std::span<float> g) {
    return gradient(x, b, g, {0, dim});
  }
  float gradient(std::span<const float>, asgd::batch_view, std::span<float> g, asgd::param_range r) {
    {
      std::lock_guard lock(*mutex);
      blocks->insert({r.begin, r.end});
    }
    std::fill(g.begin(), g.end(), 0.1f);
    if (calls->fetch_add(1) + 1 == fail_at) {
      if (throw_instead) throw std::runtime_error("recording_problem failed on purpose");
      return std::nanf("");
    }
    return 1.0f;
  }
};

}  // namespace

TEST_SUITE("trainer") {
  TEST_CASE("policy values given to the constructor, in any order, reach the trainer") {
    asgd::trainer<ls, asgd::consistency::leashed, asgd::update::momentum> t{
        small_problem(), {}, asgd::consistency::leashed{.persistence = 3}, asgd::update::momentum{.mu = 0.5f}};
    CHECK(t.update_rule().mu == 0.5f);
    CHECK(t.consistency().persistence == 3);
  }

  TEST_CASE("bad settings throw std::invalid_argument naming the field and the value") {
    auto fails = [](asgd::settings s, const std::string& text) {
      asgd::trainer<ls> t{small_problem(), s};
      CHECK_THROWS_WITH_AS(t.run(), doctest::Contains(text.c_str()), std::invalid_argument);
    };
    fails({.threads = 0}, "settings.threads = 0");
    fails({.threads = 9}, "settings.threads = 9: exceeds the problem's 8 parameters");
    fails({.epochs = 0}, "settings.epochs = 0");
    fails({.batch = 0}, "settings.batch = 0");
    fails({.batch = 401}, "settings.batch = 401: exceeds the problem's 400 samples");
    fails({.lr = -0.5f}, "settings.lr = -0.5");
    fails({.lr = std::nanf("")}, "settings.lr = nan");
    fails({.lr_schedule = asgd::schedule::multistep({2.0, 1.0})}, "milestones must increase");
    fails({.staleness = {.type = asgd::staleness_scaling::kind::fleet, .beta = -1}}, "staleness_scaling.beta = -1");
    fails({.staleness = {.type = asgd::staleness_scaling::kind::inverse}, .staleness_every = 8},
          "settings.staleness_every = 8: must be 0 or 1 when staleness scaling is on");
    fails({.compute_slowdown = 0.5}, "settings.compute_slowdown = 0.5: must be a number in [1, 1000]");
    fails({.epochs_per_evaluation = 0}, "settings.epochs_per_evaluation = 0: must be in [1, 1e6]");

    asgd::trainer<ls, asgd::consistency::sequential> seq{small_problem(), {.threads = 2}};
    CHECK_THROWS_WITH_AS(seq.run(), doctest::Contains("consistency::sequential{} runs at most 1 worker thread"),
                         std::invalid_argument);
    asgd::trainer<ls, asgd::update::momentum> mom{small_problem(), {}, asgd::update::momentum{.mu = 2.0f}};
    CHECK_THROWS_WITH_AS(mom.run(), doctest::Contains("update::momentum.mu = 2"), std::invalid_argument);
  }

  TEST_CASE("a straggling run (settings.compute_slowdown) computes the same model, only later") {
    auto inst = asgd::problems::make_logistic_regression(400, 8, 4);
    auto run = [&](double slowdown) {
      asgd::trainer<asgd::problems::logistic_regression, asgd::consistency::sequential> t{
          inst.problem, {.epochs = 1, .batch = 8, .lr = 0.05f, .seed = 3, .compute_slowdown = slowdown}};
      t.run();
      return std::vector<float>(t.parameters().begin(), t.parameters().end());
    };
    CHECK(run(3.0) == run(1.0));
  }

  TEST_CASE("a straggler sleeps for the CPU time it computed, and pays back what its sleeps overslept") {
    using std::chrono::nanoseconds;
    nanoseconds owed{0};
    // 100 us of CPU at F = 3: 200 us, nothing owed.
    CHECK(asgd::detail::straggler_sleep(nanoseconds(100'000), 3.0, owed) == nanoseconds(200'000));
    CHECK(owed == nanoseconds(0));
    // A sleep that overslept by 90 us is taken off the next one ...
    owed = nanoseconds(90'000);
    CHECK(asgd::detail::straggler_sleep(nanoseconds(100'000), 2.0, owed) == nanoseconds(10'000));
    CHECK(owed == nanoseconds(0));
    // ... or the next ones: a step that owes more than its share sleeps not at all.
    owed = nanoseconds(250'000);
    CHECK(asgd::detail::straggler_sleep(nanoseconds(100'000), 2.0, owed) == nanoseconds(0));
    CHECK(owed == nanoseconds(150'000));
    // A sleep that woke early (negative owed) is made up.
    owed = nanoseconds(-5'000);
    CHECK(asgd::detail::straggler_sleep(nanoseconds(100'000), 2.0, owed) == nanoseconds(105'000));
    CHECK(owed == nanoseconds(0));

    // The clock it reads is the thread's CPU time: a thread that sleeps does not advance it by
    // the sleep, so the time a straggler waits for a core (or for anything) is not multiplied.
    const auto cpu0 = asgd::detail::thread_cpu_now();
    const auto wall0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto wall = std::chrono::steady_clock::now() - wall0;
    const auto cpu = asgd::detail::thread_cpu_now() - cpu0;
    CHECK(wall >= std::chrono::milliseconds(20));
    CHECK(cpu < wall / 2);
  }

  TEST_CASE("sequential runs are bit-reproducible given the seed, and differ with another seed") {
    auto inst = asgd::problems::make_logistic_regression(1000, 10, 4);
    auto run = [&](std::uint64_t seed) {
      asgd::trainer<asgd::problems::logistic_regression, asgd::consistency::sequential, asgd::update::nesterov,
                    asgd::select::random_block>
          t{inst.problem, {.epochs = 2, .batch = 7, .lr = 0.05f, .seed = seed}};
      const auto r = t.run();
      std::vector<double> curve;
      for (const auto& p : r.loss_curve) curve.push_back(p.loss);
      return std::pair{std::vector<float>(t.parameters().begin(), t.parameters().end()), curve};
    };
    const auto a = run(11), b = run(11), c = run(12);
    CHECK(a.first == b.first);  // bit for bit
    CHECK(a.second == b.second);
    CHECK(a.first != c.first);
  }

  TEST_CASE("the gradient buffer every worker hands its problem is cache-line aligned") {
    // Vectorised problems (the networks' Eigen code) split their sums by the alignment of the
    // buffers they write: with AVX-512 a gradient wherever malloc put it (16-byte aligned) made
    // repeated runs of one seed differ in the last bits, and so in accuracy. With plain vectors
    // of this odd size, some of the 4 workers' buffers were off a 64-byte boundary in some runs
    // (where malloc's per-thread arenas put them).
    struct probe : asgd_test::still_model {
      std::shared_ptr<std::atomic<int>> misaligned = std::make_shared<std::atomic<int>>(0);
      [[nodiscard]] std::size_t dimension() const { return 37; }  // an odd size: malloc's blocks fall off 64
      float gradient(std::span<const float> x, asgd::batch_view b, std::span<float> g) const {
        if (reinterpret_cast<std::uintptr_t>(g.data()) % 64 != 0) misaligned->fetch_add(1);
        return still_model::gradient(x, b, g);
      }
    };
    const probe p;
    asgd::trainer<probe, asgd::consistency::hogwild> t{p, {.threads = 4, .steps = 64, .batch = 4, .evaluate = false}};
    t.run();
    CHECK(p.misaligned->load() == 0);
  }

  TEST_CASE("a cosine schedule without a length spans the whole run") {
    auto run = [](asgd::schedule s) {
      asgd::trainer<ls, asgd::consistency::sequential> t{small_problem(), {.epochs = 4, .batch = 8, .lr_schedule = s}};
      t.run();
      return std::vector<float>(t.parameters().begin(), t.parameters().end());
    };
    CHECK(run(asgd::schedule::cosine()) == run(asgd::schedule::cosine(4.0)));
    CHECK(run(asgd::schedule::cosine()) != run(asgd::schedule::cosine(1.0)));
  }

  TEST_CASE("loss-curve times are training times, placed between the pauses around their steps") {
    // A worker stamps a bin with a raw counter as it leaves it (its next step in another bin
    // begins, or its segment ends), placed in seconds between the clocks read at the ends of the
    // segment: a point whose steps all ran before an evaluation's pause is no later than that
    // evaluation, one with a step after it no earlier.
    asgd::trainer<ls, asgd::consistency::hogwild> t{
        small_problem(), {.threads = 2, .epochs = 3, .batch = 10, .lr = 0.05f, .evaluations_per_epoch = 4}};
    const auto r = t.run();
    REQUIRE(r.evaluations.size() >= 9);
    REQUIRE(r.loss_curve.size() == 3 * 20);
    double previous = 0.0;
    for (const auto& point : r.loss_curve) {
      CHECK(point.seconds >= previous);
      previous = point.seconds;
      CHECK(point.seconds <= r.wall_seconds - r.pause_seconds);
      const std::uint64_t last_step = point.samples / 10;  // steps [.., last_step) are in the point
      for (const auto& e : r.evaluations) {
        INFO("point at " << point.samples << " samples, " << point.seconds << " s; evaluation at step " << e.step
                         << ", " << e.seconds << " s");
        if (last_step <= e.step) {
          CHECK(point.seconds <= e.seconds);
        } else {
          CHECK(point.seconds >= e.seconds);
        }
      }
    }
    for (std::size_t e = 1; e < r.epochs.size(); ++e) CHECK(r.epochs[e - 1].seconds <= r.epochs[e].seconds);
  }

  TEST_CASE("replicas with one worker is sequential SGD, bit for bit, through pauses, dense and sparse") {
    for (const std::size_t h : {std::size_t{1}, std::size_t{3}, std::size_t{8}}) {
      CAPTURE(h);
      check_one_worker_is_sequential(asgd::consistency::replicas{.sync_every = h});
    }
  }

  TEST_CASE_TEMPLATE("one worker of a lock-free mode is sequential SGD, bit for bit, dense and sparse", Mode,
                     asgd::consistency::hogwild, asgd::consistency::atomic_add, asgd::consistency::bounded_staleness<2>) {
    check_one_worker_is_sequential(Mode{});
  }

  TEST_CASE("time stamps are placed linearly between their anchors and never outside them") {
    using asgd::detail::seconds_at;
    const asgd::detail::time_anchor from{1000, 2.0}, to{3000, 4.0};
    CHECK(seconds_at(1000, from, to) == 2.0);
    CHECK(seconds_at(2000, from, to) == 3.0);
    CHECK(seconds_at(2500, from, to) == 3.5);
    CHECK(seconds_at(3000, from, to) == 4.0);
    CHECK(seconds_at(10, from, to) == 2.0);       // a counter behind the anchor: the segment's start
    CHECK(seconds_at(99999, from, to) == 4.0);    // ahead of it: the segment's end
    CHECK(seconds_at(5, {7, 1.0}, {7, 1.0}) == 1.0);  // an empty segment
    // Consecutive stamps of one thread never go backwards.
    const auto a = asgd::detail::time_stamp();
    const auto b = asgd::detail::time_stamp();
    CHECK(b >= a);
  }

  TEST_CASE("the report adds up and serialises to JSON") {
    asgd::trainer<ls, asgd::consistency::locked> t{small_problem(),
                                                   {.threads = 2, .epochs = 3, .batch = 10, .lr = 0.05f}};
    const auto r = t.run();
    CHECK(r.steps == 3 * 40);
    CHECK(r.samples == r.steps * 10);
    CHECK(r.updates_applied == r.steps);
    CHECK(r.model_version == r.steps);
    CHECK(r.staleness.total() == r.steps);
    REQUIRE(r.epochs.size() == 3);
    CHECK(r.epochs[2].train_loss < r.epochs[0].train_loss);
    CHECK(r.epochs[0].seconds <= r.epochs[2].seconds);
    CHECK(r.loss_curve.size() == 3 * 20);
    CHECK(r.loss_curve.back().samples == r.samples);
    REQUIRE(r.final_evaluation.has_value());
    CHECK(r.final_evaluation->loss < r.epochs[0].train_loss);
    CHECK(r.samples_per_second > 0);

    const std::string json = r.to_json();
    for (const char* key : {"\"consistency\": \"locked{}\"", "\"epochs\": [", "\"loss_curve\": [",
                            "\"staleness\": {\"total\": 120", "\"cas_retries\"", "\"peak_live_versions\": 1",
                            "\"final_evaluation\"", "\"samples_per_second\""}) {
      CHECK_MESSAGE(json.find(key) != std::string::npos, key);
    }
    CHECK(std::count(json.begin(), json.end(), '{') == std::count(json.begin(), json.end(), '}'));
  }

  TEST_CASE("staleness is measured on every n-th update of each worker where it costs a shared access") {
    using hog = asgd::consistency::hogwild;
    // One worker: updates 1, 65, 129, ... are measured (ceil(300 / 64) = 5), each with staleness 0.
    asgd::trainer<ls, hog> one{small_problem(), {.steps = 300, .batch = 4}};
    auto r = one.run();
    CHECK(r.used.staleness_every == 64);
    CHECK(r.staleness.total() == 5);
    CHECK(r.staleness.max() == 0);
    CHECK(r.model_version == 300);
    CHECK(r.to_json().find("\"staleness_every\": 64") != std::string::npos);
    // Every update, when asked or when the learning rate depends on it; three workers' counts
    // still add up to the steps.
    asgd::trainer<ls, hog> all{small_problem(), {.threads = 3, .steps = 300, .batch = 4, .staleness_every = 1}};
    r = all.run();
    CHECK(r.staleness.total() == 300);
    CHECK(r.model_version == 300);
    asgd::trainer<ls, hog> scaled{small_problem(), {.threads = 3, .steps = 300, .batch = 4,
                                                    .staleness = {.type = asgd::staleness_scaling::kind::inverse}}};
    r = scaled.run();
    CHECK(r.used.staleness_every == 1);
    CHECK(r.staleness.total() == 300);
    // Modes that measure for free measure every update whatever the setting.
    asgd::trainer<ls, asgd::consistency::locked> locked{small_problem(), {.threads = 2, .steps = 300, .batch = 4}};
    CHECK(locked.run().staleness.total() == 300);
  }

  TEST_CASE("steps overrides epochs; lockstep modes round up to whole rounds") {
    asgd::trainer<ls, asgd::consistency::hogwild> h{small_problem(), {.threads = 2, .steps = 33, .batch = 4}};
    CHECK(h.run().steps == 33);
    asgd::trainer<ls, asgd::consistency::synchronous> s{small_problem(), {.threads = 4, .steps = 33, .batch = 4}};
    const auto r = s.run();
    CHECK(r.steps == 36);
    CHECK(r.model_version == 9);  // one update per round of 4 gradients
  }

  TEST_CASE("a block selector on a problem with block gradients computes only the chosen blocks") {
    recording_problem p;
    asgd::trainer<recording_problem, asgd::consistency::hogwild, asgd::select::round_robin> t{
        p, {.threads = 1, .steps = 30, .batch = 1}};
    t.run();
    CHECK(p.blocks->count({0, 4}) == 10);
    CHECK(p.blocks->count({4, 8}) == 10);
    CHECK(p.blocks->count({8, 12}) == 10);
    CHECK(p.blocks->count({0, 12}) == 0);  // never a full gradient
    // Only the chosen block moved: 10 steps of 0.1 * lr each.
    for (float v : t.parameters()) CHECK(v == doctest::Approx(-10 * 0.1 * 0.01));
  }

  TEST_CASE("partitioned: each worker computes and updates only its own part") {
    recording_problem p;
    // bounded_staleness<0> makes the three workers advance together, so all three take steps.
    asgd::trainer<recording_problem, asgd::consistency::bounded_staleness<0>, asgd::select::partitioned> t{
        p, {.threads = 3, .steps = 60, .batch = 1}};
    t.run();
    std::set<std::pair<std::size_t, std::size_t>> distinct(p.blocks->begin(), p.blocks->end());
    CHECK(distinct == std::set<std::pair<std::size_t, std::size_t>>{{0, 4}, {4, 8}, {8, 12}});
    CHECK(p.blocks->size() == 60);
    // Each part moved by its own worker's steps only (0.1 * lr each). Workers draw step numbers
    // from one counter and K = 0 keeps their clocks within one of each other, so a worker takes
    // 19, 20 or 21 of the 60 steps (not always 20: a worker can draw the last number while a
    // slower one waits), and the three add up to 60.
    const auto x = t.parameters();
    long total = 0;
    for (std::size_t part = 0; part < 3; ++part) {
      const long steps = std::lround(-x[4 * part] / (0.1 * 0.01));
      CHECK((steps >= 19 && steps <= 21));
      for (std::size_t i = 4 * part; i < 4 * part + 4; ++i) CHECK(x[i] == doctest::Approx(-static_cast<double>(steps) * 0.1 * 0.01));
      total += steps;
    }
    CHECK(total == 60);
  }

  TEST_CASE_TEMPLATE("a NaN loss stops the run with an error naming the step, worker and mode", Mode,
                     asgd::consistency::sequential, asgd::consistency::hogwild, asgd::consistency::synchronous,
                     asgd::consistency::leashed, asgd::consistency::bounded_staleness<1>,
                     asgd::consistency::replicas) {
    recording_problem p;
    p.fail_at = 50;
    const std::size_t threads = Mode::max_workers == 1 ? 1 : 3;
    asgd::trainer<recording_problem, Mode> t{p, {.threads = threads, .steps = 10000, .batch = 1}};
    std::string what;
    try {
      t.run();
    } catch (const asgd::training_error& e) {
      what = e.what();
    }
    CHECK(what.find("the loss is nan at step") != std::string::npos);
    CHECK(what.find("on worker") != std::string::npos);
    CHECK(what.find(std::string("consistency::") + std::string(Mode::name)) != std::string::npos);
    CHECK(p.calls->load() < 10000);  // the others stopped too
  }

  TEST_CASE_TEMPLATE("an exception in one worker's gradient ends the run without a hang", Mode,
                     asgd::consistency::synchronous, asgd::consistency::locked, asgd::consistency::bounded_staleness<0>) {
    recording_problem p;
    p.fail_at = 20;
    p.throw_instead = true;
    asgd::trainer<recording_problem, Mode> t{p, {.threads = 4, .steps = 100000, .batch = 1}};
    CHECK_THROWS_WITH_AS(t.run(), "recording_problem failed on purpose", std::runtime_error);
  }

  TEST_CASE("run lengths that would wrap a step count or fill memory with bins are refused before the run") {
    // steps near 2^64 wrapped the bin counts to zero (and the first step wrote through null).
    for (const std::size_t steps : {~std::size_t{0}, ~std::size_t{0} - 5, (std::size_t{1} << 53) + 1}) {
      asgd::trainer<recording_problem> t{recording_problem{}, {.steps = steps, .batch = 1}};
      CHECK_THROWS_WITH_AS(t.run(), doctest::Contains("settings.steps"), std::invalid_argument);
    }
    // 2^53 steps of a 100-sample problem are 9e13 epochs: more than a run records.
    asgd::trainer<recording_problem> epochs{recording_problem{}, {.steps = std::size_t{1} << 53, .batch = 1}};
    CHECK_THROWS_WITH_AS(epochs.run(), doctest::Contains("a run records at most 2^20 epochs"), std::invalid_argument);
    // One loss-curve point per step for 2^21 steps.
    struct large : recording_problem {
      [[nodiscard]] std::size_t num_samples() const { return 1u << 20; }
    };
    asgd::trainer<large> points{large{}, {.steps = std::size_t{1} << 21, .batch = 1, .log_every = 1}};
    CHECK_THROWS_WITH_AS(points.run(), doctest::Contains("settings.log_every = 1: makes 2097152 loss-curve points"),
                         std::invalid_argument);
    // epochs times steps per epoch past 2^53.
    struct huge : recording_problem {
      [[nodiscard]] std::size_t num_samples() const { return std::size_t{1} << 40; }
    };
    asgd::trainer<huge> product{huge{}, {.epochs = 1000000, .batch = 1}};
    CHECK_THROWS_WITH_AS(product.run(), doctest::Contains("exceeds 2^53 steps"), std::invalid_argument);
  }

  TEST_CASE("the default loss curve has about 20 points an epoch and grows with the steps taken") {
    asgd::trainer<recording_problem> t{recording_problem{}, {.epochs = 3, .batch = 1}};
    const auto r = t.run();
    CHECK(r.loss_curve.size() == 60);  // 100 steps an epoch, a point every 5
    CHECK(r.epochs.size() == 3);
  }

  TEST_CASE("a problem layout that does not tile the model is refused") {
    struct gappy : recording_problem {
      [[nodiscard]] asgd::block_layout layout() const { return {{"a", {0, 4}}, {"b", {5, 12}}}; }
    };
    asgd::trainer<gappy, asgd::select::round_robin> t{gappy{}, {.steps = 1, .batch = 1}};
    CHECK_THROWS_WITH_AS(t.run(), doctest::Contains("block 'b' [5, 12) must be non-empty and start at 4"),
                         std::invalid_argument);
  }
}
