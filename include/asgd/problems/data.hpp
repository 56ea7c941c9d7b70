#pragma once
/// @file
/// In-memory training data for the reference problems: dense rows or CSR sparse rows.

#include <asgd/version.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::problems {

/// `rows` samples of `cols` features, row-major, and one target per row (a value for
/// regression, +1/-1 for binary classification, a class index for multi-class).
struct dense_data {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<float> features;
  std::vector<float> targets;

  [[nodiscard]] std::span<const float> row(std::size_t i) const noexcept { return {features.data() + i * cols, cols}; }

  /// @throws std::invalid_argument when the sizes disagree
  void validate() const {
    if (features.size() != rows * cols || targets.size() != rows) {
      throw std::invalid_argument("asgd: dense_data has " + std::to_string(features.size()) + " features and " +
                                  std::to_string(targets.size()) + " targets for " + std::to_string(rows) + " x " +
                                  std::to_string(cols));
    }
  }
};

/// `rows` samples in compressed sparse rows: row i's features are `column[k]`, `value[k]` for
/// k in [row_start[i], row_start[i+1]).
struct csr_data {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<std::size_t> row_start{0};
  std::vector<std::uint32_t> column;
  std::vector<float> value;
  std::vector<float> targets;

  [[nodiscard]] std::size_t nonzeros() const noexcept { return column.size(); }

  /// @throws std::invalid_argument naming the first inconsistency
  void validate() const {
    auto fail = [](const std::string& what) { throw std::invalid_argument("asgd: csr_data: " + what); };
    if (row_start.size() != rows + 1) fail("row_start has " + std::to_string(row_start.size()) + " entries, not rows + 1");
    if (targets.size() != rows) fail(std::to_string(targets.size()) + " targets for " + std::to_string(rows) + " rows");
    if (column.size() != value.size()) fail("column and value lengths differ");
    if (row_start.front() != 0 || row_start.back() != column.size()) fail("row_start does not span the entries");
    for (std::size_t i = 0; i < rows; ++i)
      if (row_start[i] > row_start[i + 1]) fail("row_start decreases at row " + std::to_string(i));
    for (std::size_t k = 0; k < column.size(); ++k)
      if (column[k] >= cols) fail("column " + std::to_string(column[k]) + " at entry " + std::to_string(k) + " >= cols");
  }
};

}  // namespace asgd::inline v0::problems
