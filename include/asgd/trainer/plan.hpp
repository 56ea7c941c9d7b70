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

  plan p;
  p.dimension = static_cast<std::size_t>(problem_.dimension());
  p.samples = static_cast<std::size_t>(problem_.num_samples());
  p.workers = settings_.threads;
  const std::string mode = "consistency::" + std::string(detail::describe(consistency_));
  if constexpr (averages) {
    p.node = transport_.node_id();
    p.nodes = transport_.node_count();
    p.averaging = p.nodes > 1;
  }
  detail::require(p.dimension >= 1, "problem", "dimension()", p.dimension, "must be at least 1");
  detail::require(p.samples >= 1, "problem", "num_samples()", p.samples, "must be at least 1");

  // Node k trains on its shard of the samples (all of them for a lone node). Every node draws
  // the whole split from the seed; a Dirichlet draw that starves a node is drawn again.
  std::vector<std::uint32_t> classes;
  const sharding& shards = settings_.shards;
  if (p.nodes > 1 && shards.type == sharding::kind::dirichlet) {
    if constexpr (labelled_problem<Problem>) {
      classes.resize(p.samples);
      for (std::size_t i = 0; i < p.samples; ++i) classes[i] = static_cast<std::uint32_t>(problem_.class_of(i));
    } else {
      throw std::invalid_argument("asgd: settings.shards = " + detail::describe(shards) + ", but problem " +
                                  detail::describe(problem_) +
                                  " names no classes (concept asgd::labelled_problem: class_of(i))");
    }
  }
  const std::size_t least =
      shards.type == sharding::kind::dirichlet
          ? std::max<std::size_t>(settings_.batch, settings_.sample_order == sampling::sharded ? p.workers : 1)
          : 1;
  p.shard = split_samples(shards, p.samples, p.nodes, p.node, settings_.seed, classes, least);
  if constexpr (labelled_problem<Problem>) {
    std::vector<bool> seen;
    for (std::size_t j = 0; p.nodes > 1 && j < p.shard.count; ++j) {
      const auto c = static_cast<std::size_t>(problem_.class_of(p.shard.at(j)));
      if (c >= seen.size()) seen.resize(c + 1, false);
      p.shard_classes += seen[c] ? 0 : 1;
      seen[c] = true;
    }
  }
  const std::size_t held = p.shard.count;
  const std::string share = p.nodes > 1 ? "node " + std::to_string(p.node) + "'s " + std::to_string(held) +
                                              " of the problem's " + std::to_string(p.samples) + " samples"
                                        : "the problem's " + std::to_string(p.samples) + " samples";

  detail::require(p.workers <= consistency_type::max_workers, "settings", "threads", p.workers,
                  mode + " runs at most " + std::to_string(consistency_type::max_workers) + " worker thread(s)");
  detail::require(p.workers <= p.dimension, "settings", "threads", p.workers,
                  "exceeds the problem's " + std::to_string(p.dimension) + " parameters");
  detail::require(settings_.batch <= held, "settings", "batch", settings_.batch, "exceeds " + share);
  detail::require(settings_.sample_order != sampling::sharded || p.workers <= held, "settings", "threads",
                  p.workers, "exceeds the samples, so a sharded worker would have none");

  // An epoch is one pass over the data by all nodes together, so every node has the same
  // number of steps (and of averaging rounds) whatever its share.
  p.steps_per_epoch = (p.samples + p.nodes * settings_.batch - 1) / (p.nodes * settings_.batch);
  // Bounded before any product or rounding that could wrap (settings.steps <= 2^53 was checked).
  constexpr std::uint64_t max_steps = settings::max_steps;
  detail::require(settings_.steps > 0 || settings_.epochs <= max_steps / p.steps_per_epoch, "settings", "epochs",
                  settings_.epochs, "times " + std::to_string(p.steps_per_epoch) + " steps per epoch exceeds 2^53 steps");
  p.total_steps = settings_.steps > 0 ? settings_.steps : settings_.epochs * p.steps_per_epoch;
  // Lockstep modes take their steps in rounds of one step per worker.
  if constexpr (consistency_type::lockstep) p.total_steps = (p.total_steps + p.workers - 1) / p.workers * p.workers;
  const auto bins = detail::ceil_div;
  p.epoch_bins = static_cast<std::size_t>(bins(p.total_steps, p.steps_per_epoch));
  detail::require(p.epoch_bins <= settings::max_bins, "settings", settings_.steps > 0 ? "steps" : "epochs",
                  settings_.steps > 0 ? settings_.steps : settings_.epochs,
                  "makes " + std::to_string(p.epoch_bins) + " epochs of " + std::to_string(p.steps_per_epoch) +
                      " steps; a run records at most 2^20 epochs (raise the batch, or take fewer steps)");
  if (settings_.log_every > 0) {
    p.log_every = settings_.log_every;
    detail::require(bins(p.total_steps, p.log_every) <= settings::max_bins, "settings", "log_every", p.log_every,
                    "makes " + std::to_string(bins(p.total_steps, p.log_every)) + " loss-curve points of " +
                        std::to_string(p.total_steps) + " steps; at most 2^20 (raise log_every)");
  } else {  // about 20 points an epoch, and never more than max_bins
    p.log_every = std::max<std::uint64_t>({1, p.steps_per_epoch / 20, bins(p.total_steps, settings::max_bins)});
  }
  p.interval_bins = static_cast<std::size_t>(bins(p.total_steps, p.log_every));
  p.lr_schedule = settings_.lr_schedule;
  if (p.lr_schedule.total_epochs == 0.0) {
    p.lr_schedule.total_epochs = static_cast<double>(p.total_steps) / static_cast<double>(p.steps_per_epoch);
  }
  p.epoch_pauses = settings_.evaluate_epochs || static_cast<bool>(on_epoch_);
  if (settings_.evaluations_per_epoch > 0) {
    p.evaluate_every = std::max<std::uint64_t>(1, p.steps_per_epoch / settings_.evaluations_per_epoch);
  }
  p.staleness_every = settings_.staleness_every > 0                              ? settings_.staleness_every
                      : settings_.staleness.type != staleness_scaling::kind::none ? 1
                                                                                  : 64;
  if (p.averaging) {
    const averaging_settings& a = settings_.averaging;
    if constexpr (averages) {
      if (!a.blocking && !consistency_type::concurrent_mix) {
        throw std::invalid_argument("asgd: settings.averaging.blocking = false, but " + mode +
                                    " cannot mix an average into its model while workers run; set blocking = true");
      }
    }
    // Post-local SGD: a round after every step until the switch, then every H steps. Gossip:
    // each node draws its own gaps (SwarmSGD: geometric with mean H), so nodes interact at
    // different steps and take different numbers of events.
    const auto local_from =
        static_cast<std::uint64_t>(std::llround(a.local_after_epoch * static_cast<double>(p.steps_per_epoch)));
    if (!a.blocking) p.max_lag = a.max_lag;
    p.gossip = detail::gossiping(topology_);
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
    detail::with_chosen(topology_, [&](const auto& topo) {
      constexpr bool gossip = gossip_topology<std::decay_t<decltype(topo)>>;
      if constexpr (gossip) (void)topo.peers(p.node, p.nodes, settings_.seed);  // an impossible graph throws here
      rng g(settings_.seed ^ 0x6055195ull, p.node);
      for (std::uint64_t k = 0;;) {
        std::uint64_t gap = 1;
        if (k >= local_from) {
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
    if (checkpoint_every_ > 0) detail::check_writable(checkpoint_file_, "checkpoints to");
  }

  if constexpr (layered_problem<Problem>) {
    p.layout = problem_.layout();
    std::size_t at = 0;
    for (const auto& b : p.layout) {
      if (b.range.begin != at || b.range.end <= b.range.begin) {
        std::ostringstream os;
        os << "asgd: problem layout: block '" << b.name << "' " << b.range << " must be non-empty and start at "
           << at << ", where the previous block ends";
        throw std::invalid_argument(os.str());
      }
      at = b.range.end;
    }
    if (at != p.dimension) {
      throw std::invalid_argument("asgd: problem layout ends at " + std::to_string(at) + " but dimension() is " +
                                  std::to_string(p.dimension));
    }
  } else {
    p.layout = {{"parameters", {0, p.dimension}}};
  }
  return p;
}

// Throws training_error naming the first NaN or infinite entry of parameters_.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::check_finite(const plan& p, std::uint64_t step) const {
  for (std::size_t i = 0; i < p.dimension; ++i) {
    if (std::isfinite(parameters_[i])) continue;
    std::ostringstream os;
    os << "asgd: parameter " << i << " is " << parameters_[i] << " after step " << step << " (epoch "
       << static_cast<double>(step) / static_cast<double>(p.steps_per_epoch) << ") under consistency::"
       << detail::describe(consistency_) << "; lower the learning rate or check the data";
    throw training_error(os.str());
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
double trainer<Problem, Policies...>::training_seconds(const shared_state& sh) const {
  return sh.time_offset + std::chrono::duration<double>(std::chrono::steady_clock::now() - sh.start).count() -
         sh.paused;
}

}  // namespace asgd::inline v0
