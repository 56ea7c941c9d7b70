#pragma once
/// @file
/// Running several averaging nodes as thread groups of one process.

#include <asgd/detail/threads.hpp>
#include <asgd/report.hpp>
#include <asgd/transport/in_process.hpp>

#include <cstddef>
#include <exception>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace asgd::inline v0 {

/// Runs `nodes` nodes in this process, one thread each (plus each node's own workers and
/// averager), connected by one `transport::in_process` group over the simulated `link`.
/// `make(k, endpoint)` returns node k's trainer (its transport value is `endpoint`), or runs it
/// and returns its `report`; every node must use the same settings and seed. Returns the
/// reports in node order.
///
/// A node that fails leaves the group, so the others end with a transport_error at once; the
/// first error of the lowest-numbered failing node is rethrown after every node has stopped.
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
    auto node = [&](std::size_t k) {
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
    };
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

}  // namespace asgd::inline v0
