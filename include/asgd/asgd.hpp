#pragma once
/// @file
/// The umbrella header: every host-side part of the library, which needs only the C++ standard
/// library and threads (CMake target asgd::asgd). Not here: the reference problems and data
/// readers, which need Eigen and zlib (<asgd/problems.hpp>, asgd::problems), and the MPI, CUDA
/// and NCCL back ends.

#include <asgd/version.hpp>

#include <asgd/concepts.hpp>
#include <asgd/random.hpp>
#include <asgd/report.hpp>
#include <asgd/schedule.hpp>
#include <asgd/settings.hpp>
#include <asgd/shards.hpp>
#include <asgd/sparse.hpp>
#include <asgd/trainer.hpp>
#include <asgd/types.hpp>

#include <asgd/update/momentum.hpp>
#include <asgd/update/nesterov.hpp>
#include <asgd/update/sgd.hpp>

#include <asgd/select/alternate_full_partial.hpp>
#include <asgd/select/full.hpp>
#include <asgd/select/partitioned.hpp>
#include <asgd/select/random_block.hpp>
#include <asgd/select/random_from_owned.hpp>
#include <asgd/select/one_of.hpp>
#include <asgd/select/round_robin.hpp>
#include <asgd/select/split.hpp>

#include <asgd/consistency/atomic_add.hpp>
#include <asgd/consistency/bounded_staleness.hpp>
#include <asgd/consistency/hogwild.hpp>
#include <asgd/consistency/leashed.hpp>
#include <asgd/consistency/locked.hpp>
#include <asgd/consistency/replicas.hpp>
#include <asgd/consistency/sequential.hpp>
#include <asgd/consistency/synchronous.hpp>

#include <asgd/topology/adpsgd.hpp>
#include <asgd/topology/all_reduce.hpp>
#include <asgd/topology/exponential.hpp>
#include <asgd/topology/federated.hpp>
#include <asgd/topology/graph.hpp>
#include <asgd/topology/none.hpp>
#include <asgd/topology/one_of.hpp>
#include <asgd/topology/random_pairs.hpp>
#include <asgd/topology/ring.hpp>
#include <asgd/topology/swarm.hpp>
#include <asgd/topology/torus.hpp>

#include <asgd/transport/error.hpp>
#include <asgd/transport/in_process.hpp>
#include <asgd/transport/one_of.hpp>

#include <asgd/quantize/bf16.hpp>
#include <asgd/quantize/differences.hpp>
#include <asgd/quantize/fp16.hpp>
#include <asgd/quantize/identity.hpp>
#include <asgd/quantize/lattice.hpp>
#include <asgd/quantize/one_of.hpp>
#include <asgd/quantize/qsgd.hpp>

#include <asgd/metrics/histogram.hpp>
#include <asgd/sim/calibrate.hpp>
#include <asgd/sim/cost_model.hpp>
#include <asgd/sim/recording.hpp>
#include <asgd/sim/simulation.hpp>
#include <asgd/nodes.hpp>
