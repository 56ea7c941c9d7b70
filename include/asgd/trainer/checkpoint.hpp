#pragma once
// Part of <asgd/trainer.hpp> (which includes it after the class): checkpoints: what identifies a
// run, writing the model and every worker's state, reading them back.

#include <asgd/trainer.hpp>

namespace asgd::inline v0 {

// What identifies the run in its checkpoints, besides the plan's numbers.
template <class Problem, class... Policies>
detail::run_names trainer<Problem, Policies...>::names() const {
  return {detail::describe(problem_), detail::describe(consistency_), detail::describe(update_),
          detail::describe(selector_)};
}

template <class Problem, class... Policies>
template <int>
void trainer<Problem, Policies...>::write_checkpoint(const plan& p, const store_type& store,
                                                     const std::vector<worker_context>& ctx, const shared_state& sh,
                                                     std::uint64_t step, double trained_seconds) const {
  if constexpr (checkpointable_policy<update_rule_type> && checkpointable_policy<block_selector_type>) {
    byte_writer w;
    detail::write_checkpoint_head(w, names(), p, settings_, {step, sh.version_offset + store.version(), trained_seconds},
                                  parameters_);
    for (const auto& c : ctx) {
      update_.save(c.update_state, w);
      selector_.save(c.selection, w);
      c.sampler.save(w);
      w.u64(c.local);
      c.stats.save(w, p, step);
    }
    if (p.averaging) write_checkpoint_averaging(w, p, sh);
    const auto file = seal_checkpoint(w.bytes());
    detail::write_file_atomically(detail::node_file(p, checkpoint_file_),
                                  std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
  }
}

template <class Problem, class... Policies>
template <int>
void trainer<Problem, Policies...>::read_checkpoint_start(const plan& p, resume_state& from, shared_state& sh,
                                                          std::vector<float>& initial) const {
  const std::string file = detail::node_file(p, resume_file_);
  from.bytes = read_checkpoint_file(file);
  from.reader.emplace(open_checkpoint(from.bytes, file), file);
  const detail::checkpoint_start at = detail::read_checkpoint_head(*from.reader, names(), p, settings_, initial);
  sh.version_offset = at.version;
  sh.time_offset = at.seconds;
  sh.reported_step = sh.checkpointed_step = sh.started_at = at.step;
}

template <class Problem, class... Policies>
template <int>
void trainer<Problem, Policies...>::read_checkpoint_workers(byte_reader& r, const plan& p,
                                                            std::vector<worker_context>& ctx) {
  if constexpr (checkpointable_policy<update_rule_type> && checkpointable_policy<block_selector_type>) {
    for (auto& c : ctx) {
      update_.load(c.update_state, r);
      selector_.load(c.selection, r);
      c.sampler.load(r);
      c.local = r.u64();
      c.stats.load(r, p);
    }
    if (!p.averaging && r.remaining() != 0) {
      r.fail(std::to_string(r.remaining()) + " unexpected bytes after the last worker");
    }
  }
}

// A node's averaging state, with its links' references (quantize::differences). Its random
// streams need none: each round's and each gossip event's stream is drawn from (seed, node,
// round or event). A gossip node's published copy is its model when it resumes (it publishes
// at the start), and its partners' changes to its old copy are in its model (settle_for_checkpoint).
template <class Problem, class... Policies>
template <int>
void trainer<Problem, Policies...>::write_checkpoint_averaging(byte_writer& w, const plan& p,
                                                               const shared_state& sh) const {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    const averaging_state& a = sh.avg;
    w.string(detail::describe(topology_));
    w.string(detail::describe(quantizer_));
    for (std::uint64_t v : {std::uint64_t{p.node}, std::uint64_t{p.nodes}, std::uint64_t{settings_.averaging.every},
                            std::uint64_t{settings_.averaging.blocking}, std::uint64_t{p.triggers.size()}})
      w.u64(v);
    w.u64(a.next_round);
    w.u64(a.skipped);
    w.f64(a.exchange_seconds);
    w.f64(a.overlap_seconds);
    w.u64(a.lag_sum);
    w.u64(a.lag_max);
    w.u64(a.consensus.size());
    for (const auto& c : a.consensus) {
      w.u64(c.round);
      w.f64(c.distance);
    }
    w.u64(a.averager->bytes_sent());
    w.u64(a.averager->bits_sent());
    w.u64(a.averager->pushes_received());
    a.averager->save_references(w);
  }
}

template <class Problem, class... Policies>
template <int>
void trainer<Problem, Policies...>::read_checkpoint_averaging(byte_reader& r, const plan& p, shared_state& sh) {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    if constexpr (checkpointable_policy<update_rule_type> && checkpointable_policy<block_selector_type>) {
      averaging_state& a = sh.avg;
      r.expect(r.string(), detail::describe(topology_), "averaging topology");
      r.expect(r.string(), detail::describe(quantizer_), "quantizer");
      r.expect(r.u64(), std::uint64_t{p.node}, "node id (each node reads its own file)");
      r.expect(r.u64(), std::uint64_t{p.nodes}, "nodes");
      r.expect(r.u64(), std::uint64_t{settings_.averaging.every}, "settings.averaging.every");
      r.expect(r.u64(), std::uint64_t{settings_.averaging.blocking}, "settings.averaging.blocking");
      const std::uint64_t rounds = r.u64();
      const std::uint64_t next = r.u64();
      if (next > rounds || next > p.triggers.size() ||
          (next < p.triggers.size() && p.triggers[next] <= sh.started_at) ||
          (next > 0 && p.triggers[next - 1] > sh.started_at)) {
        r.fail("round " + std::to_string(next) + " is not the next round at step " + std::to_string(sh.started_at) +
               " of this run's schedule");
      }
      a.next_round = static_cast<std::size_t>(next);
      sh.rounds_landed.store(next, std::memory_order_relaxed);
      a.skipped = r.u64();
      a.exchange_seconds = r.f64();
      a.overlap_seconds = r.f64();
      a.lag_sum = r.u64();
      a.lag_max = r.u64();
      const std::uint64_t points = r.u64();
      if (points > r.remaining() / (sizeof(std::uint64_t) + sizeof(double))) {
        r.fail("truncated: the consensus distances claim " + std::to_string(points) + " points");
      }
      a.consensus.resize(static_cast<std::size_t>(points));
      for (auto& c : a.consensus) {
        c.round = r.u64();
        c.distance = r.f64();
      }
      const std::uint64_t bytes = r.u64(), bits = r.u64(), pushes = r.u64();
      a.averager->restore_counts(bytes, bits, pushes);
      a.averager->load_references(r);
      if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the averaging state");
    }
  }
}

}  // namespace asgd::inline v0
