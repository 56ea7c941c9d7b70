#pragma once
// Internal: where the deterministic simulator plugs into the stores and the trainer.
//
// A thread that runs as a task of a simulated run has `simulation_hooks` installed; everywhere
// else the pointer is null and every function below is one thread-local load and a branch. The
// stores and the trainer say what their work costs (`charge_copy`, `charge_update`, ...) and wait
// through `detail::mutex`, `detail::barrier` and `wait_for_change` (detail/sync.hpp), so the same
// code runs on OS threads and, under the simulator, in virtual time. Define ASGD_NO_SIMULATION to
// compile the hooks out.

#include <asgd/version.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace asgd::inline v0::detail {

/// What a simulated task asks of its simulator (sim::simulation implements it). The charges
/// advance the task's virtual clock by the cost model's price; the waits give up the task's turn
/// in virtual time.
class simulation_hooks {
 public:
  virtual ~simulation_hooks() = default;
  /// A model read: `floats` copied (or read in place) at the copy bandwidth.
  virtual void copy(std::size_t floats) = 0;
  /// A copy of `floats` floats out of the buffer `source`: at the shared copy bandwidth when
  /// another task wrote it last and this task has not read it since (its lines come from that
  /// task's core; at the stream read bandwidth when any task, this one too, streamed it: from
  /// memory), else as copy(). This task is then a reader of `source` until someone writes it.
  virtual void copy_from(const void* source, std::size_t floats) = 0;
  /// A read of `floats` floats of `buffer` in place, the reads themselves charged elsewhere (a
  /// gradient's, a build's) or no more than the lines' coming (a pass that brings the buffer into
  /// this core's cache: detail::touch_lines): when another task wrote it last, or any task
  /// streamed it, and this task has not read it since, its lines first come from that task's
  /// core (from memory), at the shared copy bandwidth (the stream read bandwidth for a streamed
  /// buffer). This task is then a reader.
  virtual void read_in_place(const void* buffer, std::size_t floats) = 0;
  /// This task wrote the buffer `buffer` (the next copy_from by another task pays for it).
  virtual void wrote(const void* buffer) = 0;
  /// This task writes `floats` floats of `buffer`, the cost of the writes themselves charged
  /// elsewhere (a gradient's): when another task read `buffer` since it was last written, its
  /// lines are first taken back from that task's core (at the shared write bandwidth). Then as
  /// wrote(buffer).
  virtual void overwrite(const void* buffer, std::size_t floats) = 0;
  /// This task writes `floats` floats of `buffer` just after reading them (a read charged
  /// elsewhere, with copy_from): when another task wrote `buffer` last, that task's core still
  /// holds the lines the read copied, and the writes first invalidate them there (at the shared
  /// write bandwidth, as overwrite() takes lines back from readers). Then as wrote(buffer).
  virtual void take_over(const void* buffer, std::size_t floats) = 0;
  /// Whether the cost model prices streaming stores (its stream bandwidths are not 0): a store
  /// that writes a buffer through stream_fill then charges it with stream(), else as a plain write.
  [[nodiscard]] virtual bool prices_streams() const = 0;
  /// This task writes `floats` floats of `buffer` with streaming stores, from values in its own
  /// cache (their reads charged elsewhere): at the stream write bandwidth, through the memory
  /// system, and no line taken back from readers (a streaming store invalidates their copies
  /// without reading them). The lines are then in memory only: the next read of `buffer` by any
  /// task, this one included, comes from there, at the stream read bandwidth.
  virtual void stream(const void* buffer, std::size_t floats) = 0;
  /// A model write: `coordinates` updated (read, modified, written) at the update bandwidth.
  virtual void update(std::size_t coordinates) = 0;
  /// update() of `coordinates` starting at `buffer`, whose lines first come from another task's
  /// core (at the shared copy bandwidth) when that task wrote `buffer` last, or are taken back
  /// from the cores of tasks that read it since (as overwrite()); this task wrote it.
  virtual void update_of(const void* buffer, std::size_t coordinates) = 0;
  /// A read-modify-write of the shared word at `line`; a cache-line hand-over more when another
  /// task touched it last.
  virtual void atomic(const void* line) = 0;
  /// `count` read-modify-writes of words no other task is writing (an atomic add per coordinate).
  virtual void atomics(std::size_t count) = 0;
  /// A quantizer's encode (decode) of `coordinates` coordinates, on a core.
  virtual void encode(std::size_t coordinates) = 0;
  virtual void decode(std::size_t coordinates) = 0;
  /// A gradient over `samples` samples, `factor` times its drawn duration.
  virtual void gradient(std::size_t samples, double factor) = 0;
  /// An evaluation of the problem's test set (in a pause, its node's workers waiting), on a core.
  virtual void evaluation() = 0;
  /// Takes the lock named `key` (first come, first served), waiting in virtual time.
  virtual void acquire(const void* key) = 0;
  virtual void release(const void* key) = 0;
  /// Waits until another task calls unpark_all(key); callers recheck their condition in a loop.
  virtual void park(const void* key) = 0;
  /// park(), by a waiter that first spins for up to `spin_seconds` (as a detail::barrier's): one
  /// woken within that time pays no wake-up, where the simulated machine has a core for each of
  /// the simulation's unfinished tasks (a real barrier counts the library's threads).
  virtual void park_spinning(const void* key, double spin_seconds) = 0;
  virtual void unpark_all(const void* key) = 0;
  /// The task's virtual clock, in seconds.
  [[nodiscard]] virtual double now() const = 0;
  /// True on a simulated task (a trainer run there spawns its workers as tasks); false on the
  /// thread that started a simulation and only reads its clock.
  [[nodiscard]] virtual bool in_task() const = 0;
  /// Starts `body` as a task of the same simulation and node at this task's clock, with hooks of
  /// its own; returns its id, for join.
  virtual std::size_t spawn(std::function<void()> body) = 0;
  /// Waits, in virtual time, until task `id` finished.
  virtual void join(std::size_t id) = 0;
  /// Waits `seconds` of virtual time (a message on the link, a poll's pause).
  virtual void sleep(double seconds) = 0;
  /// What a message of `bytes` takes on the simulated network: latency plus bytes at bandwidth.
  [[nodiscard]] virtual double link_seconds(std::size_t bytes) const = 0;
  /// What an all-reduce of `bytes` among `nodes` takes on the simulated network from its last
  /// node's joining (a cluster's collective: sim::cost_model::all_reduce_seconds), or -1 where the
  /// cost model keeps the in-process transport's own (its copies charged as they happen).
  [[nodiscard]] virtual double all_reduce_seconds(std::size_t nodes, std::size_t bytes) const = 0;
};

class event_log;

/// A simulated, recorded or replayed trainer run's part that needs the simulator or a recording.
/// trainer::simulate(), record() and replay() install the code that makes it (trainer/simulated.hpp,
/// which <asgd/sim/simulation.hpp> includes), so that a trainer never simulated compiles none of it.
class run_extras {
 public:
  virtual ~run_extras() = default;
  /// A recorded or replayed run's event logs (one a worker, then the averaging's), else null.
  [[nodiscard]] virtual std::vector<event_log>* logs() noexcept = 0;
  /// True when this run started a simulation: its workers run as that simulation's tasks.
  [[nodiscard]] virtual bool simulates() const noexcept = 0;
  /// Runs body(0) ... body(tasks - 1) as the simulation's tasks of node `node`.
  virtual void run(std::size_t tasks, const std::function<void(std::size_t)>& body, std::size_t node) = 0;
  /// The simulation's hand-overs between tasks.
  [[nodiscard]] virtual std::uint64_t switches() const noexcept = 0;
  /// After the run: a replay whose logs were not all taken throws sim::replay_error; `workers`
  /// tells the workers' logs from the averaging's.
  virtual void finish(std::size_t workers) const = 0;
};

/// The hooks of the simulated task running on this thread, or null.
inline simulation_hooks*& simulation_slot() noexcept {
  static thread_local simulation_hooks* hooks = nullptr;
  return hooks;
}

[[nodiscard]] inline simulation_hooks* simulated() noexcept {
#if defined(ASGD_NO_SIMULATION)
  return nullptr;
#else
  return simulation_slot();
#endif
}

inline void charge_copy(std::size_t floats) {
  if (auto* s = simulated()) [[unlikely]]
    s->copy(floats);
}
inline void charge_copy_from(const void* source, std::size_t floats) {
  if (auto* s = simulated()) [[unlikely]]
    s->copy_from(source, floats);
}
inline void charge_read_in_place(const void* buffer, std::size_t floats) {
  if (auto* s = simulated()) [[unlikely]]
    s->read_in_place(buffer, floats);
}
inline void charge_wrote(const void* buffer) {
  if (auto* s = simulated()) [[unlikely]]
    s->wrote(buffer);
}
inline void charge_take_over(const void* buffer, std::size_t floats) {
  if (auto* s = simulated()) [[unlikely]]
    s->take_over(buffer, floats);
}
inline void charge_overwrite(const void* buffer, std::size_t floats) {
  if (auto* s = simulated()) [[unlikely]]
    s->overwrite(buffer, floats);
}
/// True in a simulated run whose cost model prices streaming stores (simulation_hooks::stream).
[[nodiscard]] inline bool simulated_streams() {
  auto* s = simulated();
  return s != nullptr && s->prices_streams();
}
inline void charge_stream(const void* buffer, std::size_t floats) {
  if (auto* s = simulated()) [[unlikely]]
    s->stream(buffer, floats);
}
inline void charge_update(std::size_t coordinates) {
  if (auto* s = simulated()) [[unlikely]]
    s->update(coordinates);
}
inline void charge_update_of(const void* buffer, std::size_t coordinates) {
  if (auto* s = simulated()) [[unlikely]]
    s->update_of(buffer, coordinates);
}
inline void charge_atomic(const void* line) {
  if (auto* s = simulated()) [[unlikely]]
    s->atomic(line);
}
inline void charge_atomics(std::size_t count) {
  if (auto* s = simulated()) [[unlikely]]
    s->atomics(count);
}
inline void charge_encode(std::size_t coordinates) {
  if (auto* s = simulated()) [[unlikely]]
    s->encode(coordinates);
}
inline void charge_decode(std::size_t coordinates) {
  if (auto* s = simulated()) [[unlikely]]
    s->decode(coordinates);
}
inline void charge_gradient(std::size_t samples, double factor) {
  if (auto* s = simulated()) [[unlikely]]
    s->gradient(samples, factor);
}
inline void charge_evaluation() {
  if (auto* s = simulated()) [[unlikely]]
    s->evaluation();
}

/// steady_clock's now, or the simulated task's virtual time on the same scale.
[[nodiscard]] inline std::chrono::steady_clock::time_point clock_now() {
  if (auto* s = simulated()) [[unlikely]] {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s->now())));
  }
  return std::chrono::steady_clock::now();
}

}  // namespace asgd::inline v0::detail
