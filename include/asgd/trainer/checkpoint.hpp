#pragma once
// Part of <asgd/trainer.hpp> (which includes it after the class): checkpoints: what identifies a
// run, writing the model and every worker's state, reading them back.

#include <asgd/trainer.hpp>

namespace asgd::inline v0 {

// What a checkpoint must share with the run that reads it.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::write_identity(byte_writer& w, const plan& p) const {
  w.string(detail::describe(problem_));
  w.string(detail::describe(consistency_));
  w.string(detail::describe(update_));
  w.string(detail::describe(selector_));
  for (std::uint64_t v : {std::uint64_t{p.dimension}, std::uint64_t{p.workers}, std::uint64_t{settings_.batch},
                          settings_.seed, p.steps_per_epoch, p.log_every,
                          static_cast<std::uint64_t>(settings_.sample_order)})
    w.u64(v);
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::check_identity(byte_reader& r, const plan& p) const {
  r.expect(r.string(), detail::describe(problem_), "problem");
  r.expect(r.string(), detail::describe(consistency_), "consistency mode");
  r.expect(r.string(), detail::describe(update_), "update rule");
  r.expect(r.string(), detail::describe(selector_), "block selector");
  r.expect(r.u64(), std::uint64_t{p.dimension}, "dimension");
  r.expect(r.u64(), std::uint64_t{p.workers}, "threads");
  r.expect(r.u64(), std::uint64_t{settings_.batch}, "batch");
  r.expect(r.u64(), settings_.seed, "seed");
  r.expect(r.u64(), p.steps_per_epoch, "steps per epoch (samples / batch)");
  r.expect(r.u64(), p.log_every, "log_every");
  r.expect(r.u64(), static_cast<std::uint64_t>(settings_.sample_order), "sample order");
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::write_checkpoint(const plan& p, const store_type& store,
                                                     const std::vector<worker_context>& ctx, const shared_state& sh,
                                                     std::uint64_t step, double trained_seconds) const {
  if constexpr (checkpointable_policy<update_rule_type> && checkpointable_policy<block_selector_type>) {
    byte_writer w;
    w.string(version_string);
    write_identity(w, p);
    w.u64(step);
    w.u64(sh.version_offset + store.version());
    w.f64(trained_seconds);
    w.floats(parameters_);
    // Statistics up to the checkpoint's step only, so a shorter or longer run can resume.
    const auto intervals = static_cast<std::size_t>(detail::ceil_div(step, p.log_every));
    const auto epochs = static_cast<std::size_t>(detail::ceil_div(step, p.steps_per_epoch));
    for (const auto& c : ctx) {
      update_.save(c.update_state, w);
      selector_.save(c.selection, w);
      c.sampler.save(w);
      w.u64(c.local);
      const worker_stats& st = c.stats;
      w.u64(st.steps);
      w.u64(st.applied);
      w.u64(st.dropped);
      st.staleness.save(w);
      st.retries.save(w);
      st.intervals.save(w, intervals);
      st.epochs.save(w, epochs);
    }
    const auto file = seal_checkpoint(w.bytes());
    detail::write_file_atomically(checkpoint_file_,
                                  std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
  }
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::read_checkpoint_header(byte_reader& r, const plan& p, shared_state& sh,
                                                           std::vector<float>& model) {
  (void)r.string();  // the asgd version that wrote it; the format version was checked
  check_identity(r, p);
  const std::uint64_t step = r.u64();
  if (step > p.total_steps) {
    r.fail("the checkpoint is at step " + std::to_string(step) + ", past this run's " +
           std::to_string(p.total_steps) + " steps");
  }
  sh.version_offset = r.u64();
  sh.time_offset = r.f64();
  r.floats(std::span<float>(model), "the model");
  sh.reported_step = sh.checkpointed_step = sh.started_at = step;
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::read_checkpoint_workers(byte_reader& r, const plan& p,
                                                            std::vector<worker_context>& ctx) {
  if constexpr (checkpointable_policy<update_rule_type> && checkpointable_policy<block_selector_type>) {
    for (auto& c : ctx) {
      update_.load(c.update_state, r);
      selector_.load(c.selection, r);
      c.sampler.load(r);
      c.local = r.u64();
      worker_stats& st = c.stats;
      st.steps = r.u64();
      st.applied = r.u64();
      st.dropped = r.u64();
      st.staleness.load(r);
      st.retries.load(r);
      st.intervals.load(r, p.interval_bins, "the loss curve");
      st.epochs.load(r, p.epoch_bins, "the epoch losses");
    }
    if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the last worker");
  }
}

}  // namespace asgd::inline v0
