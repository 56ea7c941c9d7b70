#pragma once
// The block selectors asgd-train offers, chosen by name at run time (one trainer type for all of
// them). Shared by the CPU path (run.hpp) and the GPU path (gpu_run.cuh), so it includes only the
// selector policies: nvcc builds it too.

#include <asgd/select/alternate_full_partial.hpp>
#include <asgd/select/full.hpp>
#include <asgd/select/one_of.hpp>
#include <asgd/select/partitioned.hpp>
#include <asgd/select/random_block.hpp>
#include <asgd/select/random_from_owned.hpp>
#include <asgd/select/round_robin.hpp>

#include <cstddef>
#include <string>

namespace asgd_train {

using any_selector = asgd::select::one_of<asgd::select::full, asgd::select::partitioned, asgd::select::random_from_owned,
                                          asgd::select::random_block, asgd::select::round_robin,
                                          asgd::select::alternate_full_partial>;

/// The selector `name` (one the option parser accepted): `blocks` is random_block's and
/// round_robin's, `warmup_epochs` alternate_full_partial's.
inline any_selector selector_named(const std::string& name, std::size_t blocks, double warmup_epochs) {
  namespace s = asgd::select;
  if (name == "partitioned") return s::partitioned{};
  if (name == "random_from_owned") return s::random_from_owned{};
  if (name == "random_block") return s::random_block{.blocks = blocks};
  if (name == "round_robin") return s::round_robin{.blocks = blocks};
  if (name == "alternate_full_partial") return s::alternate_full_partial{.warmup_epochs = warmup_epochs};
  return s::full{};
}

}  // namespace asgd_train
