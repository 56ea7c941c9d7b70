#pragma once
/// @file
/// The two types sparse problems work with: a read-only view of the shared model that is safe
/// to read while other threads write it, and a sparse gradient that merges repeated indices.

#include <asgd/version.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace asgd::inline v0 {

/// Reads single coordinates of a model that other threads may be writing.
///
/// Each read is a relaxed `std::atomic_ref<float>` load: on x86 a plain move, and never a data
/// race in C++'s sense, so ThreadSanitizer stays useful under Hogwild!. Under the consistent
/// modes the model behind a reader does not change while the reader is in use.
class model_reader {
 public:
  model_reader() = default;
  explicit model_reader(std::span<const float> model) noexcept : model_(model) {}

  [[nodiscard]] float operator[](std::size_t i) const noexcept {
    assert(i < model_.size());
    // atomic_ref<const float> is C++26; the object itself is never const, so the cast is sound.
    return std::atomic_ref<float>(const_cast<float&>(model_[i])).load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t size() const noexcept { return model_.size(); }

 private:
  std::span<const float> model_;
};

/// A sparse gradient as (index, value) entries with unique indices.
///
/// `add(i, v)` sums values of repeated indices, so a minibatch whose samples share features
/// yields one entry per feature: update rules with state (momentum) must see each coordinate
/// once per step. Coalescing uses an open-addressing table sized to the entries, so a step costs
/// O(entries), never O(dimension). A problem that knows its indices are distinct (one sample
/// whose features are unique) calls `append` instead, which skips the table: hashing was half
/// the cost of a one-sample step of sparse logistic regression.
class sparse_gradient {
 public:
  /// Removes all entries; keeps the capacity.
  void clear() noexcept {
    for (std::uint32_t s : pos_) slot_[s] = vacant;
    index_.clear();
    value_.clear();
    pos_.clear();
  }

  /// Adds the entries (indices[j], scale * values[j]): a sparse row's contribution in two
  /// vectorised passes. Precondition: the indices are distinct and none has an entry yet
  /// (checked in debug builds while the gradient has at most 256 entries); `add` remains
  /// usable after it.
  void append(std::span<const std::uint32_t> indices, std::span<const float> values, float scale) {
    assert(indices.size() == values.size());
    const std::size_t at = index_.size();
    index_.insert(index_.end(), indices.begin(), indices.end());
    value_.resize(at + values.size());
    float* out = value_.data() + at;
    for (std::size_t j = 0; j < values.size(); ++j) out[j] = scale * values[j];
    assert(index_.size() > 256 || no_repeated_index());
  }

  /// Adds `v` to the entry of coordinate `i`, creating it if needed.
  void add(std::uint32_t i, float v) {
    if (2 * (index_.size() + 1) > slot_.size()) grow();
    if (pos_.size() < index_.size()) hash_appended();
    std::size_t s = probe(i);
    if (slot_[s] == vacant) {
      slot_[s] = static_cast<std::uint32_t>(index_.size());
      index_.push_back(i);
      value_.push_back(v);
      pos_.push_back(static_cast<std::uint32_t>(s));
    } else {
      value_[slot_[s]] += v;
    }
  }

  /// Multiplies every value by `a` (turns a sum over a minibatch into a mean).
  void scale(float a) noexcept {
    for (float& v : value_) v *= a;
  }

  /// Keeps only the entries whose index lies in [begin, end).
  void keep_range(std::size_t begin, std::size_t end) {
    std::size_t out = 0;
    for (std::size_t k = 0; k < index_.size(); ++k) {
      if (index_[k] >= begin && index_[k] < end) {
        index_[out] = index_[k];
        value_[out] = value_[k];
        ++out;
      }
    }
    if (out == index_.size()) return;
    index_.resize(out);
    value_.resize(out);
    // The kept entries leave the table; the next `add` enters them again.
    for (std::uint32_t s : pos_) slot_[s] = vacant;
    pos_.clear();
  }

  [[nodiscard]] std::span<const std::uint32_t> indices() const noexcept { return index_; }
  [[nodiscard]] std::span<const float> values() const noexcept { return value_; }
  [[nodiscard]] std::size_t size() const noexcept { return index_.size(); }
  [[nodiscard]] bool empty() const noexcept { return index_.empty(); }

 private:
  static constexpr std::uint32_t vacant = 0xffffffffu;

  // Fibonacci hashing into a power-of-two table with linear probing; returns the slot holding
  // `i` or the empty slot where it belongs.
  [[nodiscard]] std::size_t probe(std::uint32_t i) const noexcept {
    const std::size_t mask = slot_.size() - 1;
    std::size_t s = static_cast<std::size_t>((std::uint64_t{i} * 0x9E3779B97F4A7C15ull) >> shift_) & mask;
    while (slot_[s] != vacant && index_[slot_[s]] != i) s = (s + 1) & mask;
    return s;
  }

  // Whether no index appears twice (for the debug checks of small gradients).
  [[nodiscard]] bool no_repeated_index() const {
    std::vector<std::uint32_t> sorted = index_;
    std::sort(sorted.begin(), sorted.end());
    return std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
  }

  // A table at most half full with one more entry (appended entries may have outgrown it).
  void grow() {
    std::size_t size = std::max<std::size_t>(64, 2 * slot_.size());
    while (size < 2 * (index_.size() + 1)) size *= 2;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(size));
    slot_.assign(size, vacant);
    rebuild_slots();
  }

  // Enters the entries that `append` added into the table (they follow the hashed ones).
  void hash_appended() {
    for (std::size_t k = pos_.size(); k < index_.size(); ++k) {
      const std::size_t s = probe(index_[k]);
      slot_[s] = static_cast<std::uint32_t>(k);
      pos_.push_back(static_cast<std::uint32_t>(s));
    }
  }

  void rebuild_slots() {
    pos_.resize(index_.size());
    for (std::size_t k = 0; k < index_.size(); ++k) {
      const std::size_t s = probe(index_[k]);
      slot_[s] = static_cast<std::uint32_t>(k);
      pos_[k] = static_cast<std::uint32_t>(s);
    }
  }

  std::vector<std::uint32_t> index_;
  std::vector<float> value_;
  std::vector<std::uint32_t> pos_;   // table slot of each hashed entry (a prefix of the entries)
  std::vector<std::uint32_t> slot_;  // entry number, or `vacant`
  unsigned shift_ = 58;
};

}  // namespace asgd::inline v0
