#pragma once
/// @file
/// Learning-rate schedules and staleness-adaptive step scaling: the two factors the trainer
/// multiplies the base learning rate by at every update.

#include <asgd/detail/validate.hpp>
#include <asgd/version.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <ostream>
#include <vector>

namespace asgd::inline v0 {

/// A learning-rate schedule: `lr(epoch) = lr * factor(epoch)`, with `epoch` the global step
/// divided by the steps per epoch (a real number, so schedules move within an epoch).
///
/// A linear warm-up from `warmup_start * lr` to `lr` over `warmup_epochs` comes first (any kind),
/// as in LAP-SGD's code. Then:
/// - `constant`: 1.
/// - `multistep`: times `gamma` at each epoch of `milestones` (PyTorch's MultiStepLR).
/// - `cosine`: `(1 + cos(pi * (e - W) / (E + 0.1 - W))) / 2` with W the warm-up and E
///   `total_epochs` (LAP-SGD's CosineAnnealingLR; 0 means the run's epochs).
/// - `backoff`: `beta ^ floor(e)`: HOGWILD!'s per-epoch step-size backoff.
struct schedule {
  enum class kind { constant, multistep, cosine, backoff };

  kind type = kind::constant;
  std::vector<double> milestones = {};  ///< multistep: epochs, increasing
  double gamma = 0.1;                   ///< multistep: factor per milestone, in (0, 1]
  double total_epochs = 0.0;            ///< cosine: E; 0 = the run's epochs
  double beta = 0.8;                    ///< backoff: factor per epoch, in (0, 1]
  double warmup_epochs = 0.0;           ///< linear warm-up length, >= 0
  double warmup_start = 0.1;            ///< warm-up starts at this fraction of lr, in [0, 1]

  static schedule constant() { return {}; }
  static schedule multistep(std::vector<double> at, double factor = 0.1) {
    return {.type = kind::multistep, .milestones = std::move(at), .gamma = factor};
  }
  static schedule cosine(double epochs = 0.0, double warmup = 0.0) {
    return {.type = kind::cosine, .total_epochs = epochs, .warmup_epochs = warmup};
  }
  static schedule backoff(double factor = 0.8) { return {.type = kind::backoff, .beta = factor}; }

  /// The multiplier of the base learning rate at `epoch` (>= 0).
  [[nodiscard]] double factor(double epoch) const noexcept {
    if (epoch < warmup_epochs) return warmup_start + (1.0 - warmup_start) * epoch / warmup_epochs;
    switch (type) {
      case kind::constant:
        return 1.0;
      case kind::multistep: {
        const auto passed = std::upper_bound(milestones.begin(), milestones.end(), epoch) - milestones.begin();
        return std::pow(gamma, static_cast<double>(passed));
      }
      case kind::cosine: {
        const double span = total_epochs + 0.1 - warmup_epochs;
        const double t = std::min(1.0, (epoch - warmup_epochs) / span);
        return 0.5 * (1.0 + std::cos(std::numbers::pi * t));
      }
      case kind::backoff:
        return std::pow(beta, std::floor(epoch));
    }
    return 1.0;
  }

  void validate() const {
    detail::require_in(gamma, 1e-12, 1.0, "schedule", "gamma");
    detail::require_in(beta, 1e-12, 1.0, "schedule", "beta");
    detail::require_in(warmup_epochs, 0.0, 1e12, "schedule", "warmup_epochs");
    detail::require_in(warmup_start, 0.0, 1.0, "schedule", "warmup_start");
    detail::require_in(total_epochs, 0.0, 1e12, "schedule", "total_epochs");
    for (std::size_t i = 0; i < milestones.size(); ++i) {
      detail::require_in(milestones[i], 0.0, 1e12, "schedule", "milestones");
      detail::require(i == 0 || milestones[i] > milestones[i - 1], "schedule", "milestones", milestones[i],
                      "milestones must increase");
    }
  }

  friend bool operator==(const schedule&, const schedule&) = default;
  friend std::ostream& operator<<(std::ostream& os, const schedule& s) {
    constexpr const char* names[] = {"constant", "multistep", "cosine", "backoff"};
    os << names[static_cast<int>(s.type)];
    switch (s.type) {
      case kind::multistep:
        os << "{.gamma = " << s.gamma << ", .milestones = [";
        for (std::size_t i = 0; i < s.milestones.size(); ++i) os << (i ? ", " : "") << s.milestones[i];
        os << "]";
        break;
      case kind::cosine:
        os << "{.total_epochs = " << s.total_epochs;
        break;
      case kind::backoff:
        os << "{.beta = " << s.beta;
        break;
      case kind::constant:
        os << "{";
        break;
    }
    if (s.warmup_epochs > 0) os << (s.type == kind::constant ? "" : ", ") << ".warmup_epochs = " << s.warmup_epochs;
    return os << '}';
  }
};

/// Staleness-adaptive step scaling: the step of an update computed on a model `tau` updates
/// old is multiplied by `factor(tau)` (Leashed-SGD's code, after ASAP-SGD):
/// - `none`: 1;
/// - `inverse`: `1 / (tau + 1)`;
/// - `fleet`: `exp(-beta * tau)`, where `beta = 0` means the code's default
///   `(2 / t) * ln(1 + t / 2)` with `t = workers + 1`.
struct staleness_scaling {
  enum class kind { none, inverse, fleet };

  kind type = kind::none;
  double beta = 0.0;  ///< fleet only; >= 0, 0 = derived from the worker count

  [[nodiscard]] double factor(std::uint64_t tau, std::size_t workers) const noexcept {
    switch (type) {
      case kind::none:
        return 1.0;
      case kind::inverse:
        return 1.0 / (static_cast<double>(tau) + 1.0);
      case kind::fleet:
        return std::exp(-resolved_beta(workers) * static_cast<double>(tau));
    }
    return 1.0;
  }

  [[nodiscard]] double resolved_beta(std::size_t workers) const noexcept {
    if (beta > 0.0) return beta;
    const double t = static_cast<double>(workers) + 1.0;
    return 2.0 / t * std::log1p(t / 2.0);
  }

  void validate() const { detail::require_in(beta, 0.0, 1e6, "staleness_scaling", "beta"); }

  friend bool operator==(const staleness_scaling&, const staleness_scaling&) = default;
  friend std::ostream& operator<<(std::ostream& os, const staleness_scaling& s) {
    constexpr const char* names[] = {"none", "inverse", "fleet"};
    os << names[static_cast<int>(s.type)];
    if (s.type == kind::fleet) os << "{.beta = " << s.beta << '}';
    return os;
  }
};

}  // namespace asgd::inline v0
