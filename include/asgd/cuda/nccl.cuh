#pragma once
/// @file
/// Averaging device models between GPUs with NCCL: one rank per GPU, the ranks of an
/// `asgd::transport::mpi` (which bootstraps the NCCL communicator: rank 0's unique id is
/// broadcast over MPI). Link `asgd::nccl`.
///
/// Every operation is enqueued on the caller's stream (the averager's own, so workers never
/// wait) and returns at once. All of a transport's operations go through its one communicator;
/// NCCL can deadlock when operations on two communicators are in flight at the same time on a
/// GPU, so a program that holds two transports must not let their operations overlap (one
/// averager thread driving both in turn does not).

#include <asgd/cuda/error.cuh>
#include <asgd/transport/error.hpp>
#include <asgd/transport/mpi.hpp>

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>

namespace asgd::inline v0::cuda {

/// The NCCL transport: `all_reduce_mean` (ncclAllReduce with ncclAvg, in place) and `exchange`
/// (grouped ncclSend/ncclRecv, so a pair that sends to each other does not deadlock), on device
/// buffers. Not copyable; the communicator is destroyed with it (aborted after a failure).
class nccl_transport {
 public:
  /// Collective over `ranks`: every rank calls it, each with its own GPU already chosen
  /// (cudaSetDevice). @throws transport_error naming the NCCL or MPI call that failed.
  explicit nccl_transport(const transport::mpi& ranks)
      : rank_(static_cast<int>(ranks.node_id())), size_(static_cast<int>(ranks.node_count())) {
    ncclUniqueId id{};
    if (rank_ == 0) call("ncclGetUniqueId", ncclGetUniqueId(&id));
    const int code = MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, ranks.communicator());
    if (code != MPI_SUCCESS) {
      throw transport_error("asgd: cuda::nccl_transport: rank " + std::to_string(rank_) +
                            ": MPI_Bcast of the NCCL unique id failed (MPI error " + std::to_string(code) + ")");
    }
    call("ncclCommInitRank", ncclCommInitRank(&comm_, size_, id, rank_));
  }
  nccl_transport(const nccl_transport&) = delete;
  nccl_transport& operator=(const nccl_transport&) = delete;
  ~nccl_transport() {
    if (comm_ == nullptr) return;
    if (broken_) {
      ncclCommAbort(comm_);  // pending operations may never complete
    } else {
      ncclCommDestroy(comm_);
    }
  }

  [[nodiscard]] std::size_t node_id() const noexcept { return static_cast<std::size_t>(rank_); }
  [[nodiscard]] std::size_t node_count() const noexcept { return static_cast<std::size_t>(size_); }
  [[nodiscard]] ncclComm_t communicator() const noexcept { return comm_; }

  /// Enqueues on `stream`: the n floats at `v` (device memory) become their mean over the ranks.
  void all_reduce_mean(float* v, std::size_t n, cudaStream_t stream) {
    if (n == 0) return;
    call("ncclAllReduce", ncclAllReduce(v, v, n, ncclFloat32, ncclAvg, comm_, stream));
  }

  /// Enqueues on `stream`: `bytes` bytes at `send` go to every rank in `peers`, and peer k's
  /// message (of the same length) arrives at `received[k]`. Ranks name each other: if a lists b
  /// in a round, b lists a. @throws std::invalid_argument for a peer that is not another rank,
  /// or a missing receive buffer.
  void exchange(std::span<const std::size_t> peers, const std::byte* send, std::size_t bytes,
                std::span<std::byte* const> received, cudaStream_t stream) {
    if (received.size() != peers.size()) {
      throw std::invalid_argument("asgd: cuda::nccl_transport::exchange: " + std::to_string(peers.size()) +
                                  " peers and " + std::to_string(received.size()) + " receive buffers");
    }
    for (std::size_t p : peers) {
      if (p >= node_count() || p == node_id()) {
        throw std::invalid_argument("asgd: cuda::nccl_transport::exchange: rank " + std::to_string(rank_) + ": peer " +
                                    std::to_string(p) + " is not another of the " + std::to_string(size_) + " ranks");
      }
    }
    if (peers.empty() || bytes == 0) return;
    call("ncclGroupStart", ncclGroupStart());
    for (std::size_t k = 0; k < peers.size(); ++k) {
      const int peer = static_cast<int>(peers[k]);
      const ncclResult_t sent = ncclSend(send, bytes, ncclUint8, peer, comm_, stream);
      const ncclResult_t got = sent == ncclSuccess ? ncclRecv(received[k], bytes, ncclUint8, peer, comm_, stream) : sent;
      if (got != ncclSuccess) {
        ncclGroupEnd();
        call(sent != ncclSuccess ? "ncclSend" : "ncclRecv", got);
      }
    }
    call("ncclGroupEnd", ncclGroupEnd());
  }

 private:
  void call(const char* what, ncclResult_t r) {
    if (r == ncclSuccess) return;
    broken_ = true;
    std::string detail = ncclGetErrorString(r);
    if (comm_ != nullptr) {
      const char* last = ncclGetLastError(comm_);
      if (last != nullptr && *last != '\0') detail += std::string(": ") + last;
    }
    throw transport_error("asgd: cuda::nccl_transport: rank " + std::to_string(rank_) + ": " + what +
                          " failed: " + detail);
  }

  int rank_ = 0;
  int size_ = 1;
  ncclComm_t comm_ = nullptr;
  bool broken_ = false;
};

}  // namespace asgd::inline v0::cuda
