#include "options.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

namespace asgd_train {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

[[noreturn]] void bad(const std::string& option, const std::string& value, const std::string& accepts) {
  throw usage_error("asgd-train: " + option + " '" + value + "': " + accepts);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

template <class T>
T integer(const std::string& option, const std::string& v, T lo, T hi) {
  T out{};
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size() || out < lo || out > hi) {
    bad(option, v, "expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return out;
}

double real(const std::string& option, const std::string& v, double lo, double hi, bool open_lo = false) {
  std::size_t used = 0;
  double out = 0.0;
  try {
    out = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty() || !std::isfinite(out) || out < lo || out > hi || (open_lo && out == lo)) {
    std::ostringstream why;
    why << "expects a number in " << (open_lo ? "(" : "[") << lo << ", " << hi << "]";
    bad(option, v, why.str());
  }
  return out;
}

std::string one_of(const std::string& option, const std::string& v, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (a == v) return v;
  bad(option, v, "expects one of " + join(allowed));
}

asgd::schedule parse_schedule(const std::string& v) {
  const auto parts = split(v, ':');
  const std::string accepts = "expects constant, cosine, multistep:E1,E2,...[:GAMMA] or backoff:BETA";
  if (v == "constant") return asgd::schedule::constant();
  if (v == "cosine") return asgd::schedule::cosine();
  if (parts.size() >= 2 && parts[0] == "multistep" && parts.size() <= 3) {
    std::vector<double> at;
    for (const auto& e : split(parts[1], ',')) at.push_back(real("--schedule", e, 0.0, 1e6));
    if (at.empty()) bad("--schedule", v, "multistep needs at least one epoch, e.g. multistep:30,60");
    for (std::size_t i = 1; i < at.size(); ++i)
      if (at[i] <= at[i - 1]) bad("--schedule", v, "multistep epochs must increase");
    const double gamma = parts.size() == 3 ? real("--schedule", parts[2], 0.0, 1.0, true) : 0.1;
    return asgd::schedule::multistep(at, gamma);
  }
  if (parts.size() == 2 && parts[0] == "backoff") return asgd::schedule::backoff(real("--schedule", parts[1], 0.0, 1.0, true));
  bad("--schedule", v, accepts);
}

// What the GPU path trains and how: refused here, before any data is read.
void check_gpu(const options& o, bool saw_threads) {
  const auto refuse = [](const std::string& why) { throw usage_error("asgd-train: " + why); };
  if (o.device != "cuda") refuse("--transport nccl averages GPU nodes: add --device cuda");
  if (o.model != "mlp") refuse("--device cuda trains --model mlp only, not " + o.model);
  for (const auto& m : o.modes) {
    if (m != "hogwild" && m != "atomic_add" && m != "leashed") {
      refuse("--device cuda: --mode '" + m + "': expects one of hogwild, atomic_add, leashed");
    }
  }
  if (o.transport == "mpi") refuse("--device cuda: GPU nodes average through --transport nccl, not mpi");
  if (o.nodes > 1) refuse("--device cuda: one node per GPU: --transport nccl under mpirun, not --nodes");
  if (saw_threads) refuse("--threads applies to --device cpu; on the GPU, --gpu-workers sets the workers");
  if (!o.checkpoint.empty() || !o.resume.empty()) refuse("--checkpoint and --resume apply to --device cpu");
  if (o.target_accuracy > 0.0) refuse("--target-accuracy applies to --device cpu (a GPU run is evaluated at its end)");
  if (o.evals_per_epoch > 0) refuse("--evals-per-epoch applies to --device cpu (a GPU run is evaluated at its end)");
  if (o.sample_order != asgd::sampling::shared) refuse("--sampling sharded applies to --device cpu");
  if (o.shards != asgd::sharding{}) refuse("--shard and --shard-sizes apply to --device cpu");
  if (o.staleness.type != asgd::staleness_scaling::kind::none) refuse("--staleness-scaling applies to --device cpu");
  if (o.averaging.blocking || o.averaging.local_after_epoch > 0.0) {
    refuse("--blocking and --local-after apply to --device cpu");
  }
  if (o.quantize != "identity" && o.quantize != "fp16" && o.quantize != "bf16" && o.quantize != "qsgd8") {
    refuse("--device cuda: --quantize '" + o.quantize + "': expects one of identity, fp16, bf16, qsgd8");
  }
  // What this build has, last: the checks above hold in every build, so they are tested in every build.
  if (!built_with_cuda()) {
    refuse("--device cuda: this asgd-train was built without CUDA (configure with -DASGD_ENABLE_CUDA=ON and the "
           "CUDA toolkit installed)");
  }
  if (o.transport == "nccl" && !built_with_nccl()) {
    refuse("--transport nccl: this asgd-train was built without NCCL (configure with -DASGD_ENABLE_NCCL=ON)");
  }
}

}  // namespace

std::string help_text() {
  return R"(asgd-train: train a network on Fashion-MNIST with threads sharing one model.

usage: asgd-train [options]

model and data
  --model mlp|cnn|lenet5          network (default mlp); cnn is Leashed-SGD's CNN
  --hidden N[,N...]               MLP hidden layers (default 128)
  --data DIR                      IDX files {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
                                  (default /usr/share/datasets/fashion-mnist; MNIST works too)
  --no-standardize                keep pixels in [0, 1] instead of zero mean, unit variance

how threads share the model
  --mode MODE                     sequential, synchronous, locked, hogwild (default), atomic_add,
                                  leashed, bounded_staleness, replicas
  --compare MODE[,MODE...]        run each mode with the same settings; print a table
  --threads N                     worker threads (default 2; sequential uses 1)
  --persistence N|unbounded       leashed: failed CAS before a gradient is dropped (default unbounded)
  --staleness-bound K             bounded_staleness: updates a worker may lead (default 4)
  --sync-every H                  replicas: a worker's steps between adding its change to the
                                  shared model and taking the sum back (default 4)
  --staleness-scaling none|inverse|fleet   step scaling by staleness (default none)

what a step does
  --epochs N                      passes over the training set (default 1)
  --steps N                       minibatches in total instead of epochs
  --batch N                       samples per minibatch (default 16)
  --lr X                          learning rate (default 0.01)
  --momentum X                    momentum, 0 for plain SGD (default 0.9)
  --nesterov                      Nesterov momentum
  --weight-decay X                L2 weight decay (default 0)
  --schedule S                    constant, cosine (default), multistep:E1,E2[:GAMMA], backoff:BETA
  --warmup EPOCHS                 linear learning-rate warm-up (default 0)
  --select SELECTOR               full (default), partitioned, random_from_owned, random_block,
                                  round_robin, alternate_full_partial
  --blocks N                      random_block and round_robin: number of blocks (default: layers)
  --select-warmup EPOCHS          alternate_full_partial: full steps before alternating (default 1)
  --sampling shared|sharded       each worker shuffles all samples, or its own share (default shared)
  --seed N                        initial model, sampling, block choices, matchings (default 1)

nodes that average (each node: --threads workers on its share of the data, plus an averager)
  --nodes N                       nodes in this process (default 1: no averaging)
  --transport in_process|mpi      nodes as thread groups (default), or one node per MPI rank:
                                  mpirun -np N asgd-train --transport mpi ...
  --topology T                    rounds: all_reduce (default), ring, torus, exponential,
                                  random_pairs, random_pairs_one_sided, federated;
                                  event-driven gossip: swarm, swarm_one_sided, adpsgd
  --avg-every H                   node steps between averaging rounds (default 8)
  --local-steps H                 gossip: mean local steps between a node's interactions
                                  (swarm: geometric; adpsgd: exactly H, default 1)
  --graph G                       gossip: complete, ring, torus, regular:D, exponential
                                  (default: complete for swarm, ring for adpsgd)
  --local-after EPOCHS            post-local SGD: average every step before, every H after (0)
  --blocking                      workers pause while the node averages (local SGD); default:
                                  non-blocking in-place averaging (LAP-SGD)
  --no-final-average              skip the global average after the last step
  --consensus-every N             measure the consensus distance every N rounds (default: at the end)
  --no-exchange                   rounds and gossip events keep each node's own model (no encode,
                                  transfer, decode or mix): the baseline for --exposed
  --exposed N                     after the run, N more pairs of runs, with and without exchanges,
                                  interleaved: the communication time the run exposed (median
                                  training time with exchanges minus without)
  --quantize Q                    identity (default), fp16, bf16, qsgd8, qsgd4, lattice
  --fraction X                    federated: share of the nodes averaging each round (default 0.5);
                                  each node weighted by its shard's size
  --shard iid|dirichlet:ALPHA     how nodes split the training set: contiguous ranges (default),
                                  or each class split in Dirichlet(ALPHA) proportions (0.1: most
                                  nodes hold one or two classes); every node takes the same steps
  --shard-sizes W,W,...           iid: relative shard sizes, one per node (default equal)
  --lattice-epsilon X             lattice: cell size (default 1e-4)
  --lattice-bits B                lattice: bits per coordinate, 2..24 (default 16); a decode
                                  farther than X 2^B / 2 from the receiver's model is an error
  --latency S, --bandwidth B/s, --straggler-delay S
                                  in_process: simulated link (node 0 is the straggler)
  --timeout S                     seconds a node waits for a peer before it fails (default 60;
                                  --transport mpi and nccl)

on a GPU (an asgd-train built with -DASGD_ENABLE_CUDA=ON; the MLP only)
  --device cpu|cuda               where the workers train (default cpu)
  --gpu-workers W                 cuda: concurrent workers on the GPU, each a stream (default 4);
                                  --mode hogwild, atomic_add or leashed; samples drawn at random
  --transport nccl                cuda: one node per MPI rank and GPU, averaging through NCCL:
                                  mpirun -np N asgd-train --device cuda --transport nccl ...
                                  (--quantize identity, fp16, bf16 or qsgd8)

output and failure
  --json FILE                     the full report as JSON, written atomically
  --evals-per-epoch N             also evaluate the test set N times per epoch (for curves)
  --target-accuracy P             report the training time to P% test accuracy (evaluates
                                  10 times per epoch unless --evals-per-epoch says otherwise)
  --checkpoint FILE               write checkpoints (atomically) to FILE ...
  --checkpoint-every N            ... every N minibatches (and at the end)
  --resume FILE                   continue from a checkpoint of the same configuration
  --quiet                         no per-epoch progress on stderr
  --help                          this text

Progress goes to stderr, the summary to stdout. Exit status: 0 done, 1 failed (bad data,
diverged training, unusable checkpoint, an output that cannot be written, a lost node), 2 bad
command line (an option, a value, or settings the trainer refuses). With nodes, node
(rank) 0 prints the progress and the summary, and --json holds every node's report (under
mpi, rank 0's).
)";
}

options parse(int argc, const char* const* argv) {
  options o;
  bool saw_mode = false, saw_compare = false, saw_nodes = false, saw_gpu_workers = false, saw_threads = false,
       saw_evals = false, saw_every = false;
  for (int i = 1; i < argc; ++i) {
    // "--option value" or "--option=value"
    std::string arg = argv[i], value;
    const auto eq = arg.find('=');
    const bool inline_value = arg.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_value) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto flag = [&] {
      if (inline_value) bad(arg, value, "takes no value");
    };
    auto take = [&]() -> std::string {
      if (!inline_value) {
        if (i + 1 >= argc) throw usage_error("asgd-train: " + arg + " needs a value (see --help)");
        value = argv[++i];
      }
      // An empty value (--json '', --compare '') would silently do nothing.
      if (value.empty()) throw usage_error("asgd-train: " + arg + " needs a value, not an empty one (see --help)");
      return value;
    };
    if (arg == "--help" || arg == "-h") {
      flag();
      o.help = true;
    } else if (arg == "--model") {
      o.model = one_of(arg, take(), all_models);
    } else if (arg == "--hidden") {
      const std::string v = take();
      o.hidden.clear();
      for (const auto& h : split(v, ',')) o.hidden.push_back(integer<std::size_t>(arg, h, 1, 1 << 16));
    } else if (arg == "--data") {
      o.data = take();
    } else if (arg == "--no-standardize") {
      flag();
      o.standardize = false;
    } else if (arg == "--mode") {
      o.modes = {one_of(arg, take(), all_modes)};
      saw_mode = true;
    } else if (arg == "--compare") {
      const std::string v = take();
      o.modes.clear();
      for (const auto& m : split(v, ',')) o.modes.push_back(one_of(arg, m, all_modes));
      o.compare = true;
      saw_compare = true;
    } else if (arg == "--threads") {
      o.threads = integer<std::size_t>(arg, take(), 1, 4096);
      saw_threads = true;
    } else if (arg == "--persistence") {
      const std::string v = take();
      o.persistence = v == "unbounded" ? asgd::consistency::leashed::unbounded
                                       : integer<std::size_t>(arg, v, 0, 1000000);
    } else if (arg == "--staleness-bound") {
      o.staleness_bound = integer<std::size_t>(arg, take(), 0, 1000000);
    } else if (arg == "--sync-every") {
      o.sync_every = integer<std::size_t>(arg, take(), 1, std::size_t{1} << 20);
    } else if (arg == "--staleness-scaling") {
      const std::string v = one_of(arg, take(), {"none", "inverse", "fleet"});
      using k = asgd::staleness_scaling::kind;
      o.staleness.type = v == "none" ? k::none : v == "inverse" ? k::inverse : k::fleet;
    } else if (arg == "--epochs") {
      o.epochs = integer<std::size_t>(arg, take(), 1, 100000);
    } else if (arg == "--steps") {
      o.steps = integer<std::size_t>(arg, take(), 1, std::size_t{1} << 40);
    } else if (arg == "--batch") {
      o.batch = integer<std::size_t>(arg, take(), 1, 1 << 20);
    } else if (arg == "--lr") {
      o.lr = static_cast<float>(real(arg, take(), 0.0, 1e3, true));
    } else if (arg == "--momentum") {
      o.momentum = static_cast<float>(real(arg, take(), 0.0, 0.999));
    } else if (arg == "--nesterov") {
      flag();
      o.nesterov = true;
    } else if (arg == "--weight-decay") {
      o.weight_decay = static_cast<float>(real(arg, take(), 0.0, 1e3));
    } else if (arg == "--schedule") {
      const double warmup = o.lr_schedule.warmup_epochs;
      o.lr_schedule = parse_schedule(take());
      o.lr_schedule.warmup_epochs = warmup;
    } else if (arg == "--warmup") {
      o.lr_schedule.warmup_epochs = real(arg, take(), 0.0, 1e6);
    } else if (arg == "--select") {
      o.select = one_of(arg, take(), all_selectors);
    } else if (arg == "--blocks") {
      o.blocks = integer<std::size_t>(arg, take(), 1, std::size_t{1} << 30);
    } else if (arg == "--select-warmup") {
      o.select_warmup = real(arg, take(), 0.0, 1e6);
    } else if (arg == "--sampling") {
      o.sample_order = one_of(arg, take(), {"shared", "sharded"}) == "shared" ? asgd::sampling::shared
                                                                              : asgd::sampling::sharded;
    } else if (arg == "--seed") {
      o.seed = integer<std::uint64_t>(arg, take(), 0, ~std::uint64_t{0});
    } else if (arg == "--json") {
      o.json = take();
    } else if (arg == "--checkpoint") {
      o.checkpoint = take();
    } else if (arg == "--checkpoint-every") {
      o.checkpoint_every = integer<std::uint64_t>(arg, take(), 1, ~std::uint64_t{0});
    } else if (arg == "--resume") {
      o.resume = take();
    } else if (arg == "--evals-per-epoch") {
      o.evals_per_epoch = integer<std::size_t>(arg, take(), 0, 1000);
      saw_evals = true;
    } else if (arg == "--target-accuracy") {
      o.target_accuracy = real(arg, take(), 0.0, 100.0, true);
    } else if (arg == "--nodes") {
      o.nodes = integer<std::size_t>(arg, take(), 1, 1024);
      saw_nodes = true;
    } else if (arg == "--transport") {
      o.transport = one_of(arg, take(), {"in_process", "mpi", "nccl"});
    } else if (arg == "--device") {
      o.device = one_of(arg, take(), {"cpu", "cuda"});
    } else if (arg == "--gpu-workers") {
      o.gpu_workers = integer<std::size_t>(arg, take(), 1, 256);
      saw_gpu_workers = true;
    } else if (arg == "--topology") {
      o.topology = one_of(arg, take(), all_topologies);
    } else if (arg == "--avg-every" || arg == "--local-steps") {
      o.averaging.every = integer<std::size_t>(arg, take(), 1, std::size_t{1} << 30);
      saw_every = true;
    } else if (arg == "--graph") {
      const std::string v = take();
      if (v.rfind("regular:", 0) == 0) {
        const std::string d = v.substr(8);
        if (d.empty() || d.size() > 5 || d.find_first_not_of("0123456789") != std::string::npos || std::stoul(d) == 0) {
          bad(arg, v, "expects regular:D with the degree D an integer in [1, 99999]");
        }
        o.graph = v;
      } else {
        o.graph = one_of(arg, v, {"complete", "ring", "torus", "regular:D", "exponential"});
        if (o.graph == "regular:D") bad(arg, v, "give the degree: regular:D, e.g. regular:4");
      }
    } else if (arg == "--local-after") {
      o.averaging.local_after_epoch = real(arg, take(), 0.0, 1e6);
    } else if (arg == "--blocking") {
      flag();
      o.averaging.blocking = true;
    } else if (arg == "--no-final-average") {
      flag();
      o.averaging.final_average = false;
    } else if (arg == "--no-exchange") {
      flag();
      o.averaging.exchange = false;
    } else if (arg == "--exposed") {
      o.exposed = integer<std::size_t>(arg, take(), 1, 20);
    } else if (arg == "--consensus-every") {
      o.averaging.consensus_every = integer<std::size_t>(arg, take(), 0, std::size_t{1} << 30);
    } else if (arg == "--quantize") {
      o.quantize = one_of(arg, take(), all_quantizers);
    } else if (arg == "--shard") {
      const std::string v = take();
      if (v == "iid") {
        o.shards.type = asgd::sharding::kind::iid;
      } else if (v.rfind("dirichlet:", 0) == 0) {
        o.shards.type = asgd::sharding::kind::dirichlet;
        o.shards.alpha = real("--shard dirichlet:ALPHA", v.substr(10), 0.0, 1e6, true);
      } else {
        bad(arg, v, "expects iid or dirichlet:ALPHA (e.g. dirichlet:0.1)");
      }
    } else if (arg == "--shard-sizes") {
      const std::string v = take();
      o.shards.sizes.clear();
      for (const auto& e : split(v, ',')) o.shards.sizes.push_back(real(arg, e, 0.0, 1e15, true));
    } else if (arg == "--fraction") {
      o.fraction = real(arg, take(), 0.0, 1.0, true);
    } else if (arg == "--lattice-epsilon") {
      o.lattice_epsilon = real(arg, take(), 0.0, 1e6, true);
    } else if (arg == "--lattice-bits") {
      o.lattice_bits = integer<unsigned>(arg, take(), 2, 24);
    } else if (arg == "--latency") {
      o.latency = real(arg, take(), 0.0, 1e3);
    } else if (arg == "--bandwidth") {
      o.bandwidth = real(arg, take(), 0.0, 1e15);
    } else if (arg == "--straggler-delay") {
      o.straggler_delay = real(arg, take(), 0.0, 1e3);
    } else if (arg == "--timeout") {
      o.timeout = real(arg, take(), 0.0, 1e6, true);
    } else if (arg == "--quiet") {
      flag();
      o.quiet = true;
    } else {
      throw usage_error("asgd-train: unknown option '" + std::string(argv[i]) + "' (see --help)");
    }
  }
  if (saw_mode && saw_compare) throw usage_error("asgd-train: give --mode or --compare, not both");
  if (o.exposed > 0 && o.transport != "mpi" && o.nodes < 2) {
    throw usage_error("asgd-train: --exposed measures the communication of nodes: give --nodes N (N >= 2) or "
                      "--transport mpi");
  }
  if (o.exposed > 0 && !o.averaging.exchange) {
    throw usage_error("asgd-train: --exposed runs the no-exchange baseline itself; leave out --no-exchange");
  }
  if (o.target_accuracy > 0.0 && !saw_evals) o.evals_per_epoch = 10;
  if (o.target_accuracy > 0.0 && o.evals_per_epoch == 0) {
    throw usage_error("asgd-train: --target-accuracy needs evaluations during training: --evals-per-epoch 0 has none");
  }
  if (!o.checkpoint.empty() && o.checkpoint_every == 0) {
    throw usage_error("asgd-train: --checkpoint needs --checkpoint-every N");
  }
  if (o.checkpoint.empty() && o.checkpoint_every > 0) {
    throw usage_error("asgd-train: --checkpoint-every needs --checkpoint FILE");
  }
  if (o.compare && (!o.checkpoint.empty() || !o.resume.empty())) {
    throw usage_error("asgd-train: --checkpoint and --resume apply to one run, not to --compare");
  }
  if (!o.shards.sizes.empty() && o.shards.type == asgd::sharding::kind::dirichlet) {
    throw usage_error("asgd-train: --shard-sizes applies to --shard iid; a Dirichlet split draws its sizes with the "
                      "classes");
  }
  if (o.transport == "in_process" && !o.shards.sizes.empty() && o.shards.sizes.size() != o.nodes) {
    throw usage_error("asgd-train: --shard-sizes gives " + std::to_string(o.shards.sizes.size()) +
                      " sizes for --nodes " + std::to_string(o.nodes) + "; give one per node");
  }
  if (is_gossip(o.topology)) {
    if (o.transport == "nccl") {
      throw usage_error("asgd-train: --topology " + o.topology + ": event-driven gossip runs over --transport "
                        "in_process or mpi; over nccl it is not built yet");
    }
    if (o.averaging.consensus_every > 0) {
      throw usage_error("asgd-train: --consensus-every applies to round-based topologies; gossip nodes have no "
                        "common rounds (the consensus distance is measured at the end)");
    }
    if (o.topology == "adpsgd" && !saw_every) o.averaging.every = 1;
  } else if (!o.graph.empty()) {
    throw usage_error("asgd-train: --graph applies to --topology swarm, swarm_one_sided and adpsgd");
  }
  if (o.transport == "mpi" && !built_with_mpi()) {
    throw usage_error("asgd-train: --transport mpi: this asgd-train was built without MPI (configure with "
                      "-DASGD_ENABLE_MPI=ON and Open MPI installed)");
  }
  if (o.transport == "mpi" && saw_nodes) {
    throw usage_error("asgd-train: --nodes applies to --transport in_process; under mpi every rank is a node "
                      "(mpirun -np N)");
  }
  if (o.transport == "in_process" && o.nodes > 1 && (!o.checkpoint.empty() || !o.resume.empty())) {
    throw usage_error("asgd-train: --checkpoint and --resume apply to a single node, not to --nodes " +
                      std::to_string(o.nodes));
  }
  if (o.transport == "mpi" && (!o.checkpoint.empty() || !o.resume.empty())) {
    throw usage_error("asgd-train: --checkpoint and --resume apply to a single node, not to --transport mpi");
  }
  if (o.device == "cuda" || o.transport == "nccl") check_gpu(o, saw_threads);
  if (o.device == "cpu" && saw_gpu_workers) throw usage_error("asgd-train: --gpu-workers applies to --device cuda");
  if (o.model != "mlp" && o.hidden != std::vector<std::size_t>{128}) {
    throw usage_error("asgd-train: --hidden applies to --model mlp only");
  }
  return o;
}

}  // namespace asgd_train
