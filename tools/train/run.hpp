#pragma once
// Turning asgd-train's options into a trainer: the policy types are chosen at run time, so each
// consistency mode instantiates one trainer, four of them in each of two translation units
// (run_lock_based.cpp, run_lock_free.cpp) that compile in parallel. Topology, quantizer and
// transport are one_of choices, so every run (a lone node included: one node never averages)
// uses one trainer type per mode; so are the block selector and the update rule (rule.hpp).

#include "options.hpp"
#include "rule.hpp"
#include "selector_choice.hpp"
#include "topology_choice.hpp"

#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>
#if ASGD_TRAIN_WITH_MPI
#include <asgd/transport/mpi.hpp>
#endif

#include <functional>
#include <string>

namespace asgd_train {

using progress_fn = std::function<void(const asgd::epoch_progress&)>;

// Differences against per-link references hold a run-time choice of their own encoding, so the
// trainer's rounds are compiled once for all four.
using any_difference_quantizer = asgd::quantize::differences<asgd::quantize::one_of<
    asgd::quantize::fp16, asgd::quantize::bf16, asgd::quantize::qsgd<8>, asgd::quantize::qsgd<4>>>;
using any_quantizer =
    asgd::quantize::one_of<asgd::quantize::identity, asgd::quantize::fp16, asgd::quantize::bf16, asgd::quantize::qsgd<8>,
                           asgd::quantize::qsgd<4>, asgd::quantize::lattice, any_difference_quantizer>;
#if ASGD_TRAIN_WITH_MPI
using any_transport = asgd::transport::one_of<asgd::transport::in_process, asgd::transport::mpi>;
#else
using any_transport = asgd::transport::one_of<asgd::transport::in_process>;
#endif

/// What every run needs besides its mode: the network, the options, progress, its transport.
struct run_inputs {
  const asgd::problems::network& net;
  const options& o;
  const progress_fn& progress;
  any_transport transport;
  // --record: the run records into it; --replay: the run replays it (one per node; null: neither).
  asgd::sim::recording* recording = nullptr;
};

/// Runs one training with options `in.o` under consistency mode `mode`.
asgd::report run_mode(const std::string& mode, const run_inputs& in);

// One per mode, defined in run_lock_based.cpp and run_lock_free.cpp.
asgd::report run_sequential(const run_inputs&);
asgd::report run_synchronous(const run_inputs&);
asgd::report run_locked(const run_inputs&);
asgd::report run_hogwild(const run_inputs&);
asgd::report run_atomic_add(const run_inputs&);
asgd::report run_leashed(const run_inputs&);
asgd::report run_bounded_staleness(const run_inputs&);
asgd::report run_replicas(const run_inputs&);

/// The settings of a run: sequential runs one thread whatever --threads says.
inline asgd::settings settings_for(const options& o, std::size_t max_workers) {
  return {.threads = std::min(o.threads, max_workers),
          .epochs = o.epochs,
          .steps = o.steps,
          .batch = o.batch,
          .lr = o.lr,
          .seed = o.seed,
          .lr_schedule = o.lr_schedule,
          .staleness = o.staleness,
          .sample_order = o.sample_order,
          .evaluate = true,
          .evaluate_epochs = true,
          .epochs_per_evaluation = o.epochs_per_eval,
          .evaluations_per_epoch = o.evals_per_epoch,
          .background_evaluations = o.background_evaluations,
          .averaging = o.averaging,
          .shards = o.shards,
          .compute_slowdown = o.straggler_slowdown};
}

inline any_topology topology_for(const options& o) { return topology_named(o.topology, o.fraction, o.graph); }

inline any_selector selector_for(const options& o) { return selector_named(o.select, o.blocks, o.select_warmup); }

inline any_quantizer quantizer_for(const options& o) {
  namespace q = asgd::quantize;
  if (o.quantize == "fp16") return q::fp16{};
  if (o.quantize == "bf16") return q::bf16{};
  if (o.quantize == "qsgd8") return q::qsgd<8>{};
  if (o.quantize == "qsgd4") return q::qsgd<4>{};
  if (o.quantize == "lattice") return q::lattice{.epsilon = o.lattice_epsilon, .bits = o.lattice_bits};
  if (o.quantize == "diff-fp16") return any_difference_quantizer{.of = q::fp16{}};
  if (o.quantize == "diff-bf16") return any_difference_quantizer{.of = q::bf16{}};
  if (o.quantize == "diff-qsgd8") return any_difference_quantizer{.of = q::qsgd<8>{}};
  if (o.quantize == "diff-qsgd4") return any_difference_quantizer{.of = q::qsgd<4>{}};
  return q::identity{};
}

template <class Mode, class Rule, class Selector>
asgd::report train(const run_inputs& in, const Mode& mode, const Rule& rule, const Selector& selector) {
  const options& o = in.o;
  asgd::trainer<asgd::problems::network, Mode, Rule, Selector, any_topology, any_quantizer, any_transport> t{
      in.net, settings_for(o, Mode::max_workers), mode, rule, selector, topology_for(o), quantizer_for(o),
      in.transport};
  if (in.progress) t.on_epoch(in.progress);
  if (!o.checkpoint.empty()) t.checkpoint_to(o.checkpoint, o.checkpoint_every);
  if (!o.resume.empty()) t.resume_from(o.resume);
  t.simulate(o.costs);
  if (in.recording != nullptr && !o.record.empty()) t.record(in.recording);
  if (in.recording != nullptr && !o.replay.empty()) t.replay(in.recording);
  return t.run();
}

/// One rule type covers --momentum and --nesterov (momentum_rule; momentum 0 is plain SGD, as in
/// PyTorch's formula with mu = 0).
template <class Mode>
asgd::report with_rule(const run_inputs& in, const Mode& mode) {
  const options& o = in.o;
  return train(in, mode, momentum_rule{.mu = o.momentum, .weight_decay = o.weight_decay, .nesterov = o.nesterov},
               selector_for(o));
}

}  // namespace asgd_train
