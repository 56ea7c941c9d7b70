// ASGD_SEPARATE_COMPILATION: the whole library (umbrella and reference problems) compiles with
// the non-template functions declared only, links against their one definition in
// asgd_src.cpp, and those functions behave as in header-only use. Both files of this program
// define the macro (tests/CMakeLists.txt); nothing else is linked in.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>
#include <unistd.h>

#if !defined(ASGD_SEPARATE_COMPILATION)
#error "test_separate_compilation must be built with ASGD_SEPARATE_COMPILATION"
#endif

namespace {

namespace fs = std::filesystem;
using logistic = asgd::problems::logistic_regression;

TEST_CASE("separately compiled: checksums, shards, settings checks") {
  const std::string check = "123456789";
  CHECK(asgd::detail::crc32({reinterpret_cast<const std::uint8_t*>(check.data()), check.size()}) == 0xCBF43926u);

  const asgd::sharding halves{.sizes = {3, 1}};
  const auto split = asgd::split_samples(halves, 400, 2, 1, 7);
  CHECK(split.count == 100);
  CHECK(split.first == 300);

  asgd::settings bad{.threads = 0};
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("settings.threads"), std::invalid_argument);
}

TEST_CASE("separately compiled: nodes average in process, a checkpoint is written and resumed") {
  const auto inst = asgd::problems::make_logistic_regression(2000, 10, 3);
  asgd::settings s{.threads = 1, .steps = 200, .batch = 8, .seed = 5};
  s.shards = {.type = asgd::sharding::kind::dirichlet, .alpha = 1.0};
  const auto reports = asgd::run_in_process(2, [&](std::size_t, asgd::transport::in_process ep) {
    return asgd::trainer<logistic, asgd::consistency::hogwild, asgd::topology::all_reduce>{inst.problem, s, ep};
  });
  REQUIRE(reports.size() == 2);
  REQUIRE(reports[0].node);
  CHECK(reports[0].node->shard_samples + reports[1].node->shard_samples == 2000);
  CHECK(reports[0].node->rounds > 0);

  const fs::path file = fs::temp_directory_path() / ("asgd-separate-" + std::to_string(::getpid()) + ".ckpt");
  const asgd::settings one{.threads = 1, .epochs = 3, .batch = 8, .seed = 5};
  using sequential = asgd::trainer<logistic, asgd::consistency::sequential>;
  sequential whole{inst.problem, one};
  whole.run();
  sequential first{inst.problem, one};
  first.checkpoint_to(file, 40);
  first.on_epoch([](const asgd::epoch_progress& e) {
    if (e.epoch == 2) throw std::runtime_error("power cut");
  });
  CHECK_THROWS_WITH(first.run(), "power cut");
  REQUIRE(fs::exists(file));
  sequential second{inst.problem, one};
  second.resume_from(file);
  const auto rest = second.run();
  CHECK(rest.resumed_at_step == 480);  // the last multiple of 40 before epoch 2 ended (step 500)
  CHECK(std::vector<float>(second.parameters().begin(), second.parameters().end()) ==
        std::vector<float>(whole.parameters().begin(), whole.parameters().end()));
  fs::remove(file);
}

}  // namespace
