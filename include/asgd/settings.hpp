#pragma once
/// @file
/// The run-time settings of a training run: a plain aggregate, filled with designated
/// initializers and checked when the run starts.

#include <asgd/detail/json.hpp>
#include <asgd/detail/validate.hpp>
#include <asgd/schedule.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace asgd::inline v0 {

/// How workers draw their minibatches.
enum class sampling {
  shared,   ///< every worker shuffles the whole data set with its own seed (LAP-SGD's code)
  sharded,  ///< worker w shuffles only its 1/workers share of the samples
};

/// Settings of one training run. Every field has a default; `validate()` (called by
/// `trainer::run`) throws std::invalid_argument naming the first bad field and its value.
struct settings {
  std::size_t threads = 1;  ///< worker threads, 1 .. the mode's max_workers
  std::size_t epochs = 1;   ///< passes over the data (ignored when `steps` > 0)
  std::size_t steps = 0;    ///< minibatches in total, over all workers; 0 = epochs * ceil(samples / batch)
  std::size_t batch = 16;   ///< samples per minibatch, 1 .. samples
  float lr = 0.01f;         ///< base learning rate, > 0
  std::uint64_t seed = 1;   ///< initial model, sampling and random block choices

  schedule lr_schedule = {};                ///< lr multiplier over epochs
  staleness_scaling staleness = {};         ///< lr multiplier by staleness
  sampling sample_order = sampling::shared;

  std::size_t log_every = 0;  ///< minibatches per loss-curve point; 0 = about 20 points per epoch
  bool evaluate = true;         ///< evaluate the final model when the problem can
  bool evaluate_epochs = false;  ///< also evaluate at every epoch's end (all workers pause)
  std::size_t evaluations_per_epoch = 0;  ///< evaluate this often within each epoch too (0: only as above)

  void validate() const {
    detail::require(threads >= 1, "settings", "threads", threads, "must be at least 1");
    detail::require(threads <= 4096, "settings", "threads", threads, "must be at most 4096");
    detail::require(epochs >= 1 || steps >= 1, "settings", "epochs", epochs, "must be at least 1 when steps is 0");
    detail::require(epochs <= 1000000, "settings", "epochs", epochs, "must be at most 1e6");
    detail::require(batch >= 1, "settings", "batch", batch, "must be at least 1");
    detail::require(std::isfinite(lr) && lr > 0.0f, "settings", "lr", lr, "must be a finite number > 0");
    detail::require(evaluations_per_epoch <= 1000, "settings", "evaluations_per_epoch", evaluations_per_epoch,
                    "must be at most 1000");
    lr_schedule.validate();
    staleness.validate();
  }

  friend bool operator==(const settings&, const settings&) = default;
  friend std::ostream& operator<<(std::ostream& os, const settings& s) {
    return os << "{.threads = " << s.threads << ", .epochs = " << s.epochs << ", .steps = " << s.steps
              << ", .batch = " << s.batch << ", .lr = " << s.lr << ", .seed = " << s.seed
              << ", .lr_schedule = " << s.lr_schedule << ", .staleness = " << s.staleness
              << ", .sample_order = " << (s.sample_order == sampling::shared ? "shared" : "sharded")
              << ", .log_every = " << s.log_every << ", .evaluate = " << (s.evaluate ? "true" : "false")
              << ", .evaluate_epochs = " << (s.evaluate_epochs ? "true" : "false")
              << ", .evaluations_per_epoch = " << s.evaluations_per_epoch << '}';
  }
};

}  // namespace asgd::inline v0
