#pragma once
// Internal: one worker's minibatch sampler: shuffled passes over its samples, reshuffled at
// the end of every pass, identical on every platform for a given seed.

#include <asgd/checkpoint.hpp>
#include <asgd/random.hpp>
#include <asgd/settings.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

namespace asgd::inline v0::detail {

class batch_sampler {
 public:
  // Samples from [shard.begin, shard.end) (a node's share of the data; all of it for a lone
  // node). Node 0's streams are those of a lone node, so single-node runs keep their seeds.
  batch_sampler(param_range shard, sampling order, std::size_t worker, std::size_t workers, std::uint64_t seed,
                std::size_t node = 0)
      : engine_(seed, 0xda7a0000 + worker + (std::uint64_t{node} << 32)) {
    std::size_t lo = shard.begin;
    std::size_t hi = shard.end;
    if (order == sampling::sharded) {
      lo = shard.begin + worker * shard.size() / workers;
      hi = shard.begin + (worker + 1) * shard.size() / workers;
    }
    bound_ = shard.end;
    pool_.resize(hi - lo);
    std::iota(pool_.begin(), pool_.end(), lo);
    shuffle(pool_.begin(), pool_.end(), engine_);
  }

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

  void load(byte_reader& r) {
    load_rng(engine_, r);
    auto pool = r.integers<std::size_t>("a sampler's permutation");
    r.expect(pool.size(), pool_.size(), "a sampler over samples:");
    for (std::size_t i : pool)
      if (i >= bound_) r.fail("a sampler's permutation names sample " + std::to_string(i));
    pool_ = std::move(pool);
    position_ = r.u64();
    if (position_ > pool_.size()) r.fail("a sampler's position is past its permutation");
    passes_ = r.u64();
  }

 private:
  rng engine_;
  std::size_t bound_ = 0;  // end of the samples this sampler may name
  std::vector<std::size_t> pool_;
  std::vector<std::size_t> batch_;
  std::size_t position_ = 0;
  std::uint64_t passes_ = 0;
};

}  // namespace asgd::inline v0::detail
