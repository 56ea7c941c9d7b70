#pragma once
/// @file
/// Averaging device models between GPUs with NCCL: one rank per GPU, the ranks of an
/// `asgd::transport::mpi` (which bootstraps the NCCL communicator: rank 0's unique id is
/// broadcast over MPI). Link `asgd::nccl`.
///
/// Every operation is enqueued on the caller's stream (the averager's own, so workers never
/// wait) and returns once NCCL has taken it; `synchronize` waits for the stream, with a
/// timeout. All of a transport's operations go through its one communicator. NCCL can
/// deadlock when operations on two communicators are in flight at the same time on a GPU, so a
/// program that holds two transports must not let their operations overlap (one averager
/// thread driving both in turn does not).

#include <asgd/cuda/error.cuh>
#include <asgd/detail/poll.hpp>
#include <asgd/transport/error.hpp>
#include <asgd/transport/mpi.hpp>

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace asgd::inline v0::cuda {

/// The NCCL transport: `all_reduce_mean` (ncclAllReduce with ncclAvg, in place) and `exchange`
/// (grouped ncclSend/ncclRecv, so a pair that sends to each other does not deadlock), on device
/// buffers, and `synchronize`, which waits for a stream's operations. Not copyable.
///
/// A rank that stops answering ends the run instead of hanging it, as with the host MPI
/// transport. The communicator is nonblocking (`ncclConfig_t::blocking = 0`), so no call
/// waits inside NCCL. The transport polls instead: the communicator's state while NCCL
/// connects or enqueues, and the stream while its operations run. A wait longer than the
/// MPI transport's `timeout`, or an asynchronous NCCL error, aborts the communicator
/// (`ncclCommAbort`, which also ends its kernels, so the stream and its buffers can be freed).
/// It marks the rank as failed (`transport::mpi::leave`, so the MPI environment aborts the job
/// at the end of its scope) and throws a transport_error naming the rank and the operation.
/// After that every operation throws.
class nccl_transport {
 public:
  /// Collective over `ranks`: every rank calls it, each with its own GPU already chosen
  /// (cudaSetDevice). The bootstrap and every later wait give up after
  /// `ranks.settings().timeout` seconds. @throws transport_error naming the NCCL or MPI call
  /// that failed or was not answered in time.
  explicit nccl_transport(const transport::mpi& ranks)
      : ranks_(ranks),
        rank_(static_cast<int>(ranks.node_id())),
        size_(static_cast<int>(ranks.node_count())),
        timeout_(ranks.settings().timeout) {
    ncclUniqueId id{};
    if (rank_ == 0) call("ncclGetUniqueId", ncclGetUniqueId(&id));
    broadcast_id(id);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    call("ncclCommInitRankConfig", ncclCommInitRankConfig(&comm_, size_, id, rank_, &config));
    wait_ready("ncclCommInitRankConfig");
  }
  nccl_transport(const nccl_transport&) = delete;
  nccl_transport& operator=(const nccl_transport&) = delete;
  /// Finalizes and destroys the communicator; aborts it if finalizing fails or takes longer than
  /// the timeout (a rank that left), so the destructor never hangs.
  ~nccl_transport() {
    if (comm_ == nullptr) return;
    const ncclResult_t started = ncclCommFinalize(comm_);
    bool finished = started == ncclSuccess || started == ncclInProgress;
    if (finished) {
      ncclResult_t state = ncclInProgress;
      finished = asgd::detail::poll_until([&] { return ncclCommGetAsyncError(comm_, &state) != ncclSuccess ||
                                                       state != ncclInProgress; },
                                          std::chrono::duration<double>(timeout_)) &&
                 state == ncclSuccess;
    }
    if (finished) {
      ncclCommDestroy(comm_);
    } else {
      ncclCommAbort(comm_);
    }
  }

  [[nodiscard]] std::size_t node_id() const noexcept { return static_cast<std::size_t>(rank_); }
  [[nodiscard]] std::size_t node_count() const noexcept { return static_cast<std::size_t>(size_); }
  [[nodiscard]] ncclComm_t communicator() const noexcept { return comm_; }
  /// Seconds a wait lasts before the transport gives up (the MPI transport's timeout).
  [[nodiscard]] double timeout() const noexcept { return timeout_; }

  /// Enqueues on `stream`: the n floats at `v` (device memory) become their mean over the ranks.
  /// Returns once NCCL has taken the operation; `synchronize` waits for it to finish.
  void all_reduce_mean(float* v, std::size_t n, cudaStream_t stream) {
    check_usable("all_reduce_mean");
    if (n == 0) return;
    call("ncclAllReduce", ncclAllReduce(v, v, n, ncclFloat32, ncclAvg, comm_, stream));
    wait_ready("ncclAllReduce");
  }

  /// Enqueues on `stream`: `bytes` bytes at `send` go to every rank in `peers`, and peer k's
  /// message (of the same length) arrives at `received[k]`. Ranks name each other: if a lists b
  /// in a round, b lists a. Returns once NCCL has taken the operations; `synchronize` waits for
  /// them to finish. @throws std::invalid_argument for a peer that is not another rank, or a
  /// missing receive buffer (nothing enqueued; the transport stays usable).
  void exchange(std::span<const std::size_t> peers, const std::byte* send, std::size_t bytes,
                std::span<std::byte* const> received, cudaStream_t stream) {
    check_usable("exchange");
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
      const ncclResult_t got = ok(sent) ? ncclRecv(received[k], bytes, ncclUint8, peer, comm_, stream) : sent;
      if (!ok(got)) {
        ncclGroupEnd();
        call(ok(sent) ? "ncclRecv" : "ncclSend", got);
      }
    }
    call("ncclGroupEnd", ncclGroupEnd());
    wait_ready("ncclGroupEnd (exchange)");
  }

  /// Waits until all work enqueued on `stream` (this transport's operations and any kernels)
  /// has finished. `what` names the operation in the error (e.g. the averaging round).
  /// @throws transport_error after an asynchronous NCCL error or CUDA error, or when the work
  /// does not finish within the timeout: a peer did not take part. The communicator is then
  /// aborted.
  void synchronize(cudaStream_t stream, std::string_view what) {
    check_usable(what);
    cudaError_t cuda = cudaSuccess;
    ncclResult_t state = ncclSuccess;
    const bool done = asgd::detail::poll_until([&] {
      cuda = cudaStreamQuery(stream);
      if (cuda != cudaErrorNotReady) return true;
      if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) state = ncclInternalError;
      return state != ncclSuccess && state != ncclInProgress;
    }, std::chrono::duration<double>(timeout_));
    if (!done) fail(what, "did not finish within the timeout of " + seconds() + ": a peer did not take part");
    // The loop asks NCCL only while the stream runs: a stream finished at the first poll (or
    // NCCL's error raised as it ended) is seen here.
    if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) state = ncclInternalError;
    if (state != ncclSuccess && state != ncclInProgress) fail(what, "NCCL reported an error: " + describe(state));
    if (cuda != cudaSuccess) fail(what, std::string("cudaStreamQuery failed: ") + cudaGetErrorString(cuda));
  }

 private:
  static bool ok(ncclResult_t r) noexcept { return r == ncclSuccess || r == ncclInProgress; }

  // Rank 0's unique id to every rank, over MPI, polled so a rank that never joins times out.
  void broadcast_id(ncclUniqueId& id) {
    MPI_Request request = MPI_REQUEST_NULL;
    const int started = MPI_Ibcast(&id, sizeof id, MPI_BYTE, 0, ranks_.communicator(), &request);
    if (started != MPI_SUCCESS) fail("MPI_Ibcast (the NCCL unique id)", "MPI error " + std::to_string(started));
    int code = MPI_SUCCESS;
    const bool done = asgd::detail::poll_until([&] {
      int complete = 0;
      code = MPI_Test(&request, &complete, MPI_STATUS_IGNORE);
      return code != MPI_SUCCESS || complete != 0;
    }, std::chrono::duration<double>(timeout_));
    if (!done) fail("MPI_Ibcast (the NCCL unique id)", "the other ranks did not all join within the timeout of " + seconds());
    if (code != MPI_SUCCESS) fail("MPI_Test (the NCCL unique id)", "MPI error " + std::to_string(code));
  }

  // A nonblocking communicator answers ncclInProgress while it connects or enqueues; the
  // next NCCL call on it must wait until that is over.
  void wait_ready(std::string_view what) {
    ncclResult_t state = ncclInProgress;
    const bool done = asgd::detail::poll_until([&] {
      if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) state = ncclInternalError;
      return state != ncclInProgress;
    }, std::chrono::duration<double>(timeout_));
    if (!done) fail(what, "the other ranks did not all take part within the timeout of " + seconds());
    if (state != ncclSuccess) fail(what, "failed: " + describe(state));
  }

  void call(const char* what, ncclResult_t r) {
    if (!ok(r)) fail(what, "failed: " + describe(r));
  }

  std::string describe(ncclResult_t r) const {
    std::string text = ncclGetErrorString(r);
    if (comm_ != nullptr) {
      const char* last = ncclGetLastError(comm_);
      if (last != nullptr && *last != '\0') text += std::string(": ") + last;
    }
    return text;
  }

  std::string seconds() const {
    std::ostringstream os;
    os << timeout_ << " s";
    return os.str();
  }

  void check_usable(std::string_view what) const {
    if (broken_) {
      throw transport_error("asgd: cuda::nccl_transport: rank " + std::to_string(rank_) + ": " + std::string(what) +
                            ": an earlier operation of this transport failed; the communicator was aborted");
    }
  }

  // Operations may be left pending: abort the communicator (ending its kernels) and the job.
  [[noreturn]] void fail(std::string_view what, const std::string& why) {
    std::string message = "asgd: cuda::nccl_transport: rank " + std::to_string(rank_) + ": " + std::string(what) + ": " + why;
    broken_ = true;
    if (comm_ != nullptr) {
      ncclCommAbort(comm_);
      comm_ = nullptr;
    }
    ranks_.leave(message);
    throw transport_error(message);
  }

  transport::mpi ranks_;  // shares the caller's communicator
  int rank_ = 0;
  int size_ = 1;
  double timeout_ = 60.0;
  ncclComm_t comm_ = nullptr;
  bool broken_ = false;
};

}  // namespace asgd::inline v0::cuda
