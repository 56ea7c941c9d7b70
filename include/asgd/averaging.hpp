#pragma once
/// @file
/// What a trainer with a topology runs besides its workers: the node's averager, and the
/// default transport (`transport::in_process`). Every topology header of asgd but `none`
/// includes it; a topology of your own includes it too (the trainer's compile error says so).
/// A trainer without a topology never includes it, and so does not compile the averaging code.

#include <asgd/detail/averager.hpp>
#include <asgd/transport/in_process.hpp>
