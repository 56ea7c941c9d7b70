#pragma once
// The topologies asgd-train offers, chosen by name at run time. Shared by the CPU path
// (run.hpp) and the GPU path (gpu_run.cuh), so it includes only the topology policies: nvcc
// builds it too.

#include <asgd/topology/adpsgd.hpp>
#include <asgd/topology/all_reduce.hpp>
#include <asgd/topology/exponential.hpp>
#include <asgd/topology/federated.hpp>
#include <asgd/topology/one_of.hpp>
#include <asgd/topology/random_pairs.hpp>
#include <asgd/topology/ring.hpp>
#include <asgd/topology/swarm.hpp>
#include <asgd/topology/torus.hpp>

#include <string>

namespace asgd_train {

using any_topology = asgd::topology::one_of<asgd::topology::all_reduce, asgd::topology::ring, asgd::topology::torus,
                                            asgd::topology::exponential, asgd::topology::random_pairs,
                                            asgd::topology::federated, asgd::topology::swarm,
                                            asgd::topology::adpsgd>;

/// The gossip graph `name` (complete, ring, torus, regular:D, exponential; checked by the parser).
inline asgd::topology::graph graph_named(const std::string& name) {
  using asgd::topology::graph;
  if (name == "ring") return graph::ring();
  if (name == "torus") return graph::torus();
  if (name == "exponential") return graph::exponential();
  if (name.rfind("regular:", 0) == 0) return graph::regular(std::stoul(name.substr(8)));
  return graph::complete();
}

/// The topology `name` (one the option parser accepted); `fraction` is federated's, `graph`
/// the gossip topologies' ("" for their default).
inline any_topology topology_named(const std::string& name, double fraction, const std::string& graph = "") {
  namespace t = asgd::topology;
  if (name == "swarm" || name == "swarm_one_sided") {
    return t::swarm{.graph = graph.empty() ? t::graph::complete() : graph_named(graph),
                    .one_sided = name == "swarm_one_sided"};
  }
  if (name == "adpsgd") return t::adpsgd{.graph = graph.empty() ? t::graph::ring() : graph_named(graph)};
  if (name == "ring") return t::ring{};
  if (name == "torus") return t::torus{};
  if (name == "exponential") return t::exponential{};
  if (name == "random_pairs") return t::random_pairs{};
  if (name == "random_pairs_one_sided") return t::random_pairs{.one_sided = true};
  if (name == "federated") return t::federated{.fraction = fraction};
  return t::all_reduce{};
}

}  // namespace asgd_train
