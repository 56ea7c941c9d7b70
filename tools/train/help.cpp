// asgd-train's --help text.
#include "options.hpp"

#include <string>

namespace asgd_train {

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
  --max-lag N                     non-blocking: a worker waits while the oldest round not yet mixed
                                  in is more than N node steps old (default 0: never waits)
  --rounds-wait-for-last          non-blocking rounds: each node joins a round when its own workers
                                  are due (default: when the first node is due, the others join)
  --inline-evaluations            non-blocking nodes evaluate in a pause, their workers waiting, as
                                  every other run does (default: on a thread of their own while the
                                  workers go on, which frequent evaluations slow)
  --realtime-averager             non-blocking: each node's averager thread asks for real-time
                                  scheduling (SCHED_FIFO), so its rounds need not wait for a core
                                  the workers hold (needs root, CAP_SYS_NICE or RLIMIT_RTPRIO;
                                  refused, it runs as before and the node lines say why)
  --rounds-on-workers             non-blocking all-reduce rounds (in_process, mpi): no averager
                                  thread; a worker posts the node's snapshot between its steps and
                                  a worker mixes the mean in once the last node posted (rounds then
                                  need no core of their own, but a worker of every node running)
  --no-exchange                   rounds and gossip events keep each node's own model (no encode,
                                  transfer, decode or mix): the baseline for --exposed
  --exposed N                     after the run, N more pairs of runs, with and without exchanges,
                                  interleaved: the communication time the run exposed (median
                                  training time with exchanges minus without)
  --quantize Q                    identity (default), fp16, bf16, qsgd8, qsgd4, lattice; or
                                  diff-fp16, diff-bf16, diff-qsgd8, diff-qsgd4: each round sends
                                  a peer the change since the last message it got (error
                                  feedback; round-based topologies only)
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
  --straggler-slowdown F          node 0 (rank 0 under mpi) computes F times slower: its workers
                                  sleep F - 1 times each step's compute CPU time (default 1: off)
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
  --simulate COSTS                run the threads (and --nodes) in virtual time, deterministically:
                                  COSTS is "machine" (this library's development machine) or
                                  a cost-model file (docs/simulation.md); times are virtual
  --calibrate                     with --simulate: measure this machine first (the gradient of
                                  the network at --batch, an evaluation, copies, streamed
                                  writes, updates, atomics, locks, hand-overs, wake-ups,
                                  sleep overshoot) and
                                  use its figures in place of the cost model's;
                                  the link, cores and slow node stay the model's
  --record FILE                   record the run's interleaving (one --mode: sequential,
                                  synchronous, locked or leashed; also in-process --nodes)
                                  to FILE, written atomically
  --replay FILE                   replay a recording in virtual time (--simulate COSTS, else
                                  machine): the same model as the recorded run, bit for bit
  --evals-per-epoch N             also evaluate the test set N times per epoch (for curves)
  --epochs-per-eval N             evaluate at every N-th epoch's end only, and at the end
                                  (runs of many short epochs: nodes on small shards) (1)
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

}  // namespace asgd_train
