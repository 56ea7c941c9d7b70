#pragma once
// The definitions of <asgd/detail/run_plan.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/run_plan.hpp>
#include <asgd/detail/validate.hpp>
#include <asgd/version.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

namespace asgd::inline v0::detail {

ASGD_DECL run_plan plan_run(const settings& s, const run_shape& shape, std::span<const std::uint32_t> classes) {
  run_plan p;
  p.dimension = shape.dimension;
  p.samples = shape.samples;
  p.workers = s.threads;
  p.node = shape.node;
  p.nodes = shape.nodes;
  p.averaging = p.nodes > 1;
  require(p.dimension >= 1, "problem", "dimension()", p.dimension, "must be at least 1");
  require(p.samples >= 1, "problem", "num_samples()", p.samples, "must be at least 1");

  // Node k trains on its shard of the samples (all of them for a lone node). Every node draws
  // the whole split from the seed; a Dirichlet draw that starves a node is drawn again.
  const sharding& shards = s.shards;
  const std::size_t least =
      shards.type == sharding::kind::dirichlet
          ? std::max<std::size_t>(s.batch, s.sample_order == sampling::sharded ? p.workers : 1)
          : 1;
  if (shape.split != nullptr) {
    p.shard = shape.split(shards, p.samples, p.nodes, p.node, s.seed, classes, least);
  } else if (p.nodes == 1) {
    p.shard.sizes = {p.samples};
    p.shard.count = p.samples;
  } else {
    throw std::logic_error("asgd: plan_run: " + std::to_string(p.nodes) + " nodes and no split");
  }
  const std::size_t held = p.shard.count;
  const std::string share = p.nodes > 1 ? "node " + std::to_string(p.node) + "'s " + std::to_string(held) +
                                              " of the problem's " + std::to_string(p.samples) + " samples"
                                        : "the problem's " + std::to_string(p.samples) + " samples";

  const std::string mode(shape.mode);
  require(p.workers <= shape.max_workers, "settings", "threads", p.workers,
          mode + " runs at most " + std::to_string(shape.max_workers) + " worker thread(s)");
  require(p.workers <= p.dimension, "settings", "threads", p.workers,
          "exceeds the problem's " + std::to_string(p.dimension) + " parameters");
  require(s.batch <= held, "settings", "batch", s.batch, "exceeds " + share);
  require(s.sample_order != sampling::sharded || p.workers <= held, "settings", "threads", p.workers,
          "exceeds the samples, so a sharded worker would have none");

  // An epoch is one pass over the data by all nodes together, so every node has the same
  // number of steps (and of averaging rounds) whatever its share.
  p.steps_per_epoch = (p.samples + p.nodes * s.batch - 1) / (p.nodes * s.batch);
  // Bounded before any product or rounding that could wrap (settings.steps <= 2^53 was checked).
  constexpr std::uint64_t max_steps = settings::max_steps;
  require(s.steps > 0 || s.epochs <= max_steps / p.steps_per_epoch, "settings", "epochs", s.epochs,
          "times " + std::to_string(p.steps_per_epoch) + " steps per epoch exceeds 2^53 steps");
  p.total_steps = s.steps > 0 ? s.steps : s.epochs * p.steps_per_epoch;
  // Lockstep modes take their steps in rounds of one step per worker.
  if (shape.lockstep) p.total_steps = (p.total_steps + p.workers - 1) / p.workers * p.workers;
  p.epoch_bins = static_cast<std::size_t>(ceil_div(p.total_steps, p.steps_per_epoch));
  require(p.epoch_bins <= settings::max_bins, "settings", s.steps > 0 ? "steps" : "epochs",
          s.steps > 0 ? s.steps : s.epochs,
          "makes " + std::to_string(p.epoch_bins) + " epochs of " + std::to_string(p.steps_per_epoch) +
              " steps; a run records at most 2^20 epochs (raise the batch, or take fewer steps)");
  if (s.log_every > 0) {
    p.log_every = s.log_every;
    require(ceil_div(p.total_steps, p.log_every) <= settings::max_bins, "settings", "log_every", p.log_every,
            "makes " + std::to_string(ceil_div(p.total_steps, p.log_every)) + " loss-curve points of " +
                std::to_string(p.total_steps) + " steps; at most 2^20 (raise log_every)");
  } else {  // about 20 points an epoch, and never more than max_bins
    p.log_every = std::max<std::uint64_t>({1, p.steps_per_epoch / 20, ceil_div(p.total_steps, settings::max_bins)});
  }
  p.interval_bins = static_cast<std::size_t>(ceil_div(p.total_steps, p.log_every));
  p.lr_schedule = s.lr_schedule;
  if (p.lr_schedule.total_epochs == 0.0) {
    p.lr_schedule.total_epochs = static_cast<double>(p.total_steps) / static_cast<double>(p.steps_per_epoch);
  }
  p.epoch_pauses = s.evaluate_epochs || shape.reports_epochs;
  if (s.evaluations_per_epoch > 0) {
    p.evaluate_every = std::max<std::uint64_t>(1, p.steps_per_epoch / s.evaluations_per_epoch);
  }
  p.staleness_every = s.staleness_every > 0                              ? s.staleness_every
                      : s.staleness.type != staleness_scaling::kind::none ? 1
                                                                          : 64;
  if (p.averaging) {
    const averaging_settings& a = s.averaging;
    if (!a.blocking && !shape.concurrent_mix) {
      throw std::invalid_argument("asgd: settings.averaging.blocking = false, but " + mode +
                                  " cannot mix an average into its model while workers run; set blocking = true");
    }
    if (!a.blocking) p.max_lag = a.max_lag;
    // Post-local SGD: a round after every step until the switch, then every H steps.
    p.local_from =
        static_cast<std::uint64_t>(std::llround(a.local_after_epoch * static_cast<double>(p.steps_per_epoch)));
  }
  return p;
}

ASGD_DECL void check_layout(const block_layout& layout, std::size_t dimension) {
  std::size_t at = 0;
  for (const auto& b : layout) {
    if (b.range.begin != at || b.range.end <= b.range.begin) {
      std::ostringstream os;
      os << "asgd: problem layout: block '" << b.name << "' " << b.range << " must be non-empty and start at " << at
         << ", where the previous block ends";
      throw std::invalid_argument(os.str());
    }
    at = b.range.end;
  }
  if (at != dimension) {
    throw std::invalid_argument("asgd: problem layout ends at " + std::to_string(at) + " but dimension() is " +
                                std::to_string(dimension));
  }
}

ASGD_DECL std::string not_finite_message(std::size_t i, float value, std::uint64_t step,
                                         std::uint64_t steps_per_epoch, std::string_view mode) {
  std::ostringstream os;
  os << "asgd: parameter " << i << " is " << value << " after step " << step << " (epoch "
     << static_cast<double>(step) / static_cast<double>(steps_per_epoch) << ") under " << mode
     << "; lower the learning rate or check the data";
  return os.str();
}

ASGD_DECL std::string bad_loss_message(float loss, std::uint64_t step, double epoch, std::size_t worker,
                                       std::string_view mode, double lr) {
  std::ostringstream os;
  os << "asgd: the loss is " << loss << " at step " << step << " (epoch " << epoch << ") on worker " << worker
     << " under " << mode << " with lr " << lr << "; lower the learning rate or check the data";
  return os.str();
}

ASGD_DECL std::string bad_range_message(std::string_view selector, param_range range, std::size_t dimension) {
  std::ostringstream os;
  os << "asgd: block selector " << selector << " chose " << range << " outside [0, " << dimension << ")";
  return os.str();
}

ASGD_DECL void write_checkpoint_head(byte_writer& w, const run_names& names, const run_plan& p, const settings& s,
                                     const checkpoint_start& at, std::span<const float> model) {
  w.string(version_string);
  for (const std::string* name : {&names.problem, &names.consistency, &names.update_rule, &names.selector})
    w.string(*name);
  for (std::uint64_t v : {std::uint64_t{p.dimension}, std::uint64_t{p.workers}, std::uint64_t{s.batch}, s.seed,
                          p.steps_per_epoch, p.log_every, static_cast<std::uint64_t>(s.sample_order)})
    w.u64(v);
  w.u64(at.step);
  w.u64(at.version);
  w.f64(at.seconds);
  w.floats(model);
}

ASGD_DECL checkpoint_start read_checkpoint_head(byte_reader& r, const run_names& names, const run_plan& p,
                                                const settings& s, std::span<float> model) {
  (void)r.string();  // the asgd version that wrote it; the format version was checked
  r.expect(r.string(), names.problem, "problem");
  r.expect(r.string(), names.consistency, "consistency mode");
  r.expect(r.string(), names.update_rule, "update rule");
  r.expect(r.string(), names.selector, "block selector");
  r.expect(r.u64(), std::uint64_t{p.dimension}, "dimension");
  r.expect(r.u64(), std::uint64_t{p.workers}, "threads");
  r.expect(r.u64(), std::uint64_t{s.batch}, "batch");
  r.expect(r.u64(), s.seed, "seed");
  r.expect(r.u64(), p.steps_per_epoch, "steps per epoch (samples / batch)");
  r.expect(r.u64(), p.log_every, "log_every");
  r.expect(r.u64(), static_cast<std::uint64_t>(s.sample_order), "sample order");
  checkpoint_start at;
  at.step = r.u64();
  if (at.step > p.total_steps) {
    r.fail("the checkpoint is at step " + std::to_string(at.step) + ", past this run's " +
           std::to_string(p.total_steps) + " steps");
  }
  at.version = r.u64();
  at.seconds = r.f64();
  r.floats(model, "the model");
  return at;
}

ASGD_DECL std::string node_file(const run_plan& p, const std::string& file) {
  if (p.nodes <= 1) return file;
  return file + ".node" + std::to_string(p.node);
}

}  // namespace asgd::inline v0::detail
