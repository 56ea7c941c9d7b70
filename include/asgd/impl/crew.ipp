#pragma once
// The definition of <asgd/detail/crew.hpp>'s run_crew_threads (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/crew.hpp>
#include <asgd/detail/simulation.hpp>
#include <asgd/detail/threads.hpp>

#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asgd::inline v0::detail {

ASGD_DECL void run_crew_threads(const crew_shape& shape, run_crew& crew) {
  std::thread averager;
  std::vector<std::thread> threads;
  std::optional<std::size_t> averager_task;
  if (shape.outer != nullptr) {
    std::vector<std::size_t> tasks;
    try {
      if (shape.averager) averager_task = shape.outer->spawn([&crew] { crew.average({}); });
      for (std::size_t w = 0; w < shape.workers; ++w) {
        tasks.push_back(shape.outer->spawn([&crew, w] { crew.work(w); }));
      }
    } catch (...) {
      crew.start_failed(tasks.size());
    }
    for (std::size_t id : tasks) shape.outer->join(id);
  } else if (shape.simulation != nullptr) {
    try {
      shape.simulation->run(shape.workers, [&crew](std::size_t w) { crew.work(w); }, shape.node);
    } catch (...) {
      crew.start_failed(shape.workers);  // a task that could not start; work() keeps the rest
    }
  } else {
    threads.reserve(shape.workers);
    try {
      if (shape.averager) {
        averager = start_thread("averager thread", [&crew, realtime = shape.realtime_averager] {
          const std::string refused = realtime ? request_realtime_scheduling() : std::string();
          crew.average(!realtime          ? "default"
                       : refused.empty() ? "real-time"
                                         : "default (real-time refused: " + refused + ")");
        });
      }
      for (std::size_t w = 0; w < shape.workers; ++w) {
        threads.push_back(start_thread("worker thread " + std::to_string(w) + " of " + std::to_string(shape.workers),
                                       [&crew, w] { crew.work(w); }));
      }
    } catch (...) {
      crew.start_failed(threads.size());
    }
  }
  for (auto& t : threads) t.join();
  crew.workers_finished();
  if (averager.joinable()) {
    crew.wake_averager();
    averager.join();
  }
  if (averager_task) {
    crew.wake_averager();
    shape.outer->join(*averager_task);
  }
}

}  // namespace asgd::inline v0::detail
