#pragma once
/// @file
/// `asgd::sim::recording`: the interleaving of a real multi-threaded run, which a simulated run
/// replays to the same model, bit for bit (trainer::record, trainer::replay).
///
/// A run of a consistent mode is data-race free, so what its workers compute depends on each
/// other only through a few values each worker reads: the step it claims, where the run's
/// progress is when its update lands, its turn at a lock, the version it pins and whether its
/// publication wins. A recording holds those values, per worker, in the worker's order; a
/// replay takes them back and waits, in virtual time, until the shared state is what the worker
/// saw. Modes whose workers race on the model's floats (HOGWILD!, bounded staleness, atomic
/// adds) do not replay: which of two racing writes lands is not a value any worker reads.

#include <asgd/checkpoint.hpp>
#include <asgd/detail/event_log.hpp>
#include <asgd/detail/files.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asgd::inline v0 {
namespace detail {
struct recording_access;
}

namespace sim {

/// What the workers of one recorded run observed of each other. Record one with
/// trainer::record(), replay it with trainer::replay(); save() and load() keep it in a file.
class recording {
 public:
  /// Nothing recorded yet.
  [[nodiscard]] bool empty() const noexcept { return logs_.empty(); }
  /// The recorded run's workers.
  [[nodiscard]] std::size_t workers() const noexcept { return logs_.size(); }
  /// Values recorded, over all workers.
  [[nodiscard]] std::size_t events() const noexcept {
    std::size_t n = 0;
    for (const auto& l : logs_) n += l.entries().size();
    return n;
  }
  /// The recorded run: its problem, policies and settings, which a replay must match.
  [[nodiscard]] const std::string& run() const noexcept { return run_; }

  /// Writes the recording to `path` (whole or not at all, as a checkpoint is written).
  /// @throws std::runtime_error naming the file when it cannot be written
  void save(const std::filesystem::path& path) const {
    byte_writer w;
    w.string(format_name);
    w.string(run_);
    w.u64(logs_.size());
    for (const auto& l : logs_) {
      w.u64(l.entries().size());
      for (const auto& e : l.entries()) {
        w.u64(static_cast<std::uint64_t>(e.kind));
        w.u64(e.a);
        w.u64(e.b);
      }
    }
    const auto file = seal_checkpoint(w.bytes());
    detail::write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
  }

  /// Reads a recording that save() wrote.
  /// @throws checkpoint_error naming the file and the fault when it is not one, or is damaged
  [[nodiscard]] static recording load(const std::filesystem::path& path) {
    const std::vector<std::uint8_t> bytes = read_checkpoint_file(path);
    byte_reader r(open_checkpoint(bytes, path.string()), path.string());
    if (r.string() != format_name) r.fail("not a recording of asgd::sim (a checkpoint, maybe)");
    recording rec;
    rec.run_ = r.string();
    const std::uint64_t workers = r.u64();
    if (workers == 0 || workers > r.remaining() / 8) r.fail("a recording of " + std::to_string(workers) + " workers");
    for (std::uint64_t w = 0; w < workers; ++w) {
      const std::uint64_t n = r.u64();
      if (n > r.remaining() / 24) r.fail("worker " + std::to_string(w) + " holds more events than the file");
      std::vector<detail::event_log::entry> entries(n);
      for (auto& e : entries) {
        const std::uint64_t kind = r.u64();
        if (kind > static_cast<std::uint64_t>(detail::replay_event::publish)) {
          r.fail("worker " + std::to_string(w) + " has an event of unknown kind " + std::to_string(kind));
        }
        e = {static_cast<detail::replay_event>(kind), r.u64(), r.u64()};
      }
      rec.logs_.emplace_back(w, false, std::move(entries));
    }
    if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " bytes after the last worker's events");
    return rec;
  }

 private:
  friend struct detail::recording_access;
  static constexpr std::string_view format_name = "asgd recording 1";

  std::string run_;
  std::vector<detail::event_log> logs_;
};

}  // namespace sim

namespace detail {

// The trainer's side: a run records into a recording's logs, or replays copies of them.
struct recording_access {
  // `events` a worker is expected to log: reserved, so that no log grows (copying itself) while
  // its worker holds a lock.
  static void start(sim::recording& rec, std::string run, std::size_t workers, std::size_t events) {
    rec.run_ = std::move(run);
    rec.logs_.clear();
    for (std::size_t w = 0; w < workers; ++w) {
      rec.logs_.emplace_back(w, false);
      rec.logs_.back().reserve(events);
    }
  }
  [[nodiscard]] static std::vector<event_log> replay(const sim::recording& rec) {
    std::vector<event_log> logs;
    for (const auto& l : rec.logs_) logs.emplace_back(l.worker(), true, l.entries());
    return logs;
  }
  [[nodiscard]] static std::vector<event_log>& logs(sim::recording& rec) noexcept { return rec.logs_; }
};

}  // namespace detail
}  // namespace asgd::inline v0
