#pragma once
// The definitions of <asgd/detail/sampler.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/sampler.hpp>

#include <string>

namespace asgd::inline v0::detail {

ASGD_DECL batch_sampler::batch_sampler(const shard_split& shard, std::size_t samples, sampling order,
                                       std::size_t worker, std::size_t workers, std::uint64_t seed, std::size_t node)
    : engine_(seed, 0xda7a0000 + worker + (std::uint64_t{node} << 32)), bound_(samples) {
  std::size_t lo = 0;
  std::size_t hi = shard.count;
  if (order == sampling::sharded) {
    lo = worker * shard.count / workers;
    hi = (worker + 1) * shard.count / workers;
  }
  pool_.resize(hi - lo);
  for (std::size_t j = lo; j < hi; ++j) pool_[j - lo] = shard.at(j);
  shuffle(pool_.begin(), pool_.end(), engine_);
}

ASGD_DECL void batch_sampler::load(byte_reader& r) {
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

}  // namespace asgd::inline v0::detail
