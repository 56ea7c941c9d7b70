// Epoch pauses, progress, checkpoints and resuming.

#include "../support.hpp"

#include <asgd/detail/crc32.hpp>

#include <doctest/doctest.h>
#include <zlib.h>  // the reference: checkpoints written with zlib's crc32 must still load

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct temp_file {
  fs::path path;
  explicit temp_file(const std::string& name)
      : path(fs::temp_directory_path() / ("asgd_ckpt_" + std::to_string(::getpid()) + "_" + name)) {}
  ~temp_file() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

using lr_problem = asgd::problems::logistic_regression;
const auto& instance() {
  static const auto inst = asgd::problems::make_logistic_regression(2000, 16, 31);
  return inst;
}

template <class Mode = asgd::consistency::sequential, class Rule = asgd::update::nesterov,
          class Selector = asgd::select::random_block>
using trainer_t = asgd::trainer<lr_problem, Mode, Rule, Selector>;

asgd::settings base_settings(std::size_t epochs, std::size_t threads = 1) {
  return {.threads = threads, .epochs = epochs, .batch = 8, .lr = 0.05f, .seed = 4,
          .lr_schedule = asgd::schedule::cosine(4.0)};
}

std::vector<float> params(const auto& t) { return {t.parameters().begin(), t.parameters().end()}; }

void flip_byte(const fs::path& p, std::size_t at) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x40);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

// A problem whose gradient becomes infinite after 40 calls while its loss stays finite, so only
// the trainer's parameter check can catch it.
struct exploding {
  static constexpr std::string_view name = "exploding";
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::size_t dimension() const { return 4; }
  std::size_t num_samples() const { return 64; }
  float gradient(std::span<const float>, asgd::batch_view, std::span<float> g) {
    const float v = ++*calls > 40 ? std::numeric_limits<float>::infinity() : 0.1f;
    std::fill(g.begin(), g.end(), v);
    return 1.0f;
  }
};

}  // namespace

TEST_SUITE("checkpoint") {
  TEST_CASE("on_epoch reports every epoch with its loss, evaluation, throughput and ETA") {
    trainer_t<> t{instance().problem, base_settings(4)};
    std::vector<asgd::epoch_progress> seen;
    t.on_epoch([&](const asgd::epoch_progress& e) { seen.push_back(e); });
    const auto r = t.run();
    REQUIRE(seen.size() == 4);  // the last one after the workers stopped
    for (std::size_t e = 0; e < seen.size(); ++e) {
      CHECK(seen[e].epoch == e + 1);
      CHECK(seen[e].epochs == 4);
      CHECK(seen[e].steps == (e + 1) * 250);
      CHECK(seen[e].total_steps == 1000);
      CHECK(seen[e].train_loss == doctest::Approx(r.epochs[e].train_loss));
      REQUIRE(seen[e].eval.has_value());
      CHECK(seen[e].eval->accuracy > 0.5);
      CHECK(seen[e].samples_per_second > 0);
      // The ETA extrapolates the time per step so far over the steps left (no clock ratio here:
      // a preempted epoch makes ETAs of one run jump, not this relation fail).
      const double left = static_cast<double>(seen[e].total_steps - seen[e].steps);
      CHECK(seen[e].eta_seconds ==
            doctest::Approx(seen[e].seconds * left / static_cast<double>(seen[e].steps)).epsilon(1e-9));
    }
    CHECK(seen[3].eta_seconds == 0.0);
    REQUIRE(r.epochs.size() == 4);
    CHECK(r.epochs[0].eval.has_value());  // the callback turns per-epoch evaluation on
    CHECK(r.epochs[3].eval.has_value());  // the last one is the final evaluation
  }

  TEST_CASE("evaluations_per_epoch records an evaluation curve, ending with the final model") {
    auto s = base_settings(2);
    s.evaluations_per_epoch = 4;
    trainer_t<asgd::consistency::hogwild> t{instance().problem, s};
    const auto r = t.run();
    REQUIRE(r.evaluations.size() == 9);  // every 62 of the 500 steps, and the end
    for (std::size_t i = 1; i < r.evaluations.size(); ++i) {
      CHECK(r.evaluations[i].step > r.evaluations[i - 1].step);
      CHECK(r.evaluations[i].seconds >= r.evaluations[i - 1].seconds);
    }
    CHECK(r.evaluations.front().step == 62);
    CHECK(r.evaluations.back().step == 500);
    CHECK(r.evaluations.back().eval.accuracy == r.final_evaluation->accuracy);
    CHECK(r.to_json().find("\"evaluations\": [{\"step\": 62") != std::string::npos);
  }

  TEST_CASE("epochs_per_evaluation evaluates every n-th epoch's end and the last, and reports every epoch") {
    auto s = base_settings(5);
    s.evaluate_epochs = true;
    s.epochs_per_evaluation = 2;
    trainer_t<> t{instance().problem, s};
    std::vector<bool> evaluated;
    t.on_epoch([&](const asgd::epoch_progress& e) { evaluated.push_back(e.eval.has_value()); });
    const auto r = t.run();
    CHECK(evaluated == std::vector<bool>{false, true, false, true, true});
    REQUIRE(r.epochs.size() == 5);
    for (std::size_t e = 0; e < 5; ++e) CHECK(r.epochs[e].eval.has_value() == evaluated[e]);
    REQUIRE(r.evaluations.size() == 3);
    CHECK(r.evaluations[0].step == 2 * r.steps / 5);
    CHECK(r.evaluations[2].step == r.steps);

    trainer_t<> every{instance().problem, base_settings(5)};
    every.run();
    CHECK(params(t) == params(every));  // evaluating less often changes no step
  }

  TEST_CASE("epoch pauses do not change a sequential run") {
    trainer_t<> a{instance().problem, base_settings(3)};
    a.run();
    auto s = base_settings(3);
    s.evaluate_epochs = true;
    trainer_t<> b{instance().problem, s};
    const auto r = b.run();
    CHECK(params(a) == params(b));
    for (const auto& e : r.epochs) CHECK(e.eval.has_value());
  }

  TEST_CASE_TEMPLATE("every mode pauses at epoch ends without deadlock", Mode, asgd::consistency::synchronous,
                     asgd::consistency::locked, asgd::consistency::hogwild, asgd::consistency::atomic_add,
                     asgd::consistency::leashed, asgd::consistency::bounded_staleness<0>,
                     asgd::consistency::bounded_staleness<2>, asgd::consistency::replicas) {
    auto s = base_settings(3, 4);
    s.evaluate_epochs = true;
    trainer_t<Mode> t{instance().problem, s};
    std::size_t calls = 0;
    t.on_epoch([&](const asgd::epoch_progress&) { ++calls; });
    const auto r = t.run();
    CHECK(calls == 3);
    CHECK(r.updates_applied + r.updates_dropped == r.steps);
    CHECK(r.final_evaluation->accuracy > instance().reference_accuracy - 0.05);
  }

  TEST_CASE("a resumed sequential run ends bit-identical to an uninterrupted one") {
    temp_file file("resume.ckpt");
    trainer_t<> whole{instance().problem, base_settings(4)};
    const auto full = whole.run();

    trainer_t<> first{instance().problem, base_settings(4)};
    first.checkpoint_to(file.path, 300);  // mid-epoch, so samplers and schedules are mid-way
    // The run dies at the end of epoch 3 (step 750); the last checkpoint is from step 600.
    first.on_epoch([](const asgd::epoch_progress& e) {
      if (e.epoch == 3) throw std::runtime_error("power cut");
    });
    CHECK_THROWS_WITH(first.run(), "power cut");
    REQUIRE(fs::exists(file.path));

    trainer_t<> second{instance().problem, base_settings(4)};
    second.resume_from(file.path);
    const auto rest = second.run();
    CHECK(rest.resumed_at_step == 600);
    CHECK(params(second) == params(whole));
    CHECK(rest.steps == full.steps);
    CHECK(rest.model_version == full.model_version);
    REQUIRE(rest.epochs.size() == full.epochs.size());
    for (std::size_t e = 0; e < rest.epochs.size(); ++e) CHECK(rest.epochs[e].train_loss == full.epochs[e].train_loss);
    CHECK(rest.staleness.total() == full.staleness.total());
  }

  TEST_CASE("multi-threaded runs checkpoint and resume (consistent, not reproducible)") {
    temp_file file("mt.ckpt");
    trainer_t<asgd::consistency::leashed, asgd::update::momentum, asgd::select::round_robin> a{
        instance().problem, base_settings(2, 3)};
    a.checkpoint_to(file.path, 250);
    a.run();
    trainer_t<asgd::consistency::leashed, asgd::update::momentum, asgd::select::round_robin> b{
        instance().problem, base_settings(4, 3)};
    b.resume_from(file.path);
    const auto r = b.run();
    CHECK(r.resumed_at_step == 500);
    CHECK(r.steps == 1000);
    CHECK(r.final_evaluation->accuracy > instance().reference_accuracy - 0.03);
  }

  TEST_CASE("the checkpoint checksum is the standard CRC-32, zlib's, at every length and split") {
    const std::string check = "123456789";  // the CRC catalogue's check value
    CHECK(asgd::detail::crc32({reinterpret_cast<const std::uint8_t*>(check.data()), check.size()}) == 0xCBF43926u);
    CHECK(asgd::detail::crc32({}) == 0u);
    std::vector<std::uint8_t> bytes(4099);
    asgd::rng g(5, 1);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(g.uniform() * 256.0);
    for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9}, std::size_t{64},
                          std::size_t{4099}}) {
      const std::span<const std::uint8_t> s(bytes.data(), n);
      const auto zlib = static_cast<std::uint32_t>(::crc32(0L, s.data(), static_cast<uInt>(n)));
      CHECK(asgd::detail::crc32(s) == zlib);
      for (std::size_t cut = 0; cut <= n; cut += 3) {  // continuing from a prefix's CRC
        CHECK(asgd::detail::crc32(s.subspan(cut), asgd::detail::crc32(s.first(cut))) == zlib);
      }
    }
  }

  TEST_CASE("a corrupt, truncated or foreign checkpoint is refused, naming the file") {
    temp_file file("bad.ckpt");
    trainer_t<> a{instance().problem, base_settings(1)};
    a.checkpoint_to(file.path, 100);
    a.run();
    const auto size = fs::file_size(file.path);
    auto refuses = [&](const std::string& text) {
      trainer_t<> b{instance().problem, base_settings(1)};
      b.resume_from(file.path);
      CHECK_THROWS_WITH_AS(b.run(), doctest::Contains((file.path.string() + ": " + text).c_str()),
                           asgd::checkpoint_error);
    };
    flip_byte(file.path, size / 2);
    refuses("checksum mismatch");
    flip_byte(file.path, size / 2);
    fs::resize_file(file.path, size - 10);
    refuses("truncated or padded");
    flip_byte(file.path, 0);
    refuses("not an asgd checkpoint");

    trainer_t<> missing{instance().problem, base_settings(1)};
    missing.resume_from(file.path.string() + ".none");
    CHECK_THROWS_WITH_AS(missing.run(), doctest::Contains("no such file"), asgd::checkpoint_error);
  }

  TEST_CASE("a checkpoint from another run is refused, naming what differs") {
    temp_file file("other.ckpt");
    trainer_t<> a{instance().problem, base_settings(1)};
    a.checkpoint_to(file.path, 100);
    a.run();
    auto refuses = [&](auto&& t, const std::string& text) {
      t.resume_from(file.path);
      CHECK_THROWS_WITH_AS(t.run(), doctest::Contains(text.c_str()), asgd::checkpoint_error);
    };
    auto other_batch = base_settings(1);
    other_batch.batch = 16;
    refuses(trainer_t<>{instance().problem, other_batch}, "written with batch 8, this run has 16");
    auto other_seed = base_settings(1);
    other_seed.seed = 5;
    refuses(trainer_t<>{instance().problem, other_seed}, "written with seed 4, this run has 5");
    refuses(trainer_t<asgd::consistency::sequential, asgd::update::momentum>{instance().problem, base_settings(1)},
            "written with update rule nesterov{.mu = 0.9, .weight_decay = 0}, this run has momentum");
    auto shorter = base_settings(1);
    shorter.steps = 50;
    refuses(trainer_t<>{instance().problem, shorter}, "past this run's 50 steps");
  }

  TEST_CASE("a NaN parameter stops the run at a pause and the last good checkpoint stays intact") {
    temp_file file("nan.ckpt");
    asgd::trainer<exploding, asgd::consistency::sequential> t{exploding{}, {.epochs = 10, .batch = 4}};
    t.checkpoint_to(file.path, 16);
    std::string what;
    try {
      t.run();
    } catch (const asgd::training_error& e) {
      what = e.what();
    }
    INFO(what);
    CHECK(what.find("asgd: parameter 0 is ") != std::string::npos);
    CHECK(what.find(" after step 48 (epoch 3) under consistency::sequential") != std::string::npos);
    // The checkpoint of step 32 is the last one written, and it still opens.
    const auto bytes = asgd::read_checkpoint_file(file.path);
    CHECK_NOTHROW((void)asgd::open_checkpoint(bytes, file.path.string()));
    asgd::trainer<exploding, asgd::consistency::sequential> again{exploding{}, {.epochs = 10, .batch = 4}};
    again.resume_from(file.path);
    again.config().steps = 32;
    CHECK(again.run().resumed_at_step == 32);
  }
}
