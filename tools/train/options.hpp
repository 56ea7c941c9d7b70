#pragma once
// asgd-train's command line: the options, their defaults, and the parser that names the
// option and the accepted values when something is wrong.

// What the options' types need, not the umbrella: three of asgd-train's units include only this.
#include <asgd/consistency/leashed.hpp>
#include <asgd/data/images.hpp>
#include <asgd/schedule.hpp>
#include <asgd/settings.hpp>
#include <asgd/shards.hpp>
#include <asgd/sim/cost_model.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd_train {

/// A bad command line: the message names the option and what it accepts (exit status 2).
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline const std::vector<std::string> all_models = {"mlp", "cnn", "lenet5"};
inline const std::vector<std::string> all_modes = {"sequential", "synchronous", "locked", "hogwild",
                                                   "atomic_add", "leashed", "bounded_staleness", "replicas"};
inline const std::vector<std::string> all_selectors = {"full", "partitioned", "random_from_owned",
                                                       "random_block", "round_robin", "alternate_full_partial"};
inline const std::vector<std::string> all_topologies = {
    "all_reduce", "ring", "torus", "exponential", "random_pairs", "random_pairs_one_sided", "federated",
    "swarm",      "swarm_one_sided", "adpsgd"};
inline bool is_gossip(const std::string& topology) { return topology.rfind("swarm", 0) == 0 || topology == "adpsgd"; }
inline const std::vector<std::string> all_quantizers = {"identity",  "fp16",      "bf16",       "qsgd8",     "qsgd4",
                                                         "lattice",   "diff-fp16", "diff-bf16", "diff-qsgd8", "diff-qsgd4"};

struct options {
  std::string model = "mlp";
  std::vector<std::size_t> hidden = {128};
  std::vector<std::string> modes = {"hogwild"};
  bool compare = false;
  std::size_t threads = 2;
  std::size_t epochs = 1;
  std::size_t steps = 0;
  std::size_t batch = 16;
  float lr = 0.01f;
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 0.0f;
  asgd::schedule lr_schedule = asgd::schedule::cosine();
  std::string select = "full";
  std::size_t blocks = 0;
  double select_warmup = 1.0;
  std::size_t persistence = asgd::consistency::leashed::unbounded;
  std::size_t staleness_bound = 4;
  std::size_t sync_every = 4;
  asgd::staleness_scaling staleness = {};
  asgd::sampling sample_order = asgd::sampling::shared;
  std::uint64_t seed = 1;
  std::filesystem::path data = asgd::data::fashion_mnist_dir;
  bool standardize = true;
  std::filesystem::path json;
  std::filesystem::path checkpoint;
  std::uint64_t checkpoint_every = 0;
  std::filesystem::path resume;
  std::size_t evals_per_epoch = 0;
  std::size_t epochs_per_eval = 1;  // evaluate at every n-th epoch's end (and the last)
  bool background_evaluations = true;  // non-blocking nodes evaluate beside their workers
  double target_accuracy = 0.0;  // report the training time to this test accuracy (0: none)
  // Nodes that average (in_process: --nodes threads groups; mpi: one node per rank).
  std::size_t nodes = 1;
  std::string transport = "in_process";
  std::string topology = "all_reduce";
  std::string quantize = "identity";
  asgd::averaging_settings averaging = {};
  double fraction = 0.5;         // federated
  asgd::sharding shards = {};    // --shard, --shard-sizes
  std::string graph;             // swarm, adpsgd: complete, ring, torus, regular:D, exponential ("": the topology's)
  double lattice_epsilon = 1e-4;  // lattice
  unsigned lattice_bits = 16;
  double latency = 0.0;          // in_process's simulated link
  double bandwidth = 0.0;
  double straggler_delay = 0.0;
  double straggler_slowdown = 1.0;  ///< node 0's (rank 0's) compute is this many times slower
  double timeout = 60.0;
  // --simulate: the cost model of a simulated run ("machine" or a file), and the model read.
  std::string simulate;
  std::optional<asgd::sim::cost_model> costs;
  // --calibrate: this machine's figures, measured before training, replace the model's.
  bool calibrate = false;
  // --record: a file to save the real run's interleaving to; --replay: one to replay.
  std::filesystem::path record;
  std::filesystem::path replay;
  std::size_t exposed = 0;       // --exposed N: N interleaved pairs of runs with and without exchanges
  // --device cuda: W workers on one GPU; --transport nccl: a node per rank and GPU.
  std::string device = "cpu";
  std::size_t gpu_workers = 4;
  bool quiet = false;
  bool help = false;
};

/// True when this asgd-train was built with the MPI transport, the CUDA back end, NCCL.
bool built_with_mpi();
bool built_with_cuda();
bool built_with_nccl();

/// Parses argv; throws usage_error naming the option and the accepted values.
options parse(int argc, const char* const* argv);

/// Which options the command line gave (some defaults and checks depend on it).
struct given_options {
  bool mode = false, compare = false, nodes = false, gpu_workers = false, threads = false, evals = false,
       every = false;
};

/// What one option says about another (checks.cpp): throws usage_error naming both; fills the
/// defaults that depend on which options were given. parse() calls it last.
void check_combinations(options& o, const given_options& given);

/// The --help text.
std::string help_text();

}  // namespace asgd_train
