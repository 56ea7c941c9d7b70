#pragma once
// Part of <asgd/trainer.hpp> (which includes it after the class): a node's averaging: the averager
// thread's rounds, woken by the workers' steps, and what is left after the last step.

#include <asgd/trainer.hpp>

namespace asgd::inline v0 {

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::wake_averager(shared_state& sh) const {
  sh.done_steps.wake();
}

// One averaging round, from the node's side (announced first, where rounds start when their
// first node is due): snapshot, exchange and mix by the topology, then add (mix - snapshot) into
// the model in place, so updates made meanwhile are kept (LAP-SGD); when no worker writes the
// model (`workers_wait`: a blocking round, or the rounds left after the last step), the mix
// replaces it, and a round that is one all-reduce of the model takes no snapshot: it averages
// the model where the store lends it (model_while_workers_wait), else the model's copy.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::average_rounds(const plan& p, store_type& store, shared_state& sh,
                                                   std::uint64_t done_steps, bool workers_wait,
                                                   std::uint64_t called) {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    const detail::event_log_scope logging(averager_log(p, sh));
    averaging_state& a = sh.avg;
    while (a.next_round < p.triggers.size() && (p.triggers[a.next_round] <= done_steps || a.next_round < called)) {
      if constexpr (round_calling_transport<transport_type>) {
        if (p.first_due_calls) transport_.call_round(a.next_round);
      }
      if (p.gossip) {
        // Gossip events that came due while the averager was busy fold into one interaction now:
        // no partner waits for them, and taking them one after another would only replay old
        // interactions (after the last step, with nothing left to gain).
        while (a.next_round + 1 < p.triggers.size() && p.triggers[a.next_round + 1] <= done_steps) {
          ++a.next_round;
          ++a.skipped;
        }
      }
      const auto t0 = detail::clock_now();
      constexpr bool lends = requires { store.model_while_workers_wait(); };
      constexpr bool assigns = requires { store.assign(std::span<const float>(a.mixed)); };
      if ((lends || assigns) && workers_wait && settings_.averaging.exchange && a.averager->rounds_are_one_mean()) {
        // The mean replaces the model, and the round needs no snapshot: the model itself is
        // averaged where the store lends it (no pass over it but the mean's), else its copy.
        if constexpr (lends) {
          a.averager->round_in_place(store.model_while_workers_wait());
        } else {
          store.copy_to(std::span<float>(a.mixed));
          a.averager->round_in_place(std::span<float>(a.mixed));
          a.assign_to(store);
        }
      } else {
        store.copy_to(std::span<float>(a.snapshot));
        if (settings_.averaging.exchange) {
          a.averager->round(a.next_round, a.snapshot, std::span<float>(a.mixed));
        } else {  // the baseline for the exposed communication: the round's exchange is a no-op
          std::copy(a.snapshot.begin(), a.snapshot.end(), a.mixed.begin());
        }
        if (workers_wait) {  // no worker writes the model: the mix replaces it
          a.assign_to(store);
        } else {
          a.mix_into(store);
        }
      }
      const auto t1 = detail::clock_now();
      // How late the average landed, in the node's steps: 0 when blocking (workers wait at the
      // due step); a non-blocking node keeps stepping while its averager wakes and exchanges.
      const std::uint64_t due = p.triggers[a.next_round];
      if (due > done_steps) ++a.early;  // taken on a peer's call
      a.add_lag(sh.done_steps.count(), due);
      a.exchange_seconds += std::chrono::duration<double>(t1 - t0).count();
      if (!settings_.averaging.blocking) {
        // Workers computed through the round, unless they finished during it.
        const auto computing_until =
            sh.workers_done.load(std::memory_order_acquire) ? std::min(t1, sh.workers_end) : t1;
        if (computing_until > t0) a.overlap_seconds += std::chrono::duration<double>(computing_until - t0).count();
      }
      ++a.next_round;
      sh.rounds_landed.store(a.next_round, std::memory_order_release);
      const std::size_t every = settings_.averaging.consensus_every;
      if (every > 0 && a.next_round % every == 0) {
        store.copy_to(std::span<float>(a.snapshot));
        a.consensus.push_back({a.next_round, a.averager->consensus_distance(a.snapshot, std::span<float>(a.mixed))});
      }
    }
  }
}

// Rounds on workers (settings.averaging.rounds_on_workers), after each of a worker's steps: one
// worker at a time (the others go on stepping) posts the node's snapshot to the split-phase
// all-reduce once the round is due or another node has posted it, and at a later step, once the
// last node posted, adds (mean - snapshot) into the model. Nothing waits, and no thread needs a
// core of its own; while the round is out, every step ends by yielding the core (below).
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::drive_round(const plan& p, store_type& store, shared_state& sh) {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    averaging_state& a = sh.avg;
    // A peer's post calls round r, unless r is due after the node's next checkpoint: before a
    // checkpoint the nodes take the rounds due by its step, then a collective of the checkpoint's
    // own (settle_for_checkpoint), and that is what a peer has posted.
    const auto called = [&](std::size_t r) {
      return p.first_due_calls &&
             (checkpoint_every_ == 0 ||
              p.triggers[r] <= (sh.checkpointed_step / checkpoint_every_ + 1) * checkpoint_every_) &&
             a.averager->round_posted();
    };
    // Most steps find no round due and none posted: they decide so by reads alone, so that a
    // step writes no line the node's other workers use.
    if (!a.posted.load(std::memory_order_relaxed)) {
      const std::uint64_t next = sh.rounds_landed.load(std::memory_order_relaxed);
      if (next >= p.triggers.size()) return;
      if (p.triggers[next] > sh.done_steps.count() && !called(next)) return;
    }
    if (!a.driving.test_and_set(std::memory_order_acquire)) {  // else another worker drives
      struct release {
        std::atomic_flag& flag;
        ~release() { flag.clear(std::memory_order_release); }
      } const releasing{a.driving};
      if (!a.posted.load(std::memory_order_relaxed) && a.next_round < p.triggers.size()) {
        const bool due = p.triggers[a.next_round] <= sh.done_steps.count();
        if (due || called(a.next_round)) {
          if (!due) ++a.early;  // another node posted it first
          post_driven_round(store, sh);
        }
      }
      if (a.posted.load(std::memory_order_relaxed) && a.averager->round_ready(a.ticket)) {
        land_driven_round(p, store, sh, false);
      }
    }
    // A round completes once a worker of every node has posted, and lands at a step after that.
    // Where workers outnumber cores, a busy worker keeps its core until the scheduler's tick
    // (4 ms at HZ=250): 8 MLP workers of 4 nodes on 2 cores landed rounds due every 8 steps
    // about 3,000 steps late, and 1-3 steps late when each yielded its core while its node's
    // round was out. With a core to spare, the yield returns at once.
    if (a.posted.load(std::memory_order_relaxed)) std::this_thread::yield();
  }
}

// The node's snapshot, posted as its part of its next round.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::post_driven_round(store_type& store, shared_state& sh) {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    averaging_state& a = sh.avg;
    const auto t0 = detail::clock_now();
    store.copy_to(std::span<float>(a.snapshot));
    a.ticket = a.averager->post_round(a.snapshot, std::span<float>(a.mixed));
    a.posted.store(true, std::memory_order_relaxed);
    a.posted_at = t0;
    a.driven = std::chrono::duration<double>(detail::clock_now() - t0).count();
  }
}

// The posted round's mean into the model, added in place: the workers may have stepped on since
// its snapshot, and their updates stay. When they wait (after the last step, in a pause:
// `workers_wait`), the round is awaited first.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::land_driven_round(const plan& p, store_type& store, shared_state& sh,
                                                      bool workers_wait) {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    averaging_state& a = sh.avg;
    const auto t0 = detail::clock_now();
    if (workers_wait) a.averager->await_round(a.ticket, std::span<float>(a.mixed));
    a.mix_into(store);
    const auto t1 = detail::clock_now();
    a.add_lag(sh.done_steps.count(), p.triggers[a.next_round]);
    // The round lasted from its post to its landing; the workers computed through it but for the
    // driving worker's copy and mix-in, and the time after their last step.
    a.exchange_seconds += std::chrono::duration<double>(t1 - a.posted_at).count();
    a.driven += std::chrono::duration<double>(t1 - t0).count();
    const auto computing_until = workers_wait ? std::min(t1, sh.workers_end) : t1;
    const double computing = std::chrono::duration<double>(computing_until - a.posted_at).count() - a.driven;
    if (computing > 0.0) a.overlap_seconds += computing;
    a.posted.store(false, std::memory_order_relaxed);
    ++a.next_round;
    sh.rounds_landed.store(a.next_round, std::memory_order_release);
  }
}

// The averager thread of a non-blocking node: it sleeps until the workers have taken the next
// round's steps or another node has started the round, runs the round, and repeats; it never
// holds anything the workers wait for.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::average_in_background(const plan& p, store_type& store, shared_state& sh) {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    detail::event_log* const log = averager_log(p, sh);
    const detail::event_log_scope logging(log);
    const bool replaying = log != nullptr && log->replaying();
    try {
      // Rounds that the first node due starts: a peer's call wakes this averager, which then
      // takes the round before its own workers are due (a replay takes the recorded rounds).
      const round_calls calls(transport_, sh.done_steps, p.first_due_calls && !replaying);
      auto called = [&] { return calls.active ? calls.called() : std::uint64_t{0}; };
      while (sh.avg.next_round < p.triggers.size()) {
        // A replay waits for the steps the recorded run had done when it took its next rounds,
        // and takes the rounds it took (a: the steps, b: the rounds called by then); where the
        // recorded averager took no more, for the workers' end.
        detail::event_log::entry recorded{detail::replay_event::progress, detail::steps_done::never, 0};
        if (replaying && log->next_is(detail::replay_event::progress)) {
          recorded = log->next(detail::replay_event::progress);
        }
        const bool reached = sh.done_steps.wait_for(replaying ? recorded.a : p.triggers[sh.avg.next_round], [&] {
          return sh.stop.load(std::memory_order_relaxed) || sh.workers_done.load(std::memory_order_acquire) ||
                 called() > sh.avg.next_round;
        }, calls.poll);
        // Stopped (the run failed: finish_averaging is not called), or the workers are done
        // (finish_averaging takes the rounds left).
        if (sh.stop.load(std::memory_order_relaxed) || (!reached && sh.workers_done.load(std::memory_order_acquire)))
          return;
        // How far the workers got decides how many gossip events fold into one, and the calls
        // how many rounds are taken early: a replay takes the recorded figures.
        std::uint64_t progress = sh.done_steps.count(), through = called();
        if (replaying) {
          progress = recorded.a;
          through = recorded.b;
        } else if (log != nullptr) {
          log->add(detail::replay_event::progress, progress, through);
        }
        average_rounds(p, store, sh, progress, false, through);
      }
    } catch (...) {
      sh.fail(std::current_exception());
    }
  }
}

// Before a node writes its checkpoint at `step` (every node does, at the same step): the rounds
// due by then have landed (a non-blocking node's averager thread takes them; a blocking node's
// pause did), every node has got this far (a collective), and what gossip partners'
// averages changed in its published copy is in the model. No interaction can start until every node has written (the
// pause ends with a second collective), so the files are a cut that no exchange crosses.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::settle_for_checkpoint(const plan& p, store_type& store, shared_state& sh,
                                                          std::uint64_t step) {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    averaging_state& a = sh.avg;
    const auto due = static_cast<std::uint64_t>(std::upper_bound(p.triggers.begin(), p.triggers.end(), step) -
                                                p.triggers.begin());
    if (p.rounds_on_workers) {  // the workers are paused: the rounds due are taken here
      if (a.posted.load(std::memory_order_relaxed)) land_driven_round(p, store, sh, true);
      while (a.next_round < due) {
        post_driven_round(store, sh);
        land_driven_round(p, store, sh, true);
      }
    }
    while (sh.rounds_landed.load(std::memory_order_acquire) < due) {
      // A worker wakes the averager only from a step whose index reached the round's due step;
      // the last such step may have ended before the averager went to sleep, and no further step
      // comes during a pause: wake it here (it finds the steps done and runs the round).
      wake_averager(sh);
      if (sh.stop.load(std::memory_order_relaxed)) {
        throw std::runtime_error("asgd: node " + std::to_string(p.node) +
                                 ": its averaging stopped before the checkpoint");
      }
      detail::pause_polling();
    }
    float arrived[1] = {0.0f};
    transport_.all_reduce_mean(arrived);
    if (p.gossip) {
      store.copy_to(std::span<float>(a.snapshot));
      a.averager->absorb_changes(a.snapshot, std::span<float>(a.mixed));
      a.mix_into(store);
    }
  }
}

// After the last step: the rounds still due (blocking nodes take their last ones here), the
// consensus distance, and the final global average.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::finish_averaging(const plan& p, store_type& store, shared_state& sh) {
  if constexpr (averages) {  // no averaging code in trainers without a topology
    averaging_state& a = sh.avg;
    if (a.posted.load(std::memory_order_relaxed)) land_driven_round(p, store, sh, true);  // rounds on workers
    average_rounds(p, store, sh, p.total_steps, true);  // the workers are done
    if (p.gossip) {
      // Every node's last average with a partner's copy precedes its arrival at this
      // collective; after it, this node's copy holds every change partners made, and it takes them.
      float arrived[1] = {0.0f};
      transport_.all_reduce_mean(arrived);
      store.copy_to(std::span<float>(a.snapshot));
      a.averager->settle(a.snapshot, std::span<float>(a.mixed));
      a.assign_to(store);  // the workers are done
    }
    store.copy_to(std::span<float>(a.snapshot));
    // The distance's all-reduce leaves the global mean in `mixed`: the final average is that mean.
    a.final_consensus = a.averager->consensus_distance(a.snapshot, std::span<float>(a.mixed));
    if (a.means_open) a.averager->close_means();  // that was every node's last mean
    // Every node's rounds are over (it passed that collective): calls still on their way end.
    if constexpr (requires { transport_.close_rounds(); }) {
      if (p.first_due_calls && round_calls::calls_rounds(transport_)) transport_.close_rounds();
    }
    if (settings_.averaging.final_average) {
      a.assign_to(store);  // every node the same model
      a.final_averaged = true;
    }
  }
}

}  // namespace asgd::inline v0
