#pragma once
/// @file
/// `asgd::sim::cost_model`: what the simulator charges in virtual time for a gradient, a copy,
/// an update, an atomic, a lock, a cache-line hand-over, a quantizer's coding and a message; built in for the
/// development machine, or read from a file of `key = value` lines.
///
/// The file format (every key optional; a key left out keeps the built-in `machine` value):
///
/// ```
/// # comments start with '#'
/// gradient_per_sample = 5.1e-6                 # seconds: a constant
/// gradient_per_sample = lognormal(5.1e-6, 0.3) # or a median and a log-space spread
/// copy_bandwidth = 3.5e10                      # bytes per second, each task's own
/// memory_bandwidth = 2e11                      # bytes per second, all tasks' together (0: no limit)
/// shared_write_bandwidth = 7e9                 # writing lines other cores read (0: not charged)
/// stream_write_bandwidth = 3e10                # streaming stores (0: charged as plain writes)
/// stream_read_bandwidth = 3.3e10               # reading what they wrote (0 with the above)
/// cores = 2                                    # cores all tasks share (0: a core per task)
/// slow_node = 0                                # node id, or "none"
/// slow_factor = 3                              # its gradients take 3 times as long
/// evaluation_seconds = 0.017                   # an evaluation of the test set, on a core (0: free)
/// link_all_reduce = open_mpi                   # in_process, ring, halving_doubling, recursive_doubling
/// ```
///
/// What `trainer::simulate` and `sim::run_in_process` charge (docs/simulation.md).

#include <asgd/detail/config.hpp>
#include <asgd/random.hpp>

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>

namespace asgd::inline v0::sim {

/// A duration drawn per event: `median` seconds, times exp(sigma N(0, 1)) when sigma > 0 (a
/// lognormal: a straggling step is a few times the median, never negative).
struct duration {
  double median = 0.0;
  double sigma = 0.0;

  /// One draw from `g` (the same sequence of draws for the same seed on every host).
  [[nodiscard]] double draw(rng& g) const { return sigma == 0.0 ? median : median * std::exp(sigma * g.normal()); }
  friend bool operator==(const duration&, const duration&) = default;
};

/// How an all-reduce over the simulated link is charged (the cost model's `link_all_reduce`).
enum class all_reduce_model {
  /// What transport::in_process does: each node's vector is one message on the link, then the
  /// last node to arrive reads every vector and writes the mean into each, on its core (the
  /// copies charged as they happen). The cost of one process's in-process nodes.
  in_process,
  /// A cluster's ring all-reduce (NCCL's ring; Open MPI's for large vectors): a reduce-scatter
  /// and an all-gather of n - 1 steps each, every step a message of 1/n of the vector to the next
  /// node: 2 (n - 1) (latency + bytes / (n bandwidth)).
  ring,
  /// Rabenseifner's all-reduce (MPICH's for long vectors): a reduce-scatter by recursive
  /// halving, an all-gather by recursive doubling, 2 log2(p) steps with p the largest power of
  /// two <= n, each node's bytes 2 (p - 1) / p of the vector. Here and in recursive_doubling,
  /// the n - p nodes beyond p first hand their vector to a partner and at the end get the mean
  /// back (two messages of the whole vector more).
  halving_doubling,
  /// Recursive doubling: log2(p) steps, each an exchange of the whole vector with a partner and
  /// its sum (Open MPI's and MPICH's for short vectors).
  recursive_doubling,
  /// Open MPI's fixed decision (coll/tuned, for a sum): recursive doubling for vectors under
  /// 10,000 bytes, the ring for longer ones.
  open_mpi,
};

/// The costs of the simulated machine, in seconds and bytes per second.
struct cost_model {
  /// No slow node.
  static constexpr std::size_t no_node = std::numeric_limits<std::size_t>::max();

  duration gradient_per_sample;          // one sample's gradient (the problem's; calibrate it)
  double copy_bandwidth = 0.0;           // copying a model: bytes of the model per second
  double shared_copy_bandwidth = 0.0;    // the same, of a model that another core wrote last (its lines move;
                                         // an update of such a chunk pays this first too)
  double shared_write_bandwidth = 0.0;   // writing a buffer that another core has read since this task
                                         // wrote it: 4 bytes a float at this rate more, as each line is
                                         // first taken back from that core (0: not charged)
  double stream_write_bandwidth = 0.0;   // writing a buffer with streaming stores (a Leashed-SGD version, a
                                         // `synchronous` slice: detail::stream_fill), values from this core's
                                         // cache: the buffer's bytes per second; no lines taken back from
                                         // readers (0: such writes charged as plain ones)
  double stream_read_bandwidth = 0.0;    // reading a buffer so written, by a task that has not read it since
                                         // (its writer too): its lines come from memory (0 with the above)
  double update_bandwidth = 0.0;         // a dense update x -= lr g: 12 bytes per coordinate
  double memory_bandwidth = 0.0;         // bytes all tasks move together: copies, updates, streams, pulls (0: no shared limit)
  double atomic_seconds = 0.0;           // one lock-prefixed read-modify-write (a CAS, a fetch_add)
  double lock_seconds = 0.0;             // taking and releasing an uncontended lock
  double line_handover_seconds = 0.0;    // a cache line moving to another core, one way
  double wake_seconds = 0.0;             // a task woken from a wait (a condition, a barrier) runs this much later
  double wake_cpu_seconds = 0.0;         // of which this much is the OS's work on a core (at most wake_seconds)
  double sleep_overshoot_seconds = 0.0;  // a sleep (a link delay of the in-process transport) lasts this much longer
  double encode_seconds = 0.0;           // the run's quantizer encoding one coordinate (calibrate_quantizer)
  double decode_seconds = 0.0;           // and decoding one
  double evaluation_seconds = 0.0;       // one evaluation of the problem's test set in a pause, on a core
                                         // (calibrate_evaluation; 0: evaluations take no virtual time)
  double link_latency_seconds = 0.0;     // a message between nodes: latency
  double link_bandwidth = 0.0;           // and bytes per second
  std::size_t slow_node = no_node;       // a straggler node, or no_node
  double slow_factor = 1.0;              // its gradients take this many times as long
  std::size_t cores = 0;                 // cores that all tasks share (0: a core per task)
  all_reduce_model link_all_reduce = all_reduce_model::in_process;  // how an all-reduce is charged

  /// This development machine (2 vCPU AMD Zen 5 VM) for a model that stays in cache like the
  /// Fashion-MNIST MLP's 101,770 floats, from its measured figures in docs/performance.md: a
  /// copy at 170 GB/s counting reads and writes, so 85 GB/s of the model's bytes; the plain
  /// dense update at 10.1 G coordinates/s (121 GB/s of 12 bytes); a lock-prefixed operation
  /// 7 ns (6-8); a cache-line hand-over 250 ns one way; a sample's gradient of the MLP 5.1 us
  /// (sequential SGD's 175k samples/s at batch 16 is 5.7 us a sample, less the update's 10 us a
  /// step, which the simulator charges on its own), with a lognormal spread of 0.17 from step to
  /// step (calibrate_gradient on the MLP at batch 16: 0.16-0.17 in five runs of 301 calls, 2 Dec
  /// 2026; without a spread, workers that start together stay in step for ever). A std::mutex lock and unlock 14 ns:
  /// calibrate_machine, three runs on 2 Dec 2026 (13-15 ns; they also gave copies of 81-92 GB/s,
  /// updates of 140-161 GB/s, atomics of 5.7-6.3 ns and hand-overs of 227-247 ns). A 10 Gb/s
  /// link with 5 us of latency: the network of the simulator's planned scale runs, its
  /// all-reduce the in-process transport's (all_reduce_model::in_process). No wake-up
  /// latency and no sleep overshoot: those are an OS's (calibrate_machine measures them, and a
  /// model of this machine's in-process runs sets them: experiments/simulated/this-machine.costs).
  /// A copy of the MLP's model that the other core has just written: 11.1-11.4 GB/s (three runs
  /// on 3 Dec 2026, calibrate_machine's method; the same run copied a model of its own core at
  /// 21 GB/s with cold destination lines, and calibrate_machine's hot copy gives 80-90).
  /// Writing lines another core has read: not charged here (0), not having been measured on
  /// that machine; calibrate_machine measures it (5 Dec 2026, an Intel Xeon VM of 2 vCPUs: a
  /// read-modify-write pass over the MLP's model took 62-65 us after the other core had read it,
  /// against 7.4 us otherwise: about 7 GB/s of the model's bytes). Streaming stores: not priced
  /// here (0: written as plain writes are charged), as the figures above predate them;
  /// calibrate_machine measures them (7 Dec 2026, the AMD EPYC VM: the MLP's model streamed out
  /// in 13 us, about 31 GB/s, where a plain rewrite of it after the other core's read took 69 us;
  /// the other core's copy of it 11-12 us, as of a plainly written one).
  /// The quantizer's coding: identity's, 0.23 ns a coordinate each way (calibrate_quantizer over
  /// the MLP's size, four runs on 3 Dec 2026: encode 0.18-0.39 ns, decode 0.19-0.25 ns: the bytes
  /// copied out of cache); another quantizer's is its own (the lattice's, at 8 or 16 bits: 2.1-2.8
  /// ns each way, `asgd-train --simulate machine --calibrate --nodes 2 --quantize lattice
  /// --lattice-bits B`, two runs each on 7 Dec 2026).
  /// Evaluations: free (0), as what one costs is the problem's and its test set's (the MLP's on
  /// Fashion-MNIST's 10,000 test images: 16-20 ms, 6 Dec 2026; calibrate_evaluation). No shared
  /// memory bandwidth: a machine of 2 cores cannot say what 64 cores share (its two copy at
  /// 398 GB/s together in cache, 97 GB/s from DRAM); set memory_bandwidth for the machine simulated.
  [[nodiscard]] static cost_model machine();

  /// @throws std::invalid_argument naming the first field that is negative, not finite, or 0
  /// where a rate must be positive
  ASGD_DECL void validate() const;

  /// With a cluster's all-reduce (`link_all_reduce` other than in_process): the seconds from
  /// the last of `nodes` nodes joining an all-reduce of `bytes` until every node holds the mean,
  /// the messages on the link plus each node's sums (its share of the vector added at
  /// update_bandwidth, 12 bytes a float as in x += y). 0 for in_process, whose costs are the
  /// messages and copies the transport charges as it makes them, and for one node.
  [[nodiscard]] ASGD_DECL double all_reduce_seconds(std::size_t nodes, std::size_t bytes) const;

  friend bool operator==(const cost_model&, const cost_model&) = default;
};

inline cost_model cost_model::machine() {
  cost_model m;
  m.gradient_per_sample = {5.1e-6, 0.17};
  m.copy_bandwidth = 8.5e10;
  m.shared_copy_bandwidth = 1.1e10;
  m.update_bandwidth = 1.21e11;
  m.atomic_seconds = 7e-9;
  m.lock_seconds = 1.4e-8;
  m.line_handover_seconds = 2.5e-7;
  m.encode_seconds = 2.3e-10;
  m.decode_seconds = 2.3e-10;
  m.link_latency_seconds = 5e-6;
  m.link_bandwidth = 1.25e9;
  return m;
}

/// Reads a cost model from `text` in the format above, starting from `machine()`.
/// @throws std::invalid_argument "asgd: cost model <name> line <n>: ..." for an unknown key, a
/// value that is not a number (or lognormal(median, sigma) for a duration), a key given twice,
/// or a model that fails validate()
ASGD_DECL cost_model parse_cost_model(std::string_view text, std::string_view name = "(text)");

/// Reads the file `path` with parse_cost_model.
/// @throws std::invalid_argument also when the file cannot be read
ASGD_DECL cost_model read_cost_model(const std::filesystem::path& path);

/// The model in the file format, every key written; parse_cost_model reads it back equal.
ASGD_DECL std::string to_text(const cost_model& m);

}  // namespace asgd::inline v0::sim

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/cost_model.ipp>
#endif
