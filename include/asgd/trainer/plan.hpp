#pragma once
// Part of <asgd/trainer.hpp> (which includes it after the class): how a run is laid out before it
// starts (settings checked, steps, segments, averaging rounds), the finite check and the training
// clock.

#include <asgd/trainer.hpp>

namespace asgd::inline v0 {

template <class Problem, class... Policies>
auto trainer<Problem, Policies...>::make_plan() const -> plan {
  settings_.validate();
  detail::validate_if_possible(update_);
  detail::validate_if_possible(selector_);
  detail::validate_if_possible(consistency_);
  detail::validate_if_possible(topology_);
  detail::validate_if_possible(quantizer_);

  const std::string mode = mode_name();
  detail::run_shape shape{.dimension = static_cast<std::size_t>(problem_.dimension()),
                          .samples = static_cast<std::size_t>(problem_.num_samples()),
                          .mode = mode,
                          .max_workers = consistency_type::max_workers,
                          .lockstep = consistency_type::lockstep,
                          .concurrent_mix = [] {  // an optional clause: a lone node's mode may lack it
                            if constexpr (consistency_mode_can_mix<consistency_type>) {
                              return static_cast<bool>(consistency_type::concurrent_mix);
                            } else {
                              return false;
                            }
                          }(),
                          .reports_epochs = static_cast<bool>(on_epoch_)};
  if constexpr (averages) {
    shape.node = transport_.node_id();
    shape.nodes = transport_.node_count();
    shape.split = &split_samples;
  }
  // A Dirichlet split among nodes draws by class.
  std::vector<std::uint32_t> classes;
  if (shape.nodes > 1 && settings_.shards.type == sharding::kind::dirichlet && shape.samples >= 1) {
    if constexpr (labelled_problem<Problem>) {
      classes.resize(shape.samples);
      for (std::size_t i = 0; i < shape.samples; ++i) classes[i] = static_cast<std::uint32_t>(problem_.class_of(i));
    } else {
      throw std::invalid_argument("asgd: settings.shards = " + detail::describe(settings_.shards) + ", but problem " +
                                  detail::describe(problem_) +
                                  " names no classes (concept asgd::labelled_problem: class_of(i))");
    }
  }
  plan p = detail::plan_run(settings_, shape, classes);
  // A simulated run measures every update's staleness: reading the counters costs no virtual time.
  const detail::simulation_hooks* const sim = detail::simulated();
  if ((simulate_ || replay_ != nullptr || (sim != nullptr && sim->in_task())) && settings_.staleness_every == 0) p.staleness_every = 1;

  if constexpr (labelled_problem<Problem>) {
    std::vector<bool> seen;
    for (std::size_t j = 0; p.nodes > 1 && j < p.shard.count; ++j) {
      const auto c = static_cast<std::size_t>(problem_.class_of(p.shard.at(j)));
      if (c >= seen.size()) seen.resize(c + 1, false);
      p.shard_classes += seen[c] ? 0 : 1;
      seen[c] = true;
    }
  }
  if (p.averaging) plan_averaging(p);
  if (checkpoint_every_ > 0 || !resume_file_.empty()) {
    if constexpr (!checkpointable_policy<update_rule_type>) {
      throw std::invalid_argument("asgd: update rule " + detail::describe(update_) +
                                  " cannot be checkpointed: give it save(const state&, byte_writer&) and "
                                  "load(state&, byte_reader&)");
    }
    if constexpr (!checkpointable_policy<block_selector_type>) {
      throw std::invalid_argument("asgd: block selector " + detail::describe(selector_) +
                                  " cannot be checkpointed: give it save(const state&, byte_writer&) and "
                                  "load(state&, byte_reader&)");
    }
    if (checkpoint_every_ > 0 && checkpoint_file_.empty()) {
      throw std::invalid_argument("asgd: checkpoint_to() needs a file name");
    }
    // A checkpoint that cannot be written fails now, not at its first pause.
    if (checkpoint_every_ > 0) checkpoints_->check_writable(checkpoint_file_, "checkpoints to");
  }

  if constexpr (layered_problem<Problem>) {
    p.layout = problem_.layout();
    detail::check_layout(p.layout, p.dimension);
  } else {
    p.layout = {{"parameters", {0, p.dimension}}};
  }
  return p;
}

// The checks of a node's quantizer, transport and topology against each other, and the steps
// at which its rounds or gossip events happen.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::plan_averaging(plan& p) const {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    const averaging_settings& a = settings_.averaging;
    p.gossip = detail::gossiping(topology_);
    p.first_due_calls = !p.gossip && !a.blocking && a.first_due_starts;
    p.rounds_on_workers = a.rounds_on_workers;
    if (a.rounds_on_workers) {
      // What needs a collective between two steps, which a worker must not wait in.
      detail::require(a.consensus_every == 0, "settings", "averaging.consensus_every", a.consensus_every,
                      "must be 0 with averaging.rounds_on_workers: measuring it is a collective between rounds");
    }
    if (detail::keeps_link_references(quantizer_)) {
      if (p.gossip) {
        throw std::invalid_argument("asgd: quantizer " + detail::describe(quantizer_) +
                                    " keeps a reference per link, which gossip topology " +
                                    detail::describe(topology_) +
                                    " has not: a published copy is read by any node at any time (use "
                                    "quantize::lattice, which decodes against the reader's model)");
      }
      bool offered = per_peer_exchange_transport<transport_type>;
      if constexpr (requires { transport_.exchanges_each(); }) offered = transport_.exchanges_each();
      if (!offered) {
        throw std::invalid_argument("asgd: quantizer " + detail::describe(quantizer_) +
                                    " sends each peer its own message, which transport " +
                                    detail::describe(transport_) +
                                    " cannot (concept asgd::per_peer_exchange_transport)");
      }
    }
    if (p.gossip) {
      bool offered = gossip_transport<transport_type>;
      if constexpr (requires { transport_.gossips(); }) offered = transport_.gossips();  // a one_of's choice
      if (!offered) {
        throw std::invalid_argument("asgd: topology " + detail::describe(topology_) +
                                    " is event-driven gossip, which transport " + detail::describe(transport_) +
                                    " does not offer (concept asgd::gossip_transport)");
      }
      detail::require(a.consensus_every == 0, "settings", "averaging.consensus_every", a.consensus_every,
                      "must be 0 under gossip topology " + detail::describe(topology_) +
                          ": nodes interact at their own times, so there are no common rounds to measure at");
    }
    // Post-local SGD: a round after every step until the switch, then every H steps. Gossip:
    // each node draws its own gaps (SwarmSGD: geometric with mean H), so nodes interact at
    // different steps and take different numbers of events.
    detail::with_chosen(topology_, [&](const auto& topo) {
      constexpr bool gossip = gossip_topology<std::decay_t<decltype(topo)>>;
      if constexpr (gossip) (void)topo.peers(p.node, p.nodes, settings_.seed);  // an impossible graph throws here
      rng g(settings_.seed ^ 0x6055195ull, p.node);
      for (std::uint64_t k = 0;;) {
        std::uint64_t gap = 1;
        if (k >= p.local_from) {
          if constexpr (gossip) {
            gap = std::max<std::uint64_t>(1, topo.local_steps(a.every, g));
          } else {
            gap = a.every;
          }
        }
        k += gap;
        if (k > p.total_steps) break;
        p.triggers.push_back(k);
      }
    });
  }
}

// Throws training_error naming the first NaN or infinite entry of parameters_.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::check_finite(const plan& p, std::uint64_t step) const {
  for (std::size_t i = 0; i < p.dimension; ++i) {
    if (std::isfinite(parameters_[i])) continue;
    throw training_error(detail::not_finite_message(i, parameters_[i], step, p.steps_per_epoch, mode_name()));
  }
}

// The step at which workers next pause: an epoch's end (when epochs are evaluated or
// reported), a checkpoint, or the end of the run. Lockstep modes pause between rounds.
template <class Problem, class... Policies>
std::uint64_t trainer<Problem, Policies...>::next_boundary(const plan& p, std::uint64_t k) const {
  auto round = [&](std::uint64_t b) {
    if constexpr (consistency_type::lockstep) return (b + p.workers - 1) / p.workers * p.workers;
    return b;
  };
  std::uint64_t b = p.total_steps;
  if (p.epoch_pauses) b = std::min(b, round((k / p.steps_per_epoch + 1) * p.steps_per_epoch));
  if (checkpoint_every_ > 0) b = std::min(b, round((k / checkpoint_every_ + 1) * checkpoint_every_));
  if (p.evaluate_every > 0) b = std::min(b, round((k / p.evaluate_every + 1) * p.evaluate_every));
  if (p.averaging && settings_.averaging.blocking) {  // workers wait while the node averages
    const auto next = std::upper_bound(p.triggers.begin(), p.triggers.end(), k);
    if (next != p.triggers.end()) b = std::min(b, round(*next));
  }
  return b;
}

template <class Problem, class... Policies>
double trainer<Problem, Policies...>::training_seconds(const shared_state& sh,
                                                       std::chrono::steady_clock::time_point at) const {
  return sh.time_offset + std::chrono::duration<double>(at - sh.start).count() - sh.paused;
}

}  // namespace asgd::inline v0
