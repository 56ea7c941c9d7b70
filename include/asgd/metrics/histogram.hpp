#pragma once
/// @file
/// A histogram of small non-negative counts (staleness, CAS retries).

#include <asgd/checkpoint.hpp>
#include <asgd/version.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace asgd::inline v0::metrics {

/// Exact counts for values 0 .. bins-2; the last bin counts everything at or above bins-1.
/// Total, sum and max are exact over all values. Leashed-SGD's code uses 200 bins.
class histogram {
 public:
  explicit histogram(std::size_t bins = 256) : counts_(std::max<std::size_t>(bins, 2), 0) {}

  void add(std::uint64_t value, std::uint64_t times = 1) noexcept {
    counts_[std::min<std::uint64_t>(value, counts_.size() - 1)] += times;
    total_ += times;
    sum_ += value * times;
    max_ = std::max(max_, value);
  }

  /// Adds another histogram's counts (same bin count).
  void merge(const histogram& o) {
    if (o.counts_.size() > counts_.size()) counts_.resize(o.counts_.size(), 0);
    for (std::size_t i = 0; i < o.counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
  }

  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }
  [[nodiscard]] std::uint64_t sum() const noexcept { return sum_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept {
    return total_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_);
  }
  [[nodiscard]] const std::vector<std::uint64_t>& counts() const noexcept { return counts_; }

  void save(byte_writer& w) const {
    w.integers(std::span<const std::uint64_t>(counts_));
    w.u64(total_);
    w.u64(sum_);
    w.u64(max_);
  }
  void load(byte_reader& r) {
    auto counts = r.integers<std::uint64_t>("a histogram");
    r.expect(counts.size(), counts_.size(), "a histogram of bins:");
    counts_ = std::move(counts);
    total_ = r.u64();
    sum_ = r.u64();
    max_ = r.u64();
  }

  /// The smallest value v with at least q * total() values <= v (within the exact bins).
  [[nodiscard]] std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    const auto need = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= std::max<std::uint64_t>(need, 1)) return i;
    }
    return counts_.size() - 1;
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace asgd::inline v0::metrics
