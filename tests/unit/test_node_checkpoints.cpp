// Node checkpoints: every node writes its own file at the same steps, a cut no exchange
// crosses; all nodes killed and resumed finish the run (bit for bit for blocking sequential
// nodes); files from different steps, or a node's file read by another node, are refused.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace node_checkpoints {

namespace c = asgd::consistency;
namespace t = asgd::topology;
namespace fs = std::filesystem;
using asgd::problems::logistic_regression;

const auto& problem() {
  static const auto d = asgd::problems::make_logistic_regression(/*rows=*/4000, /*cols=*/20, /*seed=*/11);
  return d;
}

// A checkpoint path and the node files beside it, removed afterwards.
struct node_files {
  fs::path path;
  std::size_t nodes;
  node_files(const std::string& name, std::size_t n)
      : path(fs::temp_directory_path() / ("asgd_nodeckpt_" + std::to_string(::getpid()) + "_" + name)), nodes(n) {}
  [[nodiscard]] fs::path of(std::size_t k) const { return path.string() + ".node" + std::to_string(k); }
  ~node_files() {
    std::error_code ec;
    for (std::size_t k = 0; k < nodes; ++k) fs::remove(of(k), ec);
  }
};

struct outcome {
  std::vector<asgd::report> reports;
  std::vector<std::vector<float>> models;
};

// `nodes` nodes of Mode, Topo and Quant; `prepare(trainer&, k)` sets checkpoints, resumes or a
// crash.
template <class Mode, class Topo, class Quant = asgd::quantize::identity, class Prepare>
outcome run_nodes(std::size_t nodes, const asgd::settings& s, Prepare prepare) {
  outcome out;
  out.models.resize(nodes);
  out.reports = asgd::run_in_process(nodes, [&](std::size_t k, asgd::transport::in_process ep) {
    asgd::trainer<logistic_regression, Mode, Topo, Quant> tr{problem().problem, s, ep};
    prepare(tr, k);
    asgd::report r = tr.run();
    out.models[k].assign(tr.parameters().begin(), tr.parameters().end());
    return r;
  });
  return out;
}

// Nodes that checkpoint into `files` every `every` steps until node 0 loses power at the end of
// epoch 2; the others fail with it (their peer left). With `all`, every node loses it: a gossip
// group would go on without node 0.
template <class Mode, class Topo, class Quant = asgd::quantize::identity>
void crash_after_checkpoints(std::size_t nodes, const asgd::settings& s, const node_files& files, std::uint64_t every,
                             bool all = false) {
  const auto crashed = [&] {
    run_nodes<Mode, Topo, Quant>(nodes, s, [&](auto& tr, std::size_t k) {
      tr.checkpoint_to(files.path, every);
      if (k != 0 && !all) return;
      tr.on_epoch([](const asgd::epoch_progress& e) {
        if (e.epoch == 2) throw std::runtime_error("power cut");
      });
    });
  };
  CHECK_THROWS_WITH(crashed(), "power cut");
}

template <class Mode, class Topo, class Quant = asgd::quantize::identity>
outcome resume_nodes(std::size_t nodes, const asgd::settings& s, const node_files& files) {
  return run_nodes<Mode, Topo, Quant>(nodes, s, [&](auto& tr, std::size_t) { tr.resume_from(files.path); });
}

// Blocking sequential nodes on a ring (with Quant), crashed after epoch 2 and resumed from
// checkpoints every 70 steps (not a multiple of the rounds' 5), end as the uninterrupted run.
template <class Quant>
void check_resumed_bit_identical(const std::string& name) {
  node_files files(name, 3);
  asgd::settings s{.threads = 1, .epochs = 3, .batch = 8, .lr = 0.05f, .seed = 7};
  s.averaging = {.every = 5, .blocking = true};
  const auto whole = run_nodes<c::sequential, t::ring, Quant>(3, s, [](auto&, std::size_t) {});

  crash_after_checkpoints<c::sequential, t::ring, Quant>(3, s, files, 70);
  for (std::size_t k = 0; k < 3; ++k) REQUIRE(fs::exists(files.of(k)));
  CHECK_FALSE(fs::exists(files.path));  // nodes write only their own files

  const auto resumed = resume_nodes<c::sequential, t::ring, Quant>(3, s, files);
  for (std::size_t k = 0; k < 3; ++k) {
    CAPTURE(k);
    CHECK(resumed.reports[k].resumed_at_step > 0);
    CHECK(resumed.reports[k].resumed_at_step % 70 == 0);
    CHECK(resumed.models[k] == whole.models[k]);
    CHECK(resumed.reports[k].steps == whole.reports[k].steps);
    REQUIRE(resumed.reports[k].node);
    CHECK(resumed.reports[k].node->rounds == whole.reports[k].node->rounds);
    CHECK(resumed.reports[k].node->bytes_sent == whole.reports[k].node->bytes_sent);
  }
}

TEST_CASE("blocking sequential nodes resumed from their checkpoints end bit-identical" * doctest::timeout(120)) {
  check_resumed_bit_identical<asgd::quantize::identity>("blocking");
}

TEST_CASE("nodes sending quantized differences resume bit-identical: the checkpoint holds the links' references" *
          doctest::timeout(120)) {
  check_resumed_bit_identical<asgd::quantize::differences<asgd::quantize::qsgd<8>>>("differences");
}

TEST_CASE("non-blocking and gossiping nodes killed and resumed finish the run" * doctest::timeout(180)) {
  asgd::settings s{.threads = 2, .epochs = 3, .batch = 16, .lr = 0.05f, .seed = 3};
  s.averaging = {.every = 8};
  const auto check = [&](const outcome& whole, const outcome& resumed) {
    for (std::size_t k = 0; k < whole.reports.size(); ++k) {
      CAPTURE(k);
      CHECK(resumed.reports[k].resumed_at_step > 0);
      CHECK(resumed.reports[k].steps == whole.reports[k].steps);
      REQUIRE(resumed.reports[k].node);
      // The rounds or events taken before the checkpoint count too.
      CHECK(resumed.reports[k].node->rounds + resumed.reports[k].node->skipped_interactions ==
            whole.reports[k].node->rounds + whole.reports[k].node->skipped_interactions);
      CHECK(resumed.reports[k].final_evaluation->accuracy >= whole.reports[k].final_evaluation->accuracy - 0.01);
    }
  };
  SUBCASE("LAP-SGD: hogwild nodes, all-reduce in the background") {
    node_files files("lap", 2);
    const auto whole = run_nodes<c::hogwild, t::all_reduce>(2, s, [](auto&, std::size_t) {});
    crash_after_checkpoints<c::hogwild, t::all_reduce>(2, s, files, 100);
    check(whole, resume_nodes<c::hogwild, t::all_reduce>(2, s, files));
  }
  SUBCASE("LAP-SGD with rounds on workers: the pause takes the rounds due") {
    node_files files("lap_workers", 2);
    asgd::settings on_workers = s;
    on_workers.averaging.rounds_on_workers = true;
    const auto whole = run_nodes<c::hogwild, t::all_reduce>(2, on_workers, [](auto&, std::size_t) {});
    crash_after_checkpoints<c::hogwild, t::all_reduce>(2, on_workers, files, 100);
    const auto resumed = resume_nodes<c::hogwild, t::all_reduce>(2, on_workers, files);
    check(whole, resumed);
    for (const asgd::report& r : resumed.reports) CHECK(r.node->averager_scheduling == "none: rounds on workers");
  }
  SUBCASE("SwarmSGD: event-driven gossip on a complete graph") {
    node_files files("swarm", 4);
    const auto whole = run_nodes<c::hogwild, t::swarm>(4, s, [](auto&, std::size_t) {});
    crash_after_checkpoints<c::hogwild, t::swarm>(4, s, files, 100, /*all=*/true);
    check(whole, resume_nodes<c::hogwild, t::swarm>(4, s, files));
  }
}

TEST_CASE("node checkpoints from different steps, or another node's, are refused" * doctest::timeout(120)) {
  node_files files("mixed", 2), early("mixed_early", 2);
  asgd::settings s{.threads = 1, .epochs = 3, .batch = 8, .lr = 0.05f, .seed = 7};
  s.averaging = {.every = 5, .blocking = true};
  crash_after_checkpoints<c::sequential, t::all_reduce>(2, s, files, 100);
  asgd::settings shorter = s;
  shorter.epochs = 1;  // its last checkpoint is earlier than the crashed run's
  run_nodes<c::sequential, t::all_reduce>(2, shorter, [&](auto& tr, std::size_t) { tr.checkpoint_to(early.path, 100); });
  const auto resume = [&] { resume_nodes<c::sequential, t::all_reduce>(2, s, files); };
  fs::copy_file(early.of(1), files.of(1), fs::copy_options::overwrite_existing);
  CHECK_THROWS_WITH_AS(resume(), doctest::Contains("the nodes disagree on the step of the checkpoint it resumes from"),
                       std::invalid_argument);
  fs::copy_file(files.of(0), files.of(1), fs::copy_options::overwrite_existing);  // node 0's file in node 1's place
  CHECK_THROWS_WITH_AS(resume(), doctest::Contains("node id"), asgd::checkpoint_error);
}

}  // namespace node_checkpoints
