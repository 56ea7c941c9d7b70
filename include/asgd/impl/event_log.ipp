#pragma once
// The definitions of <asgd/detail/event_log.hpp>'s out-of-line members (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/event_log.hpp>

namespace asgd::inline v0::detail {

ASGD_DECL void event_log::spent(replay_event kind) const {
  throw sim::replay_error("asgd: replay: worker " + std::to_string(worker_) + " reached " + replay_event_name(kind) +
                          " after the " + std::to_string(entries_.size()) +
                          " events its recording holds: the run replayed takes more steps than the run recorded");
}

ASGD_DECL void event_log::differs(replay_event replayed, replay_event recorded) const {
  throw sim::replay_error("asgd: replay: worker " + std::to_string(worker_) + "'s event " + std::to_string(next_) +
                          " is " + replay_event_name(replayed) + " in the run replayed and " +
                          replay_event_name(recorded) + " in the recording: the runs differ");
}

}  // namespace asgd::inline v0::detail
