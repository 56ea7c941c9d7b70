#pragma once
// Internal: one worker's minibatch sampler: shuffled passes over its samples, reshuffled at
// the end of every pass, identical on every platform for a given seed.

#include <asgd/checkpoint.hpp>
#include <asgd/detail/config.hpp>
#include <asgd/random.hpp>
#include <asgd/settings.hpp>
#include <asgd/shards.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace asgd::inline v0::detail {

class batch_sampler {
 public:
  // Samples from `shard` (a node's samples; all of them for a lone node), `samples` the
  // problem's count. Node 0's streams are those of a lone node, so single-node runs keep their
  // seeds.
  ASGD_DECL batch_sampler(const shard_split& shard, std::size_t samples, sampling order, std::size_t worker,
                          std::size_t workers, std::uint64_t seed, std::size_t node = 0);

  /// The next `size` sample indices; a pass that ends inside a batch continues with the next,
  /// freshly shuffled pass.
  std::span<const std::size_t> next(std::size_t size) {
    batch_.resize(size);
    for (std::size_t k = 0; k < size; ++k) {
      if (position_ == pool_.size()) {
        shuffle(pool_.begin(), pool_.end(), engine_);
        position_ = 0;
        ++passes_;
      }
      batch_[k] = pool_[position_++];
    }
    return batch_;
  }

  [[nodiscard]] std::uint64_t passes() const noexcept { return passes_; }

  void save(byte_writer& w) const {
    save_rng(engine_, w);
    w.integers(std::span<const std::size_t>(pool_));
    w.u64(position_);
    w.u64(passes_);
  }

  ASGD_DECL void load(byte_reader& r);

 private:
  rng engine_;
  std::size_t bound_ = 0;  // the problem's samples: a restored permutation names none past them
  std::vector<std::size_t> pool_;
  std::vector<std::size_t> batch_;
  std::size_t position_ = 0;
  std::uint64_t passes_ = 0;
};

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/sampler.ipp>
#endif
