#pragma once
/// @file
/// `asgd::sim::simulation`: a scheduler and a cost model put together, so that library code run
/// as its tasks (a trainer's workers) takes virtual time for what it does and waits in virtual
/// time where it would block.
///
/// The stores and the trainer say what their work costs and wait through asgd's own primitives
/// (detail/simulation.hpp, detail/sync.hpp). On a task of a simulation those reach the task's
/// hooks here: a copy of n floats advances the task's clock by 4n bytes at the cost model's copy
/// bandwidth, a lock is taken first come first served in virtual time, and so on. Everywhere
/// else they are the OS primitives, and cost nothing.
///
/// This header also holds the code of trainer::simulate(), record() and replay(): include it
/// to call them.

#include <asgd/detail/simulation.hpp>
#include <asgd/random.hpp>
#include <asgd/sim/cost_model.hpp>
#include <asgd/sim/scheduler.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace asgd::inline v0::sim {

/// Runs tasks on a `scheduler`, charging them the costs of a `cost_model`.
class simulation {
 public:
  /// `seed` draws the tasks' durations (each task its own stream of it).
  /// @throws std::invalid_argument when `costs` fails cost_model::validate()
  explicit simulation(cost_model costs, std::uint64_t seed = 0) : costs_(std::move(costs)), seed_(seed) {
    costs_.validate();
  }

  simulation(const simulation&) = delete;
  simulation& operator=(const simulation&) = delete;

  /// Runs `body(task&)` as tasks 0 .. tasks - 1 of node `node` (whose gradients take
  /// slow_factor times as long when it is the cost model's slow node), each with this
  /// simulation's hooks on its thread; returns the run's end in virtual time (the latest clock).
  /// The calling thread sees clock 0 (before) and the end (after) through detail::clock_now
  /// while a `caller_scope` lasts.
  double run(std::size_t tasks, const std::function<void(task&)>& body, std::size_t node = 0) {
    reset();
    end_ = scheduler_.run(tasks, [&](task& t) { with_hooks(t, node, [&] { body(t); }); });
    return end_;
  }

  /// run() with task k node k (and the tasks it spawns too): a group of simulated nodes.
  double run_nodes(std::size_t nodes, const std::function<void(task&)>& body) {
    reset();
    end_ = scheduler_.run(nodes, [&](task& t) { with_hooks(t, t.id(), [&] { body(t); }); });
    return end_;
  }

  /// The cost model charged.
  [[nodiscard]] const cost_model& costs() const noexcept { return costs_; }
  /// The last run's end in virtual time.
  [[nodiscard]] double end() const noexcept { return end_; }
  /// Hand-overs between tasks in the last run.
  [[nodiscard]] std::uint64_t switches() const noexcept { return scheduler_.switches(); }

  /// While it lives, the constructing thread (which runs no task) reads this simulation's
  /// clock through detail::clock_now: 0 until a run has ended, then the run's end. Store calls
  /// made on it cost nothing; a wait on it (which no task could end) is a std::logic_error.
  class caller_scope {
   public:
    explicit caller_scope(const simulation& s) : hooks_(s), outer_(std::exchange(detail::simulation_slot(), &hooks_)) {}
    ~caller_scope() { detail::simulation_slot() = outer_; }
    caller_scope(const caller_scope&) = delete;
    caller_scope& operator=(const caller_scope&) = delete;

   private:
    class hooks final : public detail::simulation_hooks {
     public:
      explicit hooks(const simulation& s) : sim_(&s) {}
      void copy(std::size_t /*floats*/) override {}
      void copy_from(const void* /*source*/, std::size_t /*floats*/) override {}
      void read_in_place(const void* /*buffer*/, std::size_t /*floats*/) override {}
      void wrote(const void* /*buffer*/) override {}
      void overwrite(const void* /*buffer*/, std::size_t /*floats*/) override {}
      void take_over(const void* /*buffer*/, std::size_t /*floats*/) override {}
      [[nodiscard]] bool prices_streams() const override { return false; }
      void stream(const void* /*buffer*/, std::size_t /*floats*/) override {}
      void update(std::size_t /*coordinates*/) override {}
      void update_of(const void* /*buffer*/, std::size_t /*coordinates*/) override {}
      void atomic(const void* /*line*/) override {}
      void atomics(std::size_t /*count*/) override {}
      void encode(std::size_t /*coordinates*/) override {}
      void decode(std::size_t /*coordinates*/) override {}
      void gradient(std::size_t /*samples*/, double /*factor*/) override {}
      void evaluation() override {}
      void acquire(const void* /*key*/) override {}  // no task runs: nobody else holds it
      void release(const void* /*key*/) override {}
      void park(const void* /*key*/) override {
        throw std::logic_error("asgd: sim::simulation: the thread outside the simulated tasks waited; no task can wake it");
      }
      void park_spinning(const void* key, double /*spin_seconds*/) override { park(key); }
      void unpark_all(const void* /*key*/) override {}
      [[nodiscard]] double now() const override { return sim_->end_; }
      [[nodiscard]] bool in_task() const override { return false; }
      std::size_t spawn(std::function<void()> /*body*/) override {
        throw std::logic_error("asgd: sim::simulation: only a simulated task can spawn another");
      }
      void join(std::size_t /*id*/) override {
        throw std::logic_error("asgd: sim::simulation: only a simulated task can join another");
      }
      void sleep(double /*seconds*/) override {}
      [[nodiscard]] double link_seconds(std::size_t bytes) const override { return sim_->link_seconds(bytes); }
      [[nodiscard]] double all_reduce_seconds(std::size_t nodes, std::size_t bytes) const override {
        return sim_->all_reduce_seconds(nodes, bytes);
      }

     private:
      const simulation* sim_;
    };
    hooks hooks_;
    detail::simulation_hooks* outer_;
  };

 private:
  static constexpr std::size_t nobody = ~std::size_t{0};

  void reset() {
    lines_.clear();
    writers_.clear();
    readers_.clear();
    streamed_.clear();
    locks_.clear();
    parked_.clear();
    memory_free_at_ = 0.0;
    core_free_at_.assign(costs_.cores, 0.0);
  }

  [[nodiscard]] double link_seconds(std::size_t bytes) const {
    return costs_.link_latency_seconds + static_cast<double>(bytes) / costs_.link_bandwidth;
  }
  [[nodiscard]] double all_reduce_seconds(std::size_t nodes, std::size_t bytes) const {
    return costs_.link_all_reduce == sim::all_reduce_model::in_process ? -1.0
                                                                        : costs_.all_reduce_seconds(nodes, bytes);
  }

  // Runs f on task t with t's hooks installed on its thread.
  template <class F>
  void with_hooks(task& t, std::size_t node, F&& f) {
    task_hooks hooks(*this, t, node);
    detail::simulation_hooks* const outer = std::exchange(detail::simulation_slot(), &hooks);
    try {
      f();
    } catch (...) {
      detail::simulation_slot() = outer;
      throw;
    }
    detail::simulation_slot() = outer;
  }

  struct lock_state {
    bool held = false;
    std::size_t last = nobody;  // the task that took it last
    std::deque<std::size_t> waiters;
  };

  // One task's view of the simulation. Tasks run one at a time, so they share the maps below
  // without a lock (the scheduler's hand-overs order their accesses).
  class task_hooks final : public detail::simulation_hooks {
   public:
    task_hooks(simulation& s, task& t, std::size_t node)
        : sim_(s), task_(t), node_(node), draws_(s.seed_, 0x5EED0000u + t.id()), slow_(node == s.costs_.slow_node) {}

    void copy(std::size_t floats) override { transfer(4.0 * static_cast<double>(floats), sim_.costs_.copy_bandwidth); }
    void copy_from(const void* source, std::size_t floats) override {
      transfer(4.0 * static_cast<double>(floats), pulls(source) ? pull_bandwidth(source) : sim_.costs_.copy_bandwidth);
      reads(source);
    }
    void read_in_place(const void* buffer, std::size_t floats) override {
      if (pulls(buffer)) transfer(4.0 * static_cast<double>(floats), pull_bandwidth(buffer));
      reads(buffer);
    }
    void wrote(const void* buffer) override {
      sim_.writers_[buffer] = task_.id();
      sim_.readers_.erase(buffer);
      sim_.streamed_.erase(buffer);
    }
    [[nodiscard]] bool prices_streams() const override { return sim_.costs_.stream_write_bandwidth > 0.0; }
    void stream(const void* buffer, std::size_t floats) override {
      transfer(4.0 * static_cast<double>(floats), sim_.costs_.stream_write_bandwidth);
      wrote(buffer);
      sim_.streamed_.insert(buffer);
    }
    void take_over(const void* buffer, std::size_t floats) override {
      const auto it = sim_.writers_.find(buffer);
      // (A streamed buffer's lines are in memory, not in its writer's cache.)
      if (it != sim_.writers_.end() && it->second != task_.id() && !sim_.streamed_.contains(buffer)) {
        invalidate_elsewhere(floats);
      }
      wrote(buffer);
    }
    void overwrite(const void* buffer, std::size_t floats) override {
      take_back(buffer, floats);
      wrote(buffer);
    }
    void update(std::size_t coordinates) override {
      transfer(12.0 * static_cast<double>(coordinates), sim_.costs_.update_bandwidth);
    }
    void update_of(const void* buffer, std::size_t coordinates) override {
      if (sim_.streamed_.contains(buffer)) {
        // Streamed: the lines come from memory, unless this task has read them since.
        if (pulls(buffer)) transfer(4.0 * static_cast<double>(coordinates), pull_bandwidth(buffer));
        sim_.streamed_.erase(buffer);
        sim_.writers_[buffer] = task_.id();
      } else {
        std::size_t& last = sim_.writers_.try_emplace(buffer, task_.id()).first->second;
        // The lines come from the other task's core first: 4 bytes a coordinate at the shared
        // copy bandwidth (as copy_from charges a copy of them), then the update as usual.
        if (last != task_.id()) transfer(4.0 * static_cast<double>(coordinates), sim_.costs_.shared_copy_bandwidth);
        last = task_.id();
      }
      take_back(buffer, coordinates);
      sim_.readers_.erase(buffer);
      update(coordinates);
    }
    void atomic(const void* line) override {
      std::size_t& last = sim_.lines_.try_emplace(line, nobody).first->second;
      compute(sim_.costs_.atomic_seconds + handover(last));
      last = task_.id();
    }
    void atomics(std::size_t count) override { compute(sim_.costs_.atomic_seconds * static_cast<double>(count)); }
    void encode(std::size_t coordinates) override {
      compute(sim_.costs_.encode_seconds * static_cast<double>(coordinates));
    }
    void decode(std::size_t coordinates) override {
      compute(sim_.costs_.decode_seconds * static_cast<double>(coordinates));
    }
    void gradient(std::size_t samples, double factor) override {
      const double own = sim_.costs_.gradient_per_sample.draw(draws_) * static_cast<double>(samples);
      double d = own * factor;
      if (slow_) d *= sim_.costs_.slow_factor;
      if (sim_.costs_.cores == 0) {
        task_.advance(d);
        return;
      }
      // A slowed worker (settings.compute_slowdown) or the slow node stands for a slower machine
      // of its own: on the shared cores it computes its gradient, then waits the rest holding none.
      compute(own);
      task_.advance(std::max(0.0, d - own));
    }
    // In pieces of 50 us, each booked on a core like any work. Cores serve pieces first come,
    // first served, so tasks that all have work share a core in proportion to their pieces'
    // sizes: in pieces about as large as a training step's (the MLP's gradient at batch 16,
    // 70-80 us, its update about 20), the evaluation gets about the share of a core that an
    // OS's fair scheduler gives it beside the workers (4 nodes on 2 cores, 6 Dec 2026: an
    // evaluation of 17 ms took 30-35 ms simulated, 36-43 ms real; in 100 us pieces 23 ms; booked
    // whole, it held a core for its 17 ms, and its time moved from the node's pause into the
    // others' training). The slow node's factor is its gradients' alone, as a real run's slowed
    // worker (settings.compute_slowdown) slows only those.
    void evaluation() override {
      constexpr double piece = 5e-5;  // seconds
      for (double left = sim_.costs_.evaluation_seconds; left > 0.0; left -= piece) compute(std::min(left, piece));
    }
    void acquire(const void* key) override {
      lock_state& l = sim_.locks_[key];  // a node of the map: stays put while others insert
      if (l.held) {
        l.waiters.push_back(task_.id());
        task_.block();  // release() hands the lock over before it wakes this task
      } else {
        l.held = true;
      }
      const double cost = sim_.costs_.lock_seconds + handover(l.last);
      l.last = task_.id();
      compute(cost);
    }
    void release(const void* key) override {
      lock_state& l = sim_.locks_[key];
      if (!l.held) throw std::logic_error("asgd: sim::simulation: task " + std::to_string(task_.id()) +
                                          " released a lock nobody holds");
      if (l.waiters.empty()) {
        l.held = false;
        return;
      }
      const std::size_t next = l.waiters.front();
      l.waiters.pop_front();
      task_.wake(next);
    }
    void park(const void* key) override {
      sim_.parked_[key].push_back(task_.id());
      task_.block();
      woken();
    }
    void park_spinning(const void* key, double spin_seconds) override {
      const double since = task_.now();
      // A spinner holds its core, which no other thread needs when there is one for each.
      const std::size_t cores = sim_.costs_.cores;
      const bool spins = cores == 0 || task_.unfinished_tasks() <= cores;
      sim_.parked_[key].push_back(task_.id());
      task_.block();
      if (spins && task_.now() - since <= spin_seconds) return;
      woken();
    }
    // A thread woken from an OS wait runs only after the wake-up's latency, holding no core but
    // for the OS's own work (the scheduler, the switch), which takes a core like any work.
    void woken() {
      const double cpu = sim_.costs_.wake_cpu_seconds;
      if (sim_.costs_.wake_seconds > cpu) task_.advance(sim_.costs_.wake_seconds - cpu);
      if (cpu > 0.0) compute(cpu);
    }
    void unpark_all(const void* key) override {
      const auto it = sim_.parked_.find(key);
      if (it == sim_.parked_.end()) return;
      const std::vector<std::size_t> ids = std::move(it->second);
      sim_.parked_.erase(it);
      for (std::size_t id : ids) task_.wake(id);
    }
    [[nodiscard]] double now() const override { return task_.now(); }
    [[nodiscard]] bool in_task() const override { return true; }
    std::size_t spawn(std::function<void()> body) override {
      simulation* s = &sim_;
      const std::size_t node = node_;
      return task_.spawn([s, node, body = std::move(body)](task& t) { s->with_hooks(t, node, body); });
    }
    void join(std::size_t id) override { task_.join(id); }
    // An OS sleep overshoots what it was asked for (timer slack, the wake-up).
    void sleep(double seconds) override {
      if (seconds > 0.0) task_.advance(seconds + sim_.costs_.sleep_overshoot_seconds);
    }
    [[nodiscard]] double link_seconds(std::size_t bytes) const override { return sim_.link_seconds(bytes); }
    [[nodiscard]] double all_reduce_seconds(std::size_t nodes, std::size_t bytes) const override {
      return sim_.all_reduce_seconds(nodes, bytes);
    }

   private:
    // `bytes` at this task's own bandwidth; with a shared memory bandwidth, also a turn on the
    // memory system, which serves transfers one after another in the order they start (tasks
    // run in clock order, so starts come in time order): a transfer ends when both are done.
    // Copies, updates, streams and every pull of lines another core wrote or streamed out (by a
    // copy, a read in place or an update alike) take this path.
    void transfer(double bytes, double own_bandwidth) {
      double seconds = bytes / own_bandwidth;
      if (const double shared = sim_.costs_.memory_bandwidth; shared > 0.0) {
        const double start = std::max(task_.now(), sim_.memory_free_at_);
        sim_.memory_free_at_ = start + bytes / shared;
        seconds = std::max(seconds, sim_.memory_free_at_ - task_.now());
      }
      compute(seconds);
    }
    // Work of `seconds` on a core: with the cost model's `cores`, on the core that is free
    // soonest, after the work booked on it before (tasks run in clock order, so bookings come in
    // time order: first come, first served, no preemption); otherwise on a core of its own.
    void compute(double seconds) {
      std::vector<double>& cores = sim_.core_free_at_;
      if (cores.empty()) {
        task_.advance(seconds);
        return;
      }
      double& core = *std::min_element(cores.begin(), cores.end());
      const double start = std::max(task_.now(), core);
      core = start + seconds;
      task_.advance(core - task_.now());
    }
    // Whether reading `buffer` moves its lines to this task's core: another task wrote it last,
    // or any task streamed it (its lines are in memory then), and this task has not read it
    // since (its cache holds them then).
    [[nodiscard]] bool pulls(const void* buffer) const {
      const auto it = sim_.writers_.find(buffer);
      if (it == sim_.writers_.end() || (it->second == task_.id() && !sim_.streamed_.contains(buffer))) return false;
      const auto r = sim_.readers_.find(buffer);
      return r == sim_.readers_.end() || std::find(r->second.begin(), r->second.end(), task_.id()) == r->second.end();
    }
    // Where pulled lines come from: memory for a streamed buffer, else the writer's core.
    [[nodiscard]] double pull_bandwidth(const void* buffer) const {
      return sim_.streamed_.contains(buffer) ? sim_.costs_.stream_read_bandwidth : sim_.costs_.shared_copy_bandwidth;
    }
    // This task reads `buffer` until someone writes it.
    void reads(const void* buffer) {
      std::vector<std::size_t>& readers = sim_.readers_[buffer];
      if (std::find(readers.begin(), readers.end(), task_.id()) == readers.end()) readers.push_back(task_.id());
    }
    // Lines of `buffer` that other tasks read since it was last written are invalidated there
    // before this task writes them.
    void take_back(const void* buffer, std::size_t floats) {
      const auto it = sim_.readers_.find(buffer);
      if (it == sim_.readers_.end()) return;
      const bool others = std::any_of(it->second.begin(), it->second.end(), [&](std::size_t r) { return r != task_.id(); });
      if (others) invalidate_elsewhere(floats);
    }
    // `floats` floats' lines that another core holds, invalidated there before this task's
    // writes: 4 bytes a float at the shared write bandwidth (0: free).
    void invalidate_elsewhere(std::size_t floats) {
      if (sim_.costs_.shared_write_bandwidth > 0.0) {
        compute(4.0 * static_cast<double>(floats) / sim_.costs_.shared_write_bandwidth);
      }
    }

    // A cache line that another task touched last moves to this task's core first.
    [[nodiscard]] double handover(std::size_t last) const noexcept {
      return last != nobody && last != task_.id() ? sim_.costs_.line_handover_seconds : 0.0;
    }

    simulation& sim_;
    task& task_;
    std::size_t node_;
    rng draws_;
    bool slow_;
  };

  cost_model costs_;
  std::uint64_t seed_;
  scheduler scheduler_;
  double end_ = 0.0;
  double memory_free_at_ = 0.0;  // when the shared memory system has served the transfers so far
  std::vector<double> core_free_at_;  // with cost_model::cores: when each core has done the work booked on it
  std::unordered_map<const void*, std::size_t> lines_;  // the task that touched a shared word last
  std::unordered_map<const void*, std::size_t> writers_;  // the task that wrote a buffer last (copy_from)
  std::unordered_map<const void*, std::vector<std::size_t>> readers_;  // tasks that read it since
  std::unordered_set<const void*> streamed_;  // buffers last written with streaming stores (stream)
  std::unordered_map<const void*, lock_state> locks_;
  std::unordered_map<const void*, std::vector<std::size_t>> parked_;
};

}  // namespace asgd::inline v0::sim

// What a trainer's run does when simulate(), record() or replay() asked for it.
#include <asgd/trainer/simulated.hpp>
