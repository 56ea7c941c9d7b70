#pragma once
// Part of <asgd/trainer.hpp> (which includes it after the class): a worker takes steps (claimed in
// runs, or in rounds in lockstep modes) until its segment ends; a step reads, computes and applies.

#include <asgd/trainer.hpp>

namespace asgd::inline v0 {

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::work(worker_context& c, const plan& p, store_type& store, shared_state& sh,
                                         pause_barrier& pause) {
  const detail::event_log_scope logging(sh.logs != nullptr ? &(*sh.logs)[c.id] : nullptr);
  try {
    for (;;) {
      const std::uint64_t end = sh.segment_end;  // set in the last pause, before this worker was released
      if constexpr (consistency_type::lockstep) {
        for (;;) {
          const std::uint64_t k = c.local * p.workers + c.id;
          if (k >= end || sh.stop.load(std::memory_order_relaxed)) break;
          step(c, k, k, p, store, sh);
          ++c.local;
        }
      } else {
        // Claimed in runs, taken one by one; a sleeping worker's unbegun steps go to the others.
        // Each step takes the next between its gradient and its update (see step()).
        std::optional<detail::step_claims::step> next = sh.claims->take(c.id, end);
        while (next) {
          if (sh.stop.load(std::memory_order_relaxed)) break;
          const detail::step_claims::step s = *next;
          step(c, s.index, s.progress, p, store, sh, &next);
          ++c.local;
        }
      }
      c.stats.intervals.close();
      c.stats.epochs.close();
      if (sh.stop.load(std::memory_order_relaxed)) break;
      catch_up(c, p, store, sh);
      if (end >= p.total_steps) {  // the run is over: every worker leaves here, none waits
        store.finish(c.part);
        return;
      }
      if constexpr (requires { store.pause(c.part); }) store.pause(c.part);
      pause.arrive_and_wait();  // on_pause runs on one thread while all wait
    }
  } catch (...) {
    sh.fail(std::current_exception());
  }
  // Stopped early, by its own error or another thread's: workers that already wait at a pause
  // must not wait for this one, nor the averager for its steps.
  if (p.averaging) wake_averager(sh);
  pause.arrive_and_drop();
  store.finish(c.part);
}

template <class Problem, class... Policies>
double trainer<Problem, Policies...>::rate_at(const plan& p, std::uint64_t progress) const {
  return settings_.lr *
         p.lr_schedule.factor(static_cast<double>(progress) / static_cast<double>(p.steps_per_epoch));
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::record_landing(worker_context& c, store_type& store, const shared_state& sh,
                                                   std::uint64_t landed, double rate) {
  if constexpr (requires { store.rescale_pending(c.part, 1.0); }) {
    if (sh.claims->away(c.landed, landed) && c.rate > 0.0) store.rescale_pending(c.part, rate / c.rate);
  }
  c.landed = landed;
  c.rate = rate;
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::catch_up(worker_context& c, const plan& p, store_type& store, shared_state& sh) {
  // A worker about to add what it holds back at a pause or the end, after being away while the
  // others took the segment's last steps: its changes land at the rate where the run is.
  if constexpr (!consistency_type::lockstep) {
    const std::uint64_t now = sh.claims->landing(c.landed, sh.segment_end);
    if (now != c.landed) record_landing(c, store, sh, now, rate_at(p, now));
  }
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::step(worker_context& c, std::uint64_t k, std::uint64_t at, const plan& p,
                                         store_type& store, shared_state& sh,
                                         std::optional<detail::step_claims::step>* next) {
  // Step k of the run, taken where the run's progress is `at` (k, unless this worker fell behind).
  const auto interval_bin = static_cast<std::size_t>(k / p.log_every);
  const auto epoch_bin = static_cast<std::size_t>(k / p.steps_per_epoch);
  c.stats.intervals.enter(interval_bin);
  c.stats.epochs.enter(epoch_bin);
  const double epoch = static_cast<double>(at) / static_cast<double>(p.steps_per_epoch);
  const double lr_now = rate_at(p, at);
  // The rate is the schedule's where the run is when the update lands: lr() looks where the run
  // is each time a store asks, so a worker descheduled between its read and its write (for the
  // rest of the run, at worst) applies the late rate, and its stale gradient does not land on a
  // converged model at the rate of the run's start. A store that holds changes back from the
  // shared model (replicas) asks again before it adds them, and is told by rescale_pending when
  // its worker was away between two steps.
  auto landing = [&]() -> std::uint64_t {
    if constexpr (consistency_type::lockstep) {
      return at;
    } else {
      return sh.claims->landing(at, sh.segment_end);
    }
  };
  auto rate_for = [&](std::uint64_t landed) { return landed == at ? lr_now : rate_at(p, landed); };
  auto ask = [&](std::uint64_t tau) { return rate_for(landing()) * settings_.staleness.factor(tau, p.workers); };
  const detail::step_claims* claims = nullptr;
  if constexpr (!consistency_type::lockstep) claims = &*sh.claims;
  detail::landing_rate lr(ask, claims, at);
  auto land = [&] {  // between the gradient and the write
    // Beside other workers, the next step's claim is a compare-and-swap, which waits for this
    // thread's pending stores to drain. Here they are the gradient's, to private lines; after
    // the update they would be the update's last stores to the shared model, whose lines the
    // other workers may hold (3-6% of two sparse HOGWILD! workers' time was spent so). The
    // price: a worker descheduled between two steps holds one begun step that no other worker
    // can take.
    if (next != nullptr) *next = sh.claims->take(c.id, sh.segment_end);
    if constexpr (!consistency_type::lockstep) {
      const std::uint64_t landed = landing();
      record_landing(c, store, sh, landed, rate_for(landed));
    }
  };
  const update_rule_type& rule = update_;
  auto dir = [&rule, &c](std::size_t i, float g, float x) { return rule.direction(c.update_state, i, g, x); };
  const auto batch = c.sampler.next(settings_.batch);
  const param_range range = selector_.select(c.selection, {k, epoch, c.local});
  const auto full = param_range{0, p.dimension};
  if (range.empty() || range.end > p.dimension) {
    throw std::logic_error(detail::bad_range_message(detail::describe(selector_), range, p.dimension));
  }

  float loss = 0.0f;
  apply_result res;
  // settings.compute_slowdown: the step's gradient takes that many times as long, in a real run
  // as in a simulated one (which charges it as the gradient's virtual time).
  const bool slow = settings_.compute_slowdown > 1.0 && !detail::simulated();
  auto straggle = [&] {
    if (slow) c.straggler.wait(settings_.compute_slowdown);
  };
  auto check = [&] {
    if (std::isfinite(loss)) return;
    throw training_error(detail::bad_loss_message(loss, k, epoch, c.id, mode_name(), lr_now));
  };
  if constexpr (sparse_problem<Problem>) {
    auto h = store.read_sparse(c.part);
    c.sparse.clear();
    if (slow) c.straggler.start();
    loss = static_cast<float>(c.problem.gradient(h.reader(), batch, c.sparse));
    detail::charge_gradient(batch.size(), settings_.compute_slowdown);
    check();
    straggle();
    if (range != full) c.sparse.keep_range(range.begin, range.end);
    land();
    res = store.apply_sparse(c.part, h, c.sparse.indices(), c.sparse.values(), dir, lr);
  } else {
    auto h = store.read(c.part);
    std::span<float> g(c.gradient);
    if (slow) c.straggler.start();
    if (range == full) {
      loss = static_cast<float>(c.problem.gradient(h.values(), batch, g));
    } else if constexpr (block_gradient_problem<Problem>) {
      g = g.first(range.size());
      loss = static_cast<float>(c.problem.gradient(h.values(), batch, g, range));
    } else {
      loss = static_cast<float>(c.problem.gradient(h.values(), batch, g));
      g = g.subspan(range.begin, range.size());
    }
    detail::charge_gradient(batch.size(), settings_.compute_slowdown);
    check();
    straggle();
    land();
    res = store.apply(c.part, h, range, std::span<const float>(g), dir, lr);
  }

  worker_stats& st = c.stats;
  ++st.steps;
  if (res.applied) {
    ++st.applied;
    if (res.staleness_measured) st.staleness.add(res.staleness);
  } else {
    ++st.dropped;
  }
  st.retries.add(res.retries);
  st.intervals.add(interval_bin, loss);
  st.epochs.add(epoch_bin, loss);
  if (p.averaging) {
    // Counted on this worker's own line; wakes the averager if this step completes its round's.
    sh.done_steps.finish(c.id, k);
    if (p.rounds_on_workers) {
      drive_round(p, store, sh);
    } else if (!p.gossip && !settings_.averaging.blocking) {
      // The averager thread has a round to take: where workers outnumber cores it gets one only
      // when a worker gives its core up, or at the scheduler's next tick (4 ms at HZ=250). 4 MLP
      // nodes x 2 workers on 2 cores landed rounds due every 8 steps 1,580 steps late on
      // average, and 10 steps late when the workers yielded so.
      const std::uint64_t landed = sh.rounds_landed.load(std::memory_order_relaxed);
      if (landed < p.triggers.size() && p.triggers[landed] <= k + 1) std::this_thread::yield();
    }
    // A bounded lag: wait while the oldest round not mixed in is more than max_lag steps old;
    // the averager takes it once its steps are done (each worker counts its step before it
    // waits). The waiting worker is paused meanwhile: a store that holds the others back for it
    // (bounded_staleness's clocks) must not, or a worker held back inside a step of that round
    // would never end it.
    bool paused = false;
    while (p.max_lag > 0 && !sh.stop.load(std::memory_order_relaxed)) {
      const std::uint64_t landed = sh.rounds_landed.load(std::memory_order_acquire);
      if (landed >= p.triggers.size() || k + 1 <= p.triggers[landed] + p.max_lag) break;
      if (!paused) {
        if constexpr (requires { store.pause(c.part); }) store.pause(c.part);
        paused = true;
      }
      if (p.rounds_on_workers) drive_round(p, store, sh);  // the round is this worker's to land
      detail::pause_polling();
    }
    if (paused) {
      if constexpr (requires { store.resume(c.part); }) store.resume(c.part);
    }
  }
}

}  // namespace asgd::inline v0
