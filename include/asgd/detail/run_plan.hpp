#pragma once
// Internal: how a trainer's run is laid out before it starts (steps, segments, bins, the node's
// shard), and the checks that go with it. None of it depends on the trainer's policies, so it is
// compiled once (ASGD_DECL), not once per trainer type: the trainer passes what its policies
// and problem say in a run_shape.

#include <asgd/checkpoint.hpp>
#include <asgd/detail/config.hpp>
#include <asgd/schedule.hpp>
#include <asgd/settings.hpp>
#include <asgd/shards.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace asgd::inline v0::detail {

// ceil(n / d) without the overflow of (n + d - 1) / d near 2^64.
constexpr std::uint64_t ceil_div(std::uint64_t n, std::uint64_t d) noexcept { return n / d + (n % d != 0); }

/// A run's layout, fixed before its threads start.
struct run_plan {
  std::size_t dimension = 0;
  std::size_t samples = 0;
  std::size_t workers = 1;
  std::uint64_t steps_per_epoch = 1;
  std::uint64_t total_steps = 0;
  std::uint64_t log_every = 1;
  std::size_t interval_bins = 0;  // loss-curve points (log_every steps each) the run can record
  std::size_t epoch_bins = 0;     // epochs the run starts or finishes
  block_layout layout;
  schedule lr_schedule;  // the settings' schedule with the run's length filled in
  bool epoch_pauses = false;
  std::uint64_t evaluate_every = 0;   // steps between evaluations within epochs (0: none)
  std::uint64_t staleness_every = 1;  // settings.staleness_every resolved
  std::uint64_t max_lag = 0;          // non-blocking nodes: settings.averaging.max_lag (0: none)
  // Averaging between nodes.
  std::size_t node = 0;
  std::size_t nodes = 1;
  shard_split shard;                    // every node's shard size, this node's samples
  std::size_t shard_classes = 0;        // classes among this node's samples (labelled problems)
  bool averaging = false;               // a node with peers: rounds happen
  bool gossip = false;                  // the rounds are this node's own gossip events
  bool first_due_calls = false;         // non-blocking rounds that the first node due starts
  bool rounds_on_workers = false;       // workers post and mix the rounds (settings.averaging)
  std::uint64_t local_from = 0;         // post-local SGD: a round after every step before this one
  std::vector<std::uint64_t> triggers;  // round r happens once the node has done triggers[r] steps
};

/// What the trainer's problem and policies tell plan_run.
struct run_shape {
  std::size_t dimension = 0;
  std::size_t samples = 0;
  std::size_t node = 0;
  std::size_t nodes = 1;
  std::string_view mode;         // "consistency::<name>", for messages
  std::size_t max_workers = 1;   // the consistency mode's
  bool lockstep = false;         // the mode takes its steps in rounds of one step per worker
  bool concurrent_mix = false;   // the mode can mix an average in while workers run
  bool reports_epochs = false;   // an on_epoch callback is set
  // How nodes split the samples: split_samples, set by trainers that average. A lone trainer
  // leaves it null (it holds every sample), so that it does not compile the split.
  decltype(&split_samples) split = nullptr;
};

/// Checks the settings (already valid on their own) against the shape and lays the run out: the node's shard (`classes`: each
/// sample's class, for a Dirichlet split), steps, bins, evaluations. Throws
/// std::invalid_argument naming the setting and why. Leaves layout, shard_classes, gossip and
/// triggers to the trainer, which knows the problem's blocks and the topology.
ASGD_DECL run_plan plan_run(const settings& s, const run_shape& shape, std::span<const std::uint32_t> classes);

/// Throws std::invalid_argument unless `layout`'s blocks are non-empty, consecutive, and end at
/// `dimension`.
ASGD_DECL void check_layout(const block_layout& layout, std::size_t dimension);

// The messages of the run's checks, built out of line: the worker's step stays small.

/// Parameter i is not finite: names the parameter, its value, the step, the epoch and the mode.
ASGD_DECL std::string not_finite_message(std::size_t i, float value, std::uint64_t step,
                                         std::uint64_t steps_per_epoch, std::string_view mode);

/// A minibatch's loss is not finite: names it, the step, the epoch, the worker, the mode and the
/// learning rate.
ASGD_DECL std::string bad_loss_message(float loss, std::uint64_t step, double epoch, std::size_t worker,
                                       std::string_view mode, double lr);

/// A block selector chose a range outside the model.
ASGD_DECL std::string bad_range_message(std::string_view selector, param_range range, std::size_t dimension);

/// What a checkpoint shares with the run that reads it, besides the plan's numbers: the names
/// of the problem and of the policies whose state it holds.
struct run_names {
  std::string problem;
  std::string consistency;
  std::string update_rule;
  std::string selector;
};

/// Where a run's checkpoint starts: its step, the model's version and the training seconds
/// before it.
struct checkpoint_start {
  std::uint64_t step = 0;
  std::uint64_t version = 0;
  double seconds = 0.0;
};

/// Writes a checkpoint's head: the asgd version, the run's identity, `at` and the model.
ASGD_DECL void write_checkpoint_head(byte_writer& w, const run_names& names, const run_plan& p, const settings& s,
                                     const checkpoint_start& at, std::span<const float> model);

/// Reads what write_checkpoint_head wrote into `model`; fails (checkpoint_error, through `r`)
/// where the checkpoint's run differs from this one or is past its last step.
ASGD_DECL checkpoint_start read_checkpoint_head(byte_reader& r, const run_names& names, const run_plan& p,
                                                const settings& s, std::span<float> model);

/// A run's checkpoint file: `file` itself for a lone node, `file` + ".node<k>" for node k.
ASGD_DECL std::string node_file(const run_plan& p, const std::string& file);

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/run_plan.ipp>
#endif
