// Decentralized training: four nodes, each with two worker threads sharing its model
// (HOGWILD! inside), averaging with a random partner every 4 node steps in rounds of pairs,
// with 8-bit QSGD on the wire; then the same nodes gossiping SwarmSGD's way, each at its own
// steps with the partner's published copy; then FedAvg's weighted average over shards of unequal
// sizes. Nodes here are thread groups of this process
// (transport::in_process).
//
//   node 0 [w w] <-> node 2 [w w]      pairs change every round;
//   node 1 [w w] <-> node 3 [w w]      each node's averager mixes in place, workers never wait
#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>

#include <cstdio>

int main() {
  auto data = asgd::problems::make_logistic_regression(/*rows=*/20000, /*cols=*/50, /*seed=*/1);

  // [example-begin nodes]
  using node = asgd::trainer<asgd::problems::logistic_regression,
                             asgd::consistency::hogwild,     // inside a node: threads share one model
                             asgd::topology::random_pairs,   // between nodes: pairs, in rounds
                             asgd::quantize::qsgd<8>>;       // 8 bits per coordinate on the wire

  const asgd::settings s{.threads = 2, .epochs = 3, .batch = 16, .lr = 0.05f,
                         .averaging = {.every = 4}};  // a round every 4 node steps
  std::vector<asgd::report> reports = asgd::run_in_process(4, [&](std::size_t, asgd::transport::in_process link) {
    return node{data.problem, s, link};  // node k's trainer; its transport endpoint is `link`
  });
  // [example-end nodes]

  // [example-begin gossip]
  using gossip_node = asgd::trainer<asgd::problems::logistic_regression, asgd::consistency::hogwild,
                                    asgd::topology::swarm>;  // event-driven: no rounds, no waiting
  const asgd::topology::swarm swarm{.graph = asgd::topology::graph::ring()};  // partners: i - 1, i + 1
  asgd::settings g = s;
  g.averaging.blocking = true;  // the authors' loop: a node's workers wait for its own interactions, never its partner
  std::vector<asgd::report> gossiped = asgd::run_in_process(4, [&](std::size_t, asgd::transport::in_process link) {
    return gossip_node{data.problem, g, swarm, link};  // a partner after a mean of 4 local steps
  });
  // [example-end gossip]
  reports.insert(reports.end(), gossiped.begin(), gossiped.end());

  // [example-begin shards]
  using federated_node = asgd::trainer<asgd::problems::logistic_regression, asgd::consistency::hogwild,
                                       asgd::topology::federated>;  // FedAvg's average, weighted by data size
  asgd::settings f = s;
  f.averaging.blocking = true;
  f.shards = {.sizes = {4, 2, 1, 1}};  // node 0 holds half the samples, so half the weight in every average
  std::vector<asgd::report> weighted = asgd::run_in_process(4, [&](std::size_t, asgd::transport::in_process link) {
    return federated_node{data.problem, f, asgd::topology::federated{.fraction = 1.0}, link};
  });
  // [example-end shards]
  reports.insert(reports.end(), weighted.begin(), weighted.end());

  bool ok = true;
  for (const asgd::report& r : reports) {
    const asgd::node_report& n = *r.node;
    std::printf("%s node %zu: %llu samples, accuracy %.3f, %llu rounds, %.1f%% of exchange time overlapped, "
                "%.2f MB sent\n",
                n.topology.c_str(), n.node, static_cast<unsigned long long>(n.shard_samples), r.final_evaluation->accuracy,
                static_cast<unsigned long long>(n.rounds),
                100.0 * n.overlap, static_cast<double>(n.bytes_sent) / 1e6);
    ok = ok && r.final_evaluation->accuracy > data.reference_accuracy - 0.02;
  }
  std::printf("generating model's accuracy %.3f\n", data.reference_accuracy);
  return ok ? 0 : 1;
}
