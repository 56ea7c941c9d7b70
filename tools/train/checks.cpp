// asgd-train's cross-option checks: what one option says about another, and the defaults that
// depend on which options were given. parse() (options.cpp) calls check_combinations last.
#include "options.hpp"

#include <string>
#include <vector>

namespace asgd_train {
namespace {

// What the GPU path trains and how: refused here, before any data is read.
void check_gpu(const options& o, bool threads_given) {
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
  if (threads_given) refuse("--threads applies to --device cpu; on the GPU, --gpu-workers sets the workers");
  if (!o.checkpoint.empty() || !o.resume.empty()) refuse("--checkpoint and --resume apply to --device cpu");
  if (o.target_accuracy > 0.0) refuse("--target-accuracy applies to --device cpu (a GPU run is evaluated at its end)");
  if (o.evals_per_epoch > 0) refuse("--evals-per-epoch applies to --device cpu (a GPU run is evaluated at its end)");
  if (o.epochs_per_eval != 1) refuse("--epochs-per-eval applies to --device cpu (a GPU run is evaluated at its end)");
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

void check_combinations(options& o, const given_options& given) {
  if (!o.record.empty() || !o.replay.empty()) {
    const std::string flag = !o.record.empty() ? "--record" : "--replay";
    if (!o.record.empty() && !o.replay.empty()) throw usage_error("asgd-train: give --record or --replay, not both");
    if (!o.record.empty() && o.costs) {
      throw usage_error("asgd-train: --record records a real run; leave out --simulate (--replay runs in virtual time)");
    }
    if (o.compare || o.modes.size() != 1) throw usage_error("asgd-train: " + flag + " takes one --mode");
    if (o.transport != "in_process") {
      throw usage_error("asgd-train: " + flag + " records and replays threads and in-process --nodes; --transport " +
                        o.transport + " is not recorded");
    }
    if (o.device != "cpu") throw usage_error("asgd-train: " + flag + " applies to --device cpu");
    if (!o.replay.empty() && !o.costs) {  // a replay runs in virtual time: this machine's, unless told
      o.simulate = "machine";
      o.costs = asgd::sim::cost_model::machine();
    }
  }
  if (o.calibrate && !o.costs) {
    throw usage_error("asgd-train: --calibrate measures this machine into a simulated run's cost model; give "
                      "--simulate COSTS too");
  }
  if (o.costs) {
    // Threads and in-process nodes run in virtual time; other transports, devices and the
    // references of --compare (real runs) are not simulated yet.
    if (o.transport != "in_process") {
      throw usage_error("asgd-train: --simulate runs threads and --nodes over in_process in virtual time; --transport " +
                        o.transport + " is not simulated");
    }
    if (o.device != "cpu") throw usage_error("asgd-train: --simulate applies to --device cpu");
    if (o.compare) throw usage_error("asgd-train: --simulate runs --mode MODE[,MODE...]; --compare is not simulated yet");
  }
  if (given.mode && given.compare) throw usage_error("asgd-train: give --mode or --compare, not both");
  if (o.exposed > 0 && o.transport != "mpi" && o.nodes < 2) {
    throw usage_error("asgd-train: --exposed measures the communication of nodes: give --nodes N (N >= 2) or "
                      "--transport mpi");
  }
  if (o.averaging.max_lag > 0 && o.averaging.blocking) {
    throw usage_error("asgd-train: --max-lag bounds non-blocking averaging; --blocking rounds land when due");
  }
  if (!o.averaging.first_due_starts && (o.averaging.blocking || is_gossip(o.topology))) {
    throw usage_error("asgd-train: --rounds-wait-for-last concerns non-blocking rounds; " +
                      std::string(o.averaging.blocking ? "--blocking rounds wait for every node anyway"
                                                       : "gossip topologies have no common rounds"));
  }
  if (o.averaging.realtime_averager && o.averaging.blocking) {
    throw usage_error("asgd-train: --realtime-averager concerns non-blocking averaging; a --blocking node has no "
                      "averager thread");
  }
  if (o.averaging.rounds_on_workers && (o.averaging.blocking || o.averaging.realtime_averager)) {
    throw usage_error(std::string("asgd-train: --rounds-on-workers leaves no averager thread, which ") +
                      (o.averaging.blocking ? "--blocking (its workers wait for its rounds)" : "--realtime-averager") +
                      " concerns");
  }
  if (o.exposed > 0 && !o.averaging.exchange) {
    throw usage_error("asgd-train: --exposed runs the no-exchange baseline itself; leave out --no-exchange");
  }
  if (o.target_accuracy > 0.0 && !given.evals) o.evals_per_epoch = 10;
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
    if (o.topology == "adpsgd" && !given.every) o.averaging.every = 1;
  } else if (!o.graph.empty()) {
    throw usage_error("asgd-train: --graph applies to --topology swarm, swarm_one_sided and adpsgd");
  }
  if (o.transport == "mpi" && !built_with_mpi()) {
    throw usage_error("asgd-train: --transport mpi: this asgd-train was built without MPI (configure with "
                      "-DASGD_ENABLE_MPI=ON and Open MPI installed)");
  }
  if (o.transport == "mpi" && given.nodes) {
    throw usage_error("asgd-train: --nodes applies to --transport in_process; under mpi every rank is a node "
                      "(mpirun -np N)");
  }
  if (o.device == "cuda" || o.transport == "nccl") check_gpu(o, given.threads);
  if (o.device == "cpu" && given.gpu_workers) throw usage_error("asgd-train: --gpu-workers applies to --device cuda");
  if (o.model != "mlp" && o.hidden != std::vector<std::size_t>{128}) {
    throw usage_error("asgd-train: --hidden applies to --model mlp only");
  }
}

}  // namespace asgd_train
