#pragma once
// The GPU path's dispatch from a gpu_job to train_local_async: rule, selector (one
// select::one_of type for all) and (under --transport nccl) the node's averager, for one device
// store mode. Each mode's
// instantiations compile in their own translation unit (gpu_<mode>.cu), in parallel.

#include "gpu.hpp"
#include "selector_choice.hpp"
#include "topology_choice.hpp"

#include <asgd/cuda/local_async.cuh>
#include <asgd/update/momentum.hpp>
#include <asgd/update/nesterov.hpp>

#if ASGD_TRAIN_WITH_NCCL
#include <asgd/cuda/averager.cuh>
#include <asgd/transport/mpi.hpp>
#endif

namespace asgd_train {

#if ASGD_TRAIN_WITH_NCCL
/// This rank's NCCL communicator, opened for one run (train_on_gpu).
class gpu_nccl {
 public:
  explicit gpu_nccl(const asgd::transport::mpi& ranks) : transport(ranks) {}
  asgd::cuda::nccl_transport transport;
};

inline asgd::cuda::wire_format gpu_wire_for(const gpu_job& j) {
  namespace q = asgd::quantize;
  if (j.quantize == "fp16") return asgd::cuda::wire_format::of(q::fp16{});
  if (j.quantize == "bf16") return asgd::cuda::wire_format::of(q::bf16{});
  if (j.quantize == "qsgd8") return asgd::cuda::wire_format::of(q::qsgd<8>{});
  return asgd::cuda::wire_format::of(q::identity{});
}
#else
class gpu_nccl {};  // never made without NCCL
#endif

template <class Mode, class Rule, class Selector>
gpu_outcome gpu_train(const gpu_job& j, const Mode& mode, const Rule& rule, const Selector& selector,
                      [[maybe_unused]] gpu_nccl* nccl) {
  const auto m = asgd::cuda::mlp_layout::of(j.layout, j.inputs);
  asgd::cuda::local_async_settings s{.workers = j.workers, .epochs = j.epochs, .steps = j.steps, .batch = j.batch,
                                     .lr = j.lr, .lr_schedule = j.lr_schedule, .seed = j.seed};
  gpu_outcome out;
  const auto take = [&](asgd::cuda::local_async_result&& r) {
    out.model = std::move(r.model);
    out.steps = r.steps;
    out.dropped = r.dropped;
    out.conflicts = r.conflicts;
    out.staleness_sum = r.staleness_sum;
    out.seconds = r.seconds;
    out.last_loss = r.last_loss;
    out.rounds = r.rounds;
    out.consensus = std::move(r.consensus);
    out.final_consensus_distance = r.final_consensus_distance;
  };
#if ASGD_TRAIN_WITH_NCCL
  if (nccl != nullptr) {
    s.node = nccl->transport.node_id();
    s.nodes = nccl->transport.node_count();
    s.average_every = j.average_every;
    s.final_average = j.final_average;
    s.consensus_every = j.consensus_every;
    asgd::cuda::device_averager<any_topology> averager(nccl->transport, topology_named(j.topology, j.fraction),
                                                       gpu_wire_for(j), m.dimension, j.seed);
    take(asgd::cuda::train_local_async(m, *j.train, j.initial, mode, selector, rule, j.layout, s, averager));
    out.node = s.node;
    out.nodes = s.nodes;
    out.averaging_seconds = averager.seconds();
    out.bytes_sent = averager.bytes_sent();
    return out;
  }
#endif
  take(asgd::cuda::train_local_async(m, *j.train, j.initial, mode, selector, rule, j.layout, s));
  return out;
}

template <class Mode, class Rule>
gpu_outcome gpu_with_selector(const gpu_job& j, const Mode& mode, const Rule& rule, gpu_nccl* nccl) {
  return gpu_train(j, mode, rule, selector_named(j.select, j.blocks, j.select_warmup), nccl);
}

/// Momentum 0 is plain SGD, as on the CPU path.
template <class Mode>
gpu_outcome gpu_with_rule(const gpu_job& j, const Mode& mode, gpu_nccl* nccl) {
  if (j.nesterov)
    return gpu_with_selector(j, mode, asgd::update::nesterov{.mu = j.momentum, .weight_decay = j.weight_decay}, nccl);
  return gpu_with_selector(j, mode, asgd::update::momentum{.mu = j.momentum, .weight_decay = j.weight_decay}, nccl);
}

}  // namespace asgd_train
