#pragma once
/// @file
/// Averaging between GPUs while their workers train: one node per GPU (an MPI rank), the
/// node's W workers sharing one device store (<asgd/cuda/local_async.cuh>), and a
/// `device_averager` that, on its own host thread and CUDA stream, runs LAP-SGD's non-blocking
/// in-place averaging or a gossip round of any host topology through an `nccl_transport`.
/// Link `asgd::nccl`.
///
/// A round: snapshot the model (relaxed loads, as a Hogwild reader); mix it with the peers'
/// models by the topology's row (one all-reduce for `topology::all_reduce` with full-precision
/// models, grouped send/receive of the encoded snapshot otherwise); then add
/// delta = mix - snapshot to the live model through the store's own mode, so the updates the
/// workers made meanwhile are kept and the workers never wait. The math is
/// <asgd/cuda/averaging_math.hpp>'s, tested on the host against the host averager.
///
/// Every node runs the same rounds in the same order (rounds are collectives); one thread
/// drives all of a transport's operations, so no two NCCL operations of this node overlap.

#include <asgd/cuda/averaging_math.hpp>
#include <asgd/cuda/error.cuh>
#include <asgd/cuda/launch.cuh>
#include <asgd/cuda/nccl.cuh>
#include <asgd/cuda/quantize.cuh>
#include <asgd/cuda/reduce.cuh>
#include <asgd/cuda/rules.hpp>
#include <asgd/cuda/store.cuh>
#include <asgd/detail/averager.hpp>
#include <asgd/detail/policy_choice.hpp>

#include <cuda/atomic>
#include <cuda_runtime.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asgd::inline v0::cuda {

namespace detail {
// snapshot[i] = x[i] by relaxed loads: the workers' kernels may be writing x.
struct snapshot_op {
  const float* x;
  float* snapshot;
  __device__ void operator()(std::size_t i) const {
    ::cuda::atomic_ref<float, ::cuda::thread_scope_device> xi(const_cast<float&>(x[i]));
    snapshot[i] = xi.load(::cuda::memory_order_relaxed);
  }
};
}  // namespace detail

/// One GPU node's averager over `Topology` (a host topology or a `topology::one_of`).
/// Not copyable; owns its stream and device buffers (four models' worth and the messages).
template <class Topology>
class device_averager {
 public:
  /// @throws std::invalid_argument for an empty model or a qsgd8 format without a bucket.
  device_averager(nccl_transport& transport, Topology topology, wire_format wire, std::size_t dimension,
                  std::uint64_t seed)
      : transport_(transport),
        topology_(std::move(topology)),
        wire_((wire.validate(), wire)),
        seed_(seed),
        n_(dimension),
        snapshot_(dimension),
        delta_(dimension),
        decoded_(dimension),
        send_(wire.bytes(dimension)),
        qsgd_(wire.format == wire_format::kind::qsgd8 ? wire.bucket : 512) {
    if (dimension == 0) throw std::invalid_argument("asgd: cuda::device_averager: the model is empty");
    check("cudaStreamCreateWithFlags (averager)", cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  device_averager(const device_averager&) = delete;
  device_averager& operator=(const device_averager&) = delete;
  ~device_averager() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  [[nodiscard]] std::size_t node() const noexcept { return transport_.node_id(); }
  [[nodiscard]] std::size_t nodes() const noexcept { return transport_.node_count(); }
  [[nodiscard]] std::uint64_t rounds() const noexcept { return rounds_; }
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }
  /// Wall time spent in rounds (the workers ran meanwhile).
  [[nodiscard]] double seconds() const noexcept { return seconds_; }
  [[nodiscard]] cudaStream_t stream() const noexcept { return stream_; }
  [[nodiscard]] const wire_format& wire() const noexcept { return wire_; }

  /// Round `round`, collective over the transport's ranks: mixes `store`'s model with the
  /// peers' by the topology and adds the change in place. `w` is the averager's worker in the
  /// store (made with `sgd_math`). Returns when the change is in the model.
  /// @throws transport_error when a peer does not take part within the transport's timeout
  /// (the transport is then aborted; see nccl_transport).
  template <class Mode>
  void round(device_store<Mode>& store, device_worker& w, std::uint64_t round) {
    const auto start = std::chrono::steady_clock::now();
    take_snapshot(store, w);
    bool encoded_qsgd8 = false;
    asgd::detail::with_chosen(topology_, [&](const auto& topo) { encoded_qsgd8 = mix(topo, round); });
    transport_.synchronize(stream_, "averaging round " + std::to_string(round));
    if (encoded_qsgd8) qsgd_.check();  // its status word is on the device, final once the stream is done
    add_delta(store, w);
    ++rounds_;
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  /// The consensus distance: the sum over the nodes of |x_i - mean|^2, as the host averager
  /// reports it, measured on a snapshot; the model stays as it is. Collective: two
  /// all-reduces, the model's and the distance's.
  template <class Mode>
  double consensus_distance(device_store<Mode>& store, device_worker& w) {
    take_snapshot(store, w);
    all_reduce_delta();
    transport_.synchronize(stream_, "consensus distance (all-reduce of the models)");
    return summed_distance();
  }

  /// The exact mean of all nodes' models, added in place (a final average; full precision
  /// whatever the wire format). Collective. Returns the consensus distance before the average,
  /// measured on the way.
  template <class Mode>
  double average_all(device_store<Mode>& store, device_worker& w) {
    const double distance = consensus_distance(store, w);
    add_delta(store, w);
    return distance;
  }

 private:
  template <class Mode>
  void take_snapshot(device_store<Mode>& store, device_worker& w) {
    auto view = store.read(w);  // pinned (versioned mode) until the copy finished
    detail::launch_for_each(n_, detail::snapshot_op{view.values, snapshot_.data()}, stream_,
                            "device_averager: snapshot kernel launch");
    check("cudaStreamSynchronize (averager snapshot)", cudaStreamSynchronize(stream_));
  }

  // After all_reduce_delta: sum over the nodes of |delta|^2 = |mean - x_i|^2. This node's by
  // Thrust; then, as the host averager does, the nodes' mean (a float all-reduce) times their count.
  double summed_distance() {
    const auto local = static_cast<float>(squared_norm(delta_.data(), n_, stream_));
    distance_.upload(std::span<const float>(&local, 1));
    transport_.all_reduce_mean(distance_.data(), 1, stream_);
    transport_.synchronize(stream_, "consensus distance (all-reduce of the distance)");
    return static_cast<double>(distance_.download()[0]) * static_cast<double>(transport_.node_count());
  }

  void all_reduce_delta() {
    check("cudaMemcpyAsync (averager)",
          cudaMemcpyAsync(delta_.data(), snapshot_.data(), n_ * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
    transport_.all_reduce_mean(delta_.data(), n_, stream_);
    detail::launch_for_each(n_, detail::mean_minus_snapshot_op{snapshot_.data(), delta_.data()}, stream_,
                            "device_averager: mean kernel launch");
    const std::size_t nodes = transport_.node_count();
    bytes_sent_ += 2 * (nodes - 1) * n_ * sizeof(float) / nodes;  // a ring all-reduce's share
  }

  template <class T>
  mixing_row mixing_row_of(const T& topo, std::uint64_t round) const {
    if constexpr (averaging_topology_has_neighbours<T>) {
      return topo.neighbours(round, node(), nodes(), seed_);
    } else {
      // NCCL has no one-sided operations; asgd-train refuses the combination before it starts.
      throw std::invalid_argument("asgd: cuda::device_averager: topology " + std::string(T::name) +
                                  " is event-driven gossip, which GPU nodes over NCCL do not offer; use a "
                                  "round-based topology");
    }
  }

  template <class T>
  // Enqueues the round's mix on the stream; true when it encoded a qsgd8 message, whose
  // encoder status the caller checks after the wait.
  bool mix(const T& topo, std::uint64_t round) {
    if constexpr (asgd::detail::global_mean_topology<T>) {
      if (wire_.format == wire_format::kind::float32) {
        all_reduce_delta();
        return false;
      }
    }
    const mixing_row row = mixing_row_of(topo, round);
    detail::launch_for_each(n_, detail::start_delta_op{snapshot_.data(), delta_.data(), row.self_weight}, stream_,
                            "device_averager: mix kernel launch");
    if (row.peers.empty()) return false;
    peers_.clear();
    for (const auto& p : row.peers) peers_.push_back(p.node);
    while (received_.size() < peers_.size()) received_.emplace_back(send_.size());
    std::vector<std::byte*> into;
    for (std::size_t k = 0; k < peers_.size(); ++k) into.push_back(received_[k].data());
    encode(round);
    transport_.exchange(peers_, send_.data(), send_.size(), into, stream_);
    bytes_sent_ += send_.size() * peers_.size();
    for (std::size_t k = 0; k < row.peers.size(); ++k) {
      if (row.peers[k].weight == 0.0f) continue;  // a one-sided partner: sent to, not mixed in
      const float* peer = decode(received_[k].data());
      detail::launch_for_each(n_, detail::add_peer_op{peer, delta_.data(), row.peers[k].weight}, stream_,
                              "device_averager: mix kernel launch");
    }
    return wire_.format == wire_format::kind::qsgd8;
  }

  void encode(std::uint64_t round) {
    auto* out = send_.data();
    switch (wire_.format) {
      case wire_format::kind::float32:
        check("cudaMemcpyAsync (averager)",
              cudaMemcpyAsync(out, snapshot_.data(), n_ * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
        return;
      case wire_format::kind::fp16: encode_fp16(snapshot_.data(), n_, reinterpret_cast<std::uint16_t*>(out), stream_); return;
      case wire_format::kind::bf16: encode_bf16(snapshot_.data(), n_, reinterpret_cast<std::uint16_t*>(out), stream_); return;
      case wire_format::kind::qsgd8: break;
    }
    // A rounding stream per node and round, as the host averager draws one.
    qsgd_.encode(snapshot_.data(), n_, seed_ ^ (std::uint64_t{node()} << 40) ^ round,
                 reinterpret_cast<std::uint8_t*>(out), stream_);
  }

  // The peer's model as floats: the message itself, or `decoded_`.
  const float* decode(const std::byte* in) {
    switch (wire_.format) {
      case wire_format::kind::float32: return reinterpret_cast<const float*>(in);
      case wire_format::kind::fp16: decode_fp16(reinterpret_cast<const std::uint16_t*>(in), n_, decoded_.data(), stream_); break;
      case wire_format::kind::bf16: decode_bf16(reinterpret_cast<const std::uint16_t*>(in), n_, decoded_.data(), stream_); break;
      case wire_format::kind::qsgd8:
        decode_qsgd8(reinterpret_cast<const std::uint8_t*>(in), n_, wire_.bucket, decoded_.data(), stream_);
        break;
    }
    return decoded_.data();
  }

  // x <- x + delta through the store's mode: an sgd step of rate -1 on the whole model,
  // retried from the newest version if the consistent mode drops it.
  template <class Mode>
  void add_delta(device_store<Mode>& store, device_worker& w) {
    const auto minus_one = [](std::uint64_t) { return -1.0f; };
    for (;;) {
      auto view = store.read(w);
      const apply_result a = store.apply(w, view, sgd_math{}, 0, delta_.data(), n_, minus_one, stream_);
      check("cudaStreamSynchronize (averager mix)", cudaStreamSynchronize(stream_));
      if (a.applied) return;
    }
  }

  nccl_transport& transport_;
  Topology topology_;
  wire_format wire_;
  std::uint64_t seed_;
  std::size_t n_;
  cudaStream_t stream_ = nullptr;
  device_array<float> snapshot_, delta_, decoded_, distance_{1};
  device_array<std::byte> send_;
  std::vector<device_array<std::byte>> received_;
  std::vector<std::size_t> peers_;
  qsgd8_encoder qsgd_;
  std::uint64_t rounds_ = 0;
  std::uint64_t bytes_sent_ = 0;
  double seconds_ = 0.0;
};

}  // namespace asgd::inline v0::cuda
