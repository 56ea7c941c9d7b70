#pragma once
// Part of <asgd/sim/simulation.hpp> (which includes it at its end): what a trainer's run does when
// simulate(), record() or replay() asked for it. Not in <asgd/trainer.hpp>, so that a trainer
// that is never simulated does not compile the simulator.

#include <asgd/sim/recording.hpp>
#include <asgd/sim/simulation.hpp>
#include <asgd/trainer.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::detail {

// A simulation this run started (and this thread reading its clock while it lasts), and the
// event logs of a recorded or replayed run.
class simulated_run_extras final : public run_extras {
 public:
  std::optional<sim::simulation> simulation;
  std::optional<sim::simulation::caller_scope> clock;  // after simulation: ends before it
  std::vector<event_log>* logs_ = nullptr;
  std::vector<event_log> replayed;  // a replay's copies of the recording's logs

  std::vector<event_log>* logs() noexcept override { return logs_; }
  bool simulates() const noexcept override { return simulation.has_value(); }
  void run(std::size_t tasks, const std::function<void(std::size_t)>& body, std::size_t node) override {
    simulation->run(tasks, [&](sim::task& t) { body(t.id()); }, node);
  }
  std::uint64_t switches() const noexcept override { return simulation ? simulation->switches() : 0; }
  void finish(std::size_t workers) const override {
    for (const auto& log : replayed) {
      if (log.left() == 0) continue;
      const std::string who = log.worker() < workers ? "worker " + std::to_string(log.worker()) : "the averager";
      throw sim::replay_error("asgd: trainer::replay: " + who + " ended with " + std::to_string(log.left()) +
                              " of its " + std::to_string(log.entries().size()) +
                              " recorded events not replayed: the run replayed did less than the run recorded");
    }
  }
};

template <class Trainer>
struct trainer_extras {
  // Null when the run is neither simulated here, nor recorded, nor replayed.
  static std::unique_ptr<run_extras> make(const Trainer& t, const run_plan& p, bool nested) {
    const bool simulated = (t.simulate_ || t.replay_ != nullptr) && !nested;
    if (!simulated && t.record_ == nullptr && t.replay_ == nullptr) return nullptr;
    if (t.record_ != nullptr || t.replay_ != nullptr) check_replayable(t, p);
    auto e = std::make_unique<simulated_run_extras>();
    if (simulated) {
      e->simulation.emplace(t.simulate_ ? *t.simulate_ : sim::cost_model::machine(), t.settings_.seed);
      e->clock.emplace(*e->simulation);
    }
    if (t.record_ != nullptr) {
      // About 6 events a step (a claim, landings, two turns or a pin and a publication), a
      // quarter more for a worker that takes more than its share; at most 1 GiB a worker up front.
      const std::uint64_t share = p.total_steps / p.workers + 1;
      const std::uint64_t events = std::min<std::uint64_t>(share * 15 / 2, (std::uint64_t{1} << 30) / 24);
      recording_access::start(*t.record_, recorded_run(t, p), Trainer::logs_of(p), static_cast<std::size_t>(events));
      e->logs_ = &recording_access::logs(*t.record_);
    } else if (t.replay_ != nullptr) {
      e->replayed = recording_access::replay(*t.replay_);
      e->logs_ = &e->replayed;
    }
    return e;
  }

  // The run a recording is of, as a replay checks it.
  static std::string recorded_run(const Trainer& t, const run_plan& p) {
    const run_names n = t.names();
    const settings& s = t.settings_;
    char lr[32];
    std::snprintf(lr, sizeof lr, "%.9g", static_cast<double>(s.lr));
    return "problem " + n.problem + ", " + n.consistency + ", " + n.update_rule + ", " + n.selector + ", " +
           std::to_string(p.workers) + " threads, " + std::to_string(p.total_steps) + " steps of batch " +
           std::to_string(s.batch) + ", lr " + lr + ", seed " + std::to_string(s.seed) + ", node " +
           std::to_string(p.node) + " of " + std::to_string(p.nodes) +
           (p.averaging ? ", topology " + describe(t.topology_) +
                              (s.averaging.blocking ? ", blocking" : ", in the background") + ", every " +
                              std::to_string(s.averaging.every)
                        : std::string());
  }

  // Throws std::invalid_argument when this run cannot be recorded or replayed as asked.
  static void check_replayable(const Trainer& t, const run_plan& p) {
    const std::string what = t.record_ != nullptr ? "trainer::record" : "trainer::replay";
#if defined(ASGD_NO_SIMULATION)
    throw std::invalid_argument("asgd: " + what + ": this build defines ASGD_NO_SIMULATION, which compiles the "
                                "recording and the simulation out");
#endif
    bool replayable = false;
    if constexpr (consistency_mode_can_be_replayed<typename Trainer::consistency_type>) {
      replayable = t.consistency_.replayable();
    }
    if (!replayable) {
      throw std::invalid_argument("asgd: " + what + ": consistency mode " + describe(t.consistency_) +
                                  " does not replay bit for bit (its workers race on the model's floats, or it does "
                                  "not declare `replayable()`: docs/policies/consistency.md)");
    }
    // A node's averaging logs too, in a log after the workers' (averager_log): its turns at the
    // store's lock and at the gossip copies' locks, the versions it pins and publishes, and the
    // node's progress when it takes its next rounds. Rounds' messages and collectives combine the
    // nodes' models in node order, whenever they arrive, and log nothing.
    if (t.replay_ == nullptr) return;
    const std::string run = recorded_run(t, p);
    if (t.replay_->run() != run || t.replay_->workers() != Trainer::logs_of(p)) {
      throw std::invalid_argument("asgd: trainer::replay: the recording is of another run: recorded " +
                                  t.replay_->run() + "; this run is " + run);
    }
  }
};

}  // namespace asgd::inline v0::detail
