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
#include <span>
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
    write_to(w);
    seal_to(path, w);
  }

  /// Reads a recording that save() wrote.
  /// @throws checkpoint_error naming the file and the fault when it is not one, or is damaged
  /// (a file of several nodes' recordings names save_nodes and load_nodes)
  [[nodiscard]] static recording load(const std::filesystem::path& path) {
    return std::move(read_file(path, false).front());
  }

  /// Writes the recordings of a group of nodes, node k's at k (each node's trainer records its
  /// own), to one file, whole or not at all; load_nodes reads them back in that order.
  /// @throws std::runtime_error naming the file when it cannot be written
  static void save_nodes(const std::filesystem::path& path, std::span<const recording> nodes) {
    byte_writer w;
    w.string(nodes_format_name);
    w.u64(nodes.size());
    for (const recording& rec : nodes) rec.write_to(w);
    seal_to(path, w);
  }

  /// Reads what save_nodes wrote; a file that save() wrote is a group of one.
  /// @throws checkpoint_error naming the file, the node and the fault when it is not one, or is
  /// damaged
  [[nodiscard]] static std::vector<recording> load_nodes(const std::filesystem::path& path) {
    return read_file(path, true);
  }

 private:
  friend struct detail::recording_access;
  static constexpr std::string_view format_name = "asgd recording 1";
  static constexpr std::string_view nodes_format_name = "asgd recordings of nodes 1";

  // load() (`groups` false: a lone recording only) and load_nodes().
  static std::vector<recording> read_file(const std::filesystem::path& path, bool groups) {
    const std::vector<std::uint8_t> bytes = read_checkpoint_file(path);
    byte_reader r(open_checkpoint(bytes, path.string()), path.string());
    const std::string format = r.string();
    std::vector<recording> nodes;
    if (format == format_name) {
      nodes.push_back(read_from(r, ""));
    } else if (format == nodes_format_name) {
      if (!groups) r.fail("the recordings of several nodes (recording::load_nodes reads them)");
      const std::uint64_t n = r.u64();
      if (n == 0 || n > r.remaining() / 8) r.fail("a recording of " + std::to_string(n) + " nodes");
      for (std::uint64_t k = 0; k < n; ++k) nodes.push_back(read_from(r, "node " + std::to_string(k) + ": "));
    } else {
      r.fail("not a recording of asgd::sim (a checkpoint, maybe)");
    }
    if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " bytes after the last worker's events");
    return nodes;
  }

  void write_to(byte_writer& w) const {
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
  }

  static void seal_to(const std::filesystem::path& path, const byte_writer& w) {
    const auto file = seal_checkpoint(w.bytes());
    detail::write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
  }

  // `where` prefixes the faults ("node 2: "), empty for a lone recording.
  static recording read_from(byte_reader& r, const std::string& where) {
    recording rec;
    rec.run_ = r.string();
    const std::uint64_t workers = r.u64();
    if (workers == 0 || workers > r.remaining() / 8) {
      r.fail(where + "a recording of " + std::to_string(workers) + " workers");
    }
    for (std::uint64_t w = 0; w < workers; ++w) {
      const std::uint64_t n = r.u64();
      if (n > r.remaining() / 24) r.fail(where + "worker " + std::to_string(w) + " holds more events than the file");
      std::vector<detail::event_log::entry> entries(n);
      for (auto& e : entries) {
        const std::uint64_t kind = r.u64();
        if (kind > static_cast<std::uint64_t>(detail::replay_event::progress)) {
          r.fail(where + "worker " + std::to_string(w) + " has an event of unknown kind " + std::to_string(kind));
        }
        e = {static_cast<detail::replay_event>(kind), r.u64(), r.u64()};
      }
      rec.logs_.emplace_back(w, false, std::move(entries));
    }
    return rec;
  }

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
