#pragma once
/// @file
/// The error every transport throws when a peer fails or does not answer in time.

#include <asgd/version.hpp>

#include <stdexcept>

namespace asgd::inline v0 {

/// A transport operation failed: a peer did not answer within the transport's timeout, a
/// peer left the group, a message had the wrong size, or the communication library reported
/// an error. The message names the operation, the node, the peer and the averaging round.
class transport_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace asgd::inline v0
