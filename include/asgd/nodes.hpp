#pragma once
/// @file
/// Running several averaging nodes as thread groups of one process.

#include <asgd/detail/threads.hpp>
#include <asgd/report.hpp>
#include <asgd/sim/cost_model.hpp>
#include <asgd/sim/simulation.hpp>
#include <asgd/transport/in_process.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace asgd::inline v0 {

namespace detail {

// Node k of run_in_process: its trainer made and run, or its error kept (and its peers told).
template <class Make>
void run_node(std::size_t k, Make& make, std::vector<transport::in_process>& endpoints, std::vector<report>& reports,
              std::vector<std::exception_ptr>& errors) {
  try {
    if constexpr (std::is_same_v<decltype(make(k, endpoints[k])), report>) {
      reports[k] = make(k, endpoints[k]);
    } else {
      auto trainer = make(k, endpoints[k]);
      reports[k] = trainer.run();
    }
  } catch (...) {
    errors[k] = std::current_exception();
    endpoints[k].leave("it threw");
  }
}

// The group's reports, or the error run_in_process throws.
inline std::vector<report> node_results(std::vector<report> reports, const std::vector<std::exception_ptr>& errors,
                                        const std::vector<transport::in_process>& endpoints) {
  const std::size_t nodes = reports.size();
  // A gossip group went on without the nodes that failed: the survivors' reports come back,
  // and a failed node's report holds only its error.
  const auto failed =
      static_cast<std::size_t>(std::count_if(errors.begin(), errors.end(), [](const auto& e) { return e != nullptr; }));
  if (failed > 0 && failed < nodes && endpoints[0].drops_lost_nodes()) {
    for (std::size_t k = 0; k < nodes; ++k) {
      if (!errors[k]) continue;
      try {
        std::rethrow_exception(errors[k]);
      } catch (const std::exception& e) {
        reports[k].failure = e.what();
      } catch (...) {
        reports[k].failure = "an exception that is not a std::exception";
      }
    }
    return reports;
  }
  // A node's own failure explains its peers' transport errors: prefer it.
  for (const auto& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const transport_error&) {
    } catch (...) {
      throw;
    }
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return reports;
}

}  // namespace detail

/// Runs `nodes` nodes in this process, one thread each (plus each node's own workers and
/// averager), connected by one `transport::in_process` group over the simulated `link`.
/// `make(k, endpoint)` returns node k's trainer (its transport value is `endpoint`), or runs it
/// and returns its `report`; every node must use the same settings and seed. Returns the
/// reports in node order.
///
/// A node that fails leaves the group, so the others end with a transport_error at once; the
/// first error of the lowest-numbered failing node is rethrown after every node has stopped.
/// Under event-driven gossip the others drop it instead and finish (their reports'
/// `node->lost_nodes` name it); the failed node's report then holds only its error
/// (`report.failure`), and nothing is rethrown unless every node failed.
/// When a node's thread cannot be started, the started nodes end (their peers left) and
/// std::system_error names the node that could not start.
template <class Make>
std::vector<report> run_in_process(std::size_t nodes, Make&& make, const transport::in_process::link& link = {}) {
  auto endpoints = transport::in_process::group(nodes, link);
  std::vector<report> reports(nodes);
  std::vector<std::exception_ptr> errors(nodes);
  std::exception_ptr start_error;
  {
    std::vector<std::thread> threads;
    threads.reserve(nodes);
    auto node = [&](std::size_t k) { detail::run_node(k, make, endpoints, reports, errors); };
    try {
      for (std::size_t k = 0; k < nodes; ++k) {
        threads.push_back(detail::start_thread("thread of node " + std::to_string(k) + " of " + std::to_string(nodes),
                                               [&node, k] { node(k); }));
      }
    } catch (...) {
      // The started nodes learn at once that the others will never come.
      start_error = std::current_exception();
      for (std::size_t k = threads.size(); k < nodes; ++k) endpoints[k].leave("its thread could not be started");
    }
    for (auto& t : threads) t.join();
  }
  if (start_error) std::rethrow_exception(start_error);
  return detail::node_results(std::move(reports), errors, endpoints);
}


namespace sim {

/// asgd::run_in_process in virtual time: the nodes, their workers and their averagers are tasks
/// of one sim::simulation with costs `costs` (task k is node k, so the cost model's slow node
/// is node `slow_node`), and the in-process link's delays are the cost model's link (latency
/// plus bytes at its bandwidth; the link's straggler delay still applies). Every node's trainer
/// runs simulated whatever its simulate() says; the reports' times are virtual. The same seed
/// and costs give the same models and reports on every run. A wait that no node can end (where
/// a real run would time out) is a sim::deadlock error.
template <class Make>
std::vector<report> run_in_process(std::size_t nodes, Make&& make, const cost_model& costs, std::uint64_t seed = 0,
                                   const transport::in_process::link& link = {}) {
  auto endpoints = transport::in_process::group(nodes, link);
  std::vector<report> reports(nodes);
  std::vector<std::exception_ptr> errors(nodes);
  simulation s(costs, seed);
  s.run_nodes(nodes, [&](task& t) { detail::run_node(t.id(), make, endpoints, reports, errors); });
  return detail::node_results(std::move(reports), errors, endpoints);
}

}  // namespace sim

}  // namespace asgd::inline v0
