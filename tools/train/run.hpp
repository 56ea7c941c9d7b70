#pragma once
// Turning asgd-train's options into a trainer: the policy types are chosen at run time, so each
// consistency mode's instantiations live in their own translation unit (run_<mode>.cpp) and
// compile in parallel.

#include "options.hpp"

#include <asgd/asgd.hpp>

#include <functional>
#include <string>

namespace asgd_train {

using progress_fn = std::function<void(const asgd::epoch_progress&)>;

/// Runs one training with options `o` under consistency mode `mode`.
asgd::report run_mode(const std::string& mode, const asgd::problems::network& net, const options& o,
                      const progress_fn& progress);

// One per mode, defined in run_<mode>.cpp.
asgd::report run_sequential(const asgd::problems::network&, const options&, const progress_fn&);
asgd::report run_synchronous(const asgd::problems::network&, const options&, const progress_fn&);
asgd::report run_locked(const asgd::problems::network&, const options&, const progress_fn&);
asgd::report run_hogwild(const asgd::problems::network&, const options&, const progress_fn&);
asgd::report run_atomic_add(const asgd::problems::network&, const options&, const progress_fn&);
asgd::report run_leashed(const asgd::problems::network&, const options&, const progress_fn&);
asgd::report run_bounded_staleness(const asgd::problems::network&, const options&, const progress_fn&);

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
          .evaluations_per_epoch = o.evals_per_epoch};
}

template <class Mode, class Rule, class Selector>
asgd::report train(const asgd::problems::network& net, const options& o, const Mode& mode, const Rule& rule,
                   const Selector& selector, const progress_fn& progress) {
  asgd::trainer<asgd::problems::network, Mode, Rule, Selector> t{net, settings_for(o, Mode::max_workers), mode, rule,
                                                                 selector};
  if (progress) t.on_epoch(progress);
  if (!o.checkpoint.empty()) t.checkpoint_to(o.checkpoint, o.checkpoint_every);
  if (!o.resume.empty()) t.resume_from(o.resume);
  return t.run();
}

template <class Mode, class Rule>
asgd::report with_selector(const asgd::problems::network& net, const options& o, const Mode& mode, const Rule& rule,
                           const progress_fn& progress) {
  namespace s = asgd::select;
  if (o.select == "partitioned") return train(net, o, mode, rule, s::partitioned{}, progress);
  if (o.select == "random_from_owned") return train(net, o, mode, rule, s::random_from_owned{}, progress);
  if (o.select == "random_block") return train(net, o, mode, rule, s::random_block{.blocks = o.blocks}, progress);
  if (o.select == "round_robin") return train(net, o, mode, rule, s::round_robin{.blocks = o.blocks}, progress);
  if (o.select == "alternate_full_partial")
    return train(net, o, mode, rule, s::alternate_full_partial{.warmup_epochs = o.select_warmup}, progress);
  return train(net, o, mode, rule, s::full{}, progress);
}

/// Momentum 0 is plain SGD (PyTorch's momentum formula with mu = 0), so two rule types cover
/// --momentum and --nesterov.
template <class Mode>
asgd::report with_rule(const asgd::problems::network& net, const options& o, const Mode& mode,
                       const progress_fn& progress) {
  if (o.nesterov) {
    return with_selector(net, o, mode, asgd::update::nesterov{.mu = o.momentum, .weight_decay = o.weight_decay},
                         progress);
  }
  return with_selector(net, o, mode, asgd::update::momentum{.mu = o.momentum, .weight_decay = o.weight_decay},
                       progress);
}

}  // namespace asgd_train
