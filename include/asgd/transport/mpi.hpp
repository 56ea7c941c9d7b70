#pragma once
/// @file
/// Nodes as MPI ranks: one process per node, on one machine or many. Link `asgd::mpi`.
///
/// Not part of <asgd/asgd.hpp>: only programs that link MPI include it.

#include <asgd/detail/poll.hpp>
#include <asgd/transport/error.hpp>
#include <asgd/types.hpp>

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <ostream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asgd::inline v0::transport {

/// Each MPI rank is one node (node id = rank). `all_reduce_mean` is a non-blocking
/// `MPI_Iallreduce` (or, between `open_means` and `close_means`, a sum read from a shared-memory
/// window); `exchange` posts `MPI_Isend`s to the round's peers and receives their
/// messages with matched probes (`MPI_Improbe` + `MPI_Imrecv`, so a message of any length is
/// taken whole), the MPI tag being the averaging round. The calling thread drives progress by
/// polling (`MPI_Test`, backing off to sleeps of at most 200 us so worker threads on the same
/// cores keep running), and gives up after `timeout` seconds with a transport_error that names
/// the MPI call, the rank, the round and the peer: a rank that stops answering ends the run,
/// it never hangs it.
///
/// The transport works on its own duplicate of the communicator (its messages never meet the
/// program's) with `MPI_ERRORS_RETURN`, and every MPI error becomes a transport_error naming
/// the call. Constructing one is collective over the communicator (`MPI_Comm_dup`): every rank
/// constructs its transports, and so its trainers, in the same order. Copies share one
/// communicator. A trainer calls the transport from one thread at a time (its averager, or a
/// worker during a blocking round), which is what `MPI_THREAD_SERIALIZED` allows.
///
/// Gossip topologies use one-sided communication: each rank's published copy lives in an RMA
/// window (`MPI_Win_allocate`), read in shared passive-target epochs and averaged with in
/// exclusive ones (docs/policies/transport.md).
///
/// Create an `environment` at the top of main before anything else that uses MPI.
class mpi {
 public:
  using policy_kind = transport_tag;
  static constexpr std::string_view name = "mpi";

  /// Initialises MPI with `MPI_THREAD_SERIALIZED` for the lifetime of the object and finalises
  /// it at the end. If MPI is already initialised, only checks the thread level and leaves
  /// finalising to whoever initialised it.
  ///
  /// After a transport_error (or `leave`), leaving the scope calls `MPI_Abort` instead: a rank
  /// that did not answer may never finish its side of a pending collective, and `MPI_Finalize`
  /// would wait for it forever. Catch and print the error inside the scope.
  class environment {
   public:
    /// @throws std::runtime_error when MPI cannot give `MPI_THREAD_SERIALIZED`.
    environment(int& argc, char**& argv) { start(&argc, &argv); }
    environment() { start(nullptr, nullptr); }
    environment(const environment&) = delete;
    environment& operator=(const environment&) = delete;
    ~environment() {
      if (!owner_) return;
      int finalized = 0;
      MPI_Finalized(&finalized);
      if (finalized) return;
      if (failed().load()) MPI_Abort(MPI_COMM_WORLD, 1);
      MPI_Finalize();
    }

   private:
    void start(int* argc, char*** argv) {
      int initialized = 0;
      MPI_Initialized(&initialized);
      int provided = 0;
      if (initialized) {
        MPI_Query_thread(&provided);
      } else {
        check("MPI_Init_thread", MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), -1);
        owner_ = true;
      }
      if (provided < MPI_THREAD_SERIALIZED) {
        throw std::runtime_error(
            "asgd: transport::mpi::environment: the MPI library gives thread level " + std::to_string(provided) +
            ", below MPI_THREAD_SERIALIZED (" + std::to_string(MPI_THREAD_SERIALIZED) +
            "), which a trainer needs: its averager thread, not the main thread, calls MPI");
      }
    }
    bool owner_ = false;
  };

  /// Settings of the transport.
  struct options {
    double timeout = 60.0;  ///< seconds a rank waits for a peer before it gives up

    void validate() const {
      if (!(timeout > 0.0 && std::isfinite(timeout))) {
        std::ostringstream os;
        os << "asgd: transport::mpi::options{.timeout = " << timeout << "}: the timeout must be finite and > 0";
        throw std::invalid_argument(os.str());
      }
    }
  };

  /// The ranks of MPI_COMM_WORLD. Collective.
  /// @throws std::logic_error when MPI is not initialised (no environment yet).
  mpi() : mpi(MPI_COMM_WORLD, options{}) {}

  /// The same, with `o`. Collective.
  explicit mpi(const options& o) : mpi(MPI_COMM_WORLD, o) {}

  /// The ranks of `comm` (duplicated; the caller keeps `comm`). Collective over `comm`.
  mpi(MPI_Comm comm, const options& o) {
    o.validate();
    int initialized = 0;
    MPI_Initialized(&initialized);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!initialized || finalized) {
      throw std::logic_error(
          "asgd: transport::mpi: MPI is not initialised; create an asgd::transport::mpi::environment at the top "
          "of main, before any trainer or transport that uses MPI");
    }
    state_ = std::make_shared<state>(comm, o);
  }

  [[nodiscard]] std::size_t node_id() const noexcept { return static_cast<std::size_t>(state_->rank); }
  [[nodiscard]] std::size_t node_count() const noexcept { return static_cast<std::size_t>(state_->size); }
  [[nodiscard]] const options& settings() const noexcept { return state_->opts; }
  /// The transport's own communicator (a duplicate), e.g. to bootstrap another library.
  [[nodiscard]] MPI_Comm communicator() const noexcept { return state_->comm; }

  /// Replaces `v` on every rank by the element-wise mean over the ranks (MPI_Iallreduce with
  /// MPI_SUM, then a scale). Every rank passes the same length (the trainer's start-of-run
  /// handshake checks the model's dimension).
  /// @throws transport_error on an MPI error, or when a rank does not take part within the timeout.
  void all_reduce_mean(std::span<float> v) { await_mean(post_mean(v), v); }

  // ----- the same all-reduce in two phases (concept asgd::split_all_reduce_transport)

  /// Starts this rank's next all-reduce of `v` and returns at once; `v` must stay untouched
  /// until the mean is in it. One at a time (all_reduce_mean is post and await), in the same
  /// order on every rank. With the shared-memory window open (open_means) and `v` no longer than
  /// it holds, `v` is copied into this rank's slot of the window; otherwise an MPI_Iallreduce.
  /// @returns the ticket that mean_ready and await_mean take.
  /// @throws transport_error on an MPI error, or while the previous one is still pending.
  std::uint64_t post_mean(std::span<float> v) {
    state& s = *state_;
    s.check_usable("all_reduce_mean");
    if (s.mean_pending()) s.refuse("post_mean", "the previous all-reduce has not completed");
    const std::uint64_t ticket = s.means_posted.load(std::memory_order_relaxed);
    if (s.means_window != MPI_WIN_NULL && v.size() <= s.mean_capacity) {
      std::copy(v.begin(), v.end(), s.mean_slot(s.rank, ticket));
      s.posted_word(s.rank).store(ticket + 1, std::memory_order_release);
      s.window_mean_pending = true;
    } else {
      const int count = s.count(v.size(), "MPI_Iallreduce");
      s.call("MPI_Iallreduce",
             MPI_Iallreduce(MPI_IN_PLACE, v.data(), count, MPI_FLOAT, MPI_SUM, s.comm, &s.mean_request));
    }
    s.mean_values = v;
    s.means_posted.store(ticket + 1, std::memory_order_relaxed);
    return ticket;
  }
  /// Whether the mean of `ticket` is in: in the window, whether every rank has posted it (then
  /// the mean is summed here); otherwise an MPI_Test, which also moves the collective on.
  /// @throws transport_error when MPI_Test fails.
  [[nodiscard]] bool mean_ready(std::uint64_t ticket) const {
    state& s = *state_;
    if (s.means_done <= ticket) {
      if (s.window_mean_pending) {
        if (s.every_rank_posted()) s.finish_window_mean();
      } else if (s.mean_request != MPI_REQUEST_NULL) {
        int complete = 0;
        const int code = MPI_Test(&s.mean_request, &complete, MPI_STATUS_IGNORE);
        if (code != MPI_SUCCESS) {
          s.fail("all_reduce_mean: MPI_Iallreduce (a collective)", "MPI_Test failed: " + error_text(code));
        }
        if (complete != 0) s.finish_mean();
      }
    }
    return s.means_done > ticket;
  }
  /// Whether another rank has posted the all-reduce this rank posts next. Only the window shows
  /// it (a read of the other ranks' headers, no MPI call: any thread may ask); a collective's
  /// other ranks are not visible before it completes, so without the window always false, and a
  /// rank posts its round when its own workers are due.
  [[nodiscard]] bool mean_posted() const noexcept {
    const state& s = *state_;
    if (s.means_window == MPI_WIN_NULL) return false;
    const std::uint64_t next = s.means_posted.load(std::memory_order_relaxed);
    for (int r = 0; r < s.size; ++r) {
      if (r != s.rank && s.posted_word(r).load(std::memory_order_relaxed) > next) return true;
    }
    return false;
  }
  /// Waits for the mean of `ticket` (polling, as all_reduce_mean).
  /// @throws transport_error on an MPI error, or when a rank does not take part within the timeout.
  void await_mean(std::uint64_t ticket, std::span<float>) {
    state& s = *state_;
    if (s.means_done > ticket) return;
    if (s.window_mean_pending) {
      s.poll_until([&] { return s.every_rank_posted(); },
                   [] { return std::string("all_reduce_mean: the shared-memory window (a collective)"); },
                   "the other ranks did not all post");
      s.finish_window_mean();
      return;
    }
    s.wait_until_complete(s.mean_request, [] { return std::string("all_reduce_mean: MPI_Iallreduce (a collective)"); },
                          "the other ranks did not all join");
    s.finish_mean();
  }

  /// Opens a shared-memory window for the all-reduces of up to `n` floats, where every rank runs
  /// on this machine: then a post writes this rank's vector into its slot and raises its posted
  /// count, and a rank's mean is ready once every rank's count has reached it, with no message
  /// for MPI to move on. MPI_Iallreduce needs every rank to call MPI_Test for each of its
  /// stages, so where ranks outnumber cores a round waits for each rank's next turn on a core,
  /// several times; here it is ready when the last rank has posted, and `mean_posted` shows a
  /// peer's post, so a round starts when its first rank is due. Collective (all ranks, between
  /// their all-reduces); MPI_Win_allocate_shared on the ranks' shared-memory communicator.
  /// @returns whether the window is open: false where the ranks span machines or MPI's window
  /// memory model is not unified (post_mean then stays an MPI_Iallreduce).
  /// @throws transport_error when the window is open already, a mean is pending, or an MPI call fails.
  bool open_means(std::size_t n) {
    state& s = *state_;
    s.check_usable("open_means");
    if (s.means_window != MPI_WIN_NULL) s.refuse("open_means", "the window is open already");
    if (s.mean_pending()) s.refuse("open_means", "an all-reduce is pending");
    return s.open_means_window(n);
  }
  /// Frees the window of open_means, if open (collective, after every rank's last mean through
  /// it); later all-reduces are MPI_Iallreduce again.
  /// @throws transport_error while a mean through the window is pending, or an MPI call fails.
  void close_means() {
    state& s = *state_;
    if (s.means_window == MPI_WIN_NULL) return;
    if (s.window_mean_pending) s.refuse("close_means", "a mean through the window is pending");
    s.call("MPI_Win_free", MPI_Win_free(&s.means_window));
    s.call("MPI_Comm_free", MPI_Comm_free(&s.means_comm));
    s.mean_bases.clear();
    s.mean_capacity = 0;
  }
  /// Whether open_means has opened the window.
  [[nodiscard]] bool means_in_window() const noexcept { return state_->means_window != MPI_WIN_NULL; }
  /// Whether every rank runs on this machine (MPI_COMM_TYPE_SHARED spans the communicator), where
  /// open_means can open its window.
  [[nodiscard]] bool ranks_share_memory() const noexcept { return state_->one_machine; }

  /// Sends `send` to every rank in `peers` and receives, from each of them, its message of the
  /// same `round` into `received[k]` (resized to peers.size()). Ranks name each other: if a
  /// lists b in a round, b lists a.
  /// @throws transport_error when a peer is out of range, an MPI call fails, or a peer's message
  /// does not come within the timeout.
  void exchange(std::uint64_t round, std::span<const std::size_t> peers, std::span<const std::byte> send,
                std::vector<std::vector<std::byte>>& received) {
    const std::vector<std::span<const std::byte>> sends(peers.size(), send);
    exchange_each(round, peers, sends, received);
  }

  /// `exchange` with a message of its own for each peer: `sends[k]` goes to `peers[k]`.
  /// @throws transport_error as `exchange`, and when `sends` and `peers` differ in length.
  void exchange_each(std::uint64_t round, std::span<const std::size_t> peers,
                     std::span<const std::span<const std::byte>> sends, std::vector<std::vector<std::byte>>& received) {
    state& s = *state_;
    s.check_usable("exchange");
    const int tag = static_cast<int>(round % (static_cast<std::uint64_t>(s.tag_upper_bound) + 1));
    if (sends.size() != peers.size()) {
      s.refuse("exchange", "round " + std::to_string(round) + ": " + std::to_string(sends.size()) + " messages for " +
                               std::to_string(peers.size()) + " peers");
    }
    for (std::size_t p : peers) {
      if (p >= node_count() || p == node_id()) {
        s.refuse("exchange", "round " + std::to_string(round) + ": peer " + std::to_string(p) +
                                 " is not another rank of " + std::to_string(s.size));
      }
    }
    // Post every send first: the peers' receives are what complete them.
    s.sends.assign(peers.size(), MPI_REQUEST_NULL);
    for (std::size_t k = 0; k < peers.size(); ++k) {
      const int count = s.count(sends[k].size(), "MPI_Isend");
      s.call("MPI_Isend",
             MPI_Isend(sends[k].data(), count, MPI_BYTE, static_cast<int>(peers[k]), tag, s.comm, &s.sends[k]), round,
             peers[k]);
    }
    received.resize(peers.size());
    for (std::size_t k = 0; k < peers.size(); ++k) {
      const int peer = static_cast<int>(peers[k]);
      auto what = [&] {
        return "exchange: round " + std::to_string(round) + ": the message from rank " + std::to_string(peer);
      };
      MPI_Message message = MPI_MESSAGE_NULL;
      MPI_Status status;
      s.poll_until([&] {
        int found = 0;
        s.call("MPI_Improbe", MPI_Improbe(peer, tag, s.comm, &found, &message, &status), round, peers[k]);
        return found != 0;
      }, what, "it did not arrive");
      int bytes = 0;
      s.call("MPI_Get_count", MPI_Get_count(&status, MPI_BYTE, &bytes), round, peers[k]);
      received[k].resize(static_cast<std::size_t>(bytes));
      MPI_Request request = MPI_REQUEST_NULL;
      s.call("MPI_Imrecv", MPI_Imrecv(received[k].data(), bytes, MPI_BYTE, &message, &request), round, peers[k]);
      s.wait_until_complete(request, what, "it did not finish arriving");
    }
    // `send` belongs to the caller: every send completes before this returns.
    for (std::size_t k = 0; k < peers.size(); ++k) {
      s.wait_until_complete(s.sends[k], [&] {
        return "exchange: round " + std::to_string(round) + ": the message to rank " + std::to_string(peers[k]);
      }, "the peer did not take it");
    }
  }

  // ----- rounds that the first rank due calls (non-blocking rounds, as LAP-SGD's) -----

  /// Announces that this rank starts round `round`: a message (`MPI_Isend` of the round count,
  /// on a communicator of their own) to every other rank, unless some rank's call of this round
  /// or a later one has arrived already. Idempotent.
  /// @throws transport_error when an MPI call fails.
  void call_round(std::uint64_t round) {
    state& s = *state_;
    s.check_usable("call_round");
    s.take_calls();
    if (s.called > round) return;
    s.called = round + 1;
    s.complete_calls(false);
    s.call_values.push_back(s.called);
    const std::uint64_t* value = &s.call_values.back();
    for (int peer = 0; peer < s.size; ++peer) {
      if (peer == s.rank) continue;
      s.call_sends.push_back(MPI_REQUEST_NULL);
      s.call("MPI_Isend", MPI_Isend(value, 1, MPI_UINT64_T, peer, 0, s.calls, &s.call_sends.back()), round,
             static_cast<std::size_t>(peer));
      ++s.calls_sent[static_cast<std::size_t>(peer)];
    }
  }
  /// Rounds some rank has started (every round below the number returned), as far as their
  /// calls have arrived: takes the messages waiting (`MPI_Iprobe`, `MPI_Recv`).
  /// @throws transport_error when an MPI call fails.
  [[nodiscard]] std::uint64_t rounds_called() const {
    state& s = *state_;
    s.check_usable("rounds_called");
    s.take_calls();
    return s.called;
  }
  /// A call arrives as a message that only a poll takes, so nothing runs on arrival: the
  /// averager polls `rounds_called()` while it waits, every round_call_poll().
  void on_round_called(void (*)(void*) noexcept, void*) noexcept {}
  /// How often a waiting averager polls for calls: 500 us, about a tenth of the MLP's rounds
  /// on a 2-core machine, at about 1% of a core.
  [[nodiscard]] static constexpr std::chrono::microseconds round_call_poll() noexcept {
    return std::chrono::microseconds{500};
  }
  /// Ends the calls, after every rank's last (a collective): the ranks exchange how many calls
  /// each sent each (`MPI_Ialltoall`), and each takes the calls still on their way to it, so
  /// that no message is left unreceived.
  /// @throws transport_error when an MPI call fails, or a rank or a call does not come within
  /// the timeout.
  void close_rounds() {
    state& s = *state_;
    s.check_usable("close_rounds");
    std::vector<std::uint64_t> sent_to_me(static_cast<std::size_t>(s.size), 0);
    MPI_Request request = MPI_REQUEST_NULL;
    s.call("MPI_Ialltoall", MPI_Ialltoall(s.calls_sent.data(), 1, MPI_UINT64_T, sent_to_me.data(), 1, MPI_UINT64_T,
                                          s.calls, &request));
    s.wait_until_complete(request, [] { return std::string("close_rounds: MPI_Ialltoall (a collective)"); },
                          "the other ranks did not all join");
    s.poll_until([&] {
      s.take_calls();
      for (std::size_t k = 0; k < sent_to_me.size(); ++k) {
        if (s.calls_taken[k] < sent_to_me[k]) return false;
      }
      return true;
    }, [] { return std::string("close_rounds: the calls of other ranks"); }, "they did not all arrive");
    s.complete_calls(true);
    std::fill(s.calls_sent.begin(), s.calls_sent.end(), 0);
    std::fill(s.calls_taken.begin(), s.calls_taken.end(), 0);
    s.called = 0;
  }

  // ----- gossip: each rank's published copy in an RMA window -----

  /// Creates this rank's gossip window: `MPI_Win_allocate` of a header (the copy's size, the
  /// averages that changed it since this rank published) and `copy_bytes` of published copy.
  /// Collective over the ranks, before any other gossip call.
  /// @throws transport_error when the window is open already, or an MPI call fails.
  void open_gossip(std::size_t copy_bytes) {
    state& s = *state_;
    s.check_usable("open_gossip");
    if (s.window != MPI_WIN_NULL) s.refuse("open_gossip", "the gossip window is open already");
    s.copy_capacity = copy_bytes;
    const std::size_t bytes = state::copy_at + copy_bytes;
    (void)s.count(bytes, "MPI_Win_allocate");
    void* base = nullptr;
    s.call("MPI_Win_allocate",
           MPI_Win_allocate(static_cast<MPI_Aint>(bytes), 1, MPI_INFO_NULL, s.comm, &base, &s.window));
    s.call("MPI_Win_set_errhandler", MPI_Win_set_errhandler(s.window, MPI_ERRORS_RETURN));
    std::memset(base, 0, bytes);  // no copy, no changes: before any rank passes the barrier below
    MPI_Request request = MPI_REQUEST_NULL;
    s.call("MPI_Ibarrier", MPI_Ibarrier(s.comm, &request));
    s.wait_until_complete(request, [] { return std::string("open_gossip: MPI_Ibarrier (a collective)"); },
                          "the other ranks did not all open their windows");
  }

  /// Frees the gossip window (collective; after every rank's last gossip call).
  void close_gossip() {
    state& s = *state_;
    if (s.window == MPI_WIN_NULL) return;
    s.call("MPI_Win_free", MPI_Win_free(&s.window));
  }

  /// Publishes this rank's model in one exclusive epoch on its own window: `f(copy, changes,
  /// bytes)` gets the copy as other ranks' averages left it and how many changed it, and writes
  /// the copy that replaces it.
  template <class F>
  void publish(F&& f) {
    state& s = *state_;
    s.check_gossip("publish");
    const int me = s.rank;
    s.lock(MPI_LOCK_EXCLUSIVE, me);
    std::uint64_t header[2] = {0, 0};
    s.incoming.clear();
    s.read_copy(header, me, s.incoming);
    s.bytes.clear();
    std::forward<F>(f)(std::span<const std::byte>(s.incoming), header[1], s.bytes);
    if (s.bytes.size() > s.copy_capacity) {
      s.unlock(me);
      s.refuse("publish", "a copy of " + std::to_string(s.bytes.size()) + " bytes does not fit the window's " +
                              std::to_string(s.copy_capacity) + " (an encoding whose size varies?)");
    }
    header[0] = s.bytes.size();
    header[1] = 0;
    s.put(s.bytes.data(), s.bytes.size(), me, state::copy_at);
    s.put(header, sizeof header, me, 0);
    s.unlock(me);
  }

  /// Copies `peer`'s published copy into `out` in a shared epoch on its window (`peer` takes no
  /// part); false when it has published nothing yet.
  bool read_published(std::size_t peer, std::vector<std::byte>& out) {
    state& s = *state_;
    s.check_gossip("read_published");
    const int p = s.peer_rank(peer, "read_published");
    s.lock(MPI_LOCK_SHARED, p);
    std::uint64_t header[2] = {0, 0};
    s.read_copy(header, p, out);
    s.unlock(p);
    return header[0] > 0;
  }

  /// Averages with `peer`'s copy in one exclusive epoch on its window: gets the copy, `f(copy,
  /// new_copy)` writes its replacement, put with the header's count of changes raised by one.
  /// False when the peer has published nothing yet.
  template <class F>
  bool average_with(std::size_t peer, F&& f) {
    state& s = *state_;
    s.check_gossip("average_with");
    const int p = s.peer_rank(peer, "average_with");
    s.lock(MPI_LOCK_EXCLUSIVE, p);
    std::uint64_t header[2] = {0, 0};
    s.read_copy(header, p, s.incoming);
    if (header[0] == 0) {
      s.unlock(p);
      return false;
    }
    s.bytes.clear();
    std::forward<F>(f)(std::span<const std::byte>(s.incoming), s.bytes);
    if (s.bytes.empty() || s.bytes.size() > s.copy_capacity) {
      s.unlock(p);
      s.refuse("average_with", "a copy of " + std::to_string(s.bytes.size()) + " bytes (the window holds " +
                                   std::to_string(s.copy_capacity) + ")");
    }
    header[0] = s.bytes.size();
    header[1] += 1;
    s.put(s.bytes.data(), s.bytes.size(), p, state::copy_at);
    s.put(header, sizeof header, p, 0);
    s.unlock(p);
    return true;
  }

  /// Marks this rank as failed (its trainer calls it when its run fails), so the environment
  /// aborts the job at the end of its scope instead of waiting in MPI_Finalize for ranks that
  /// wait for this one. MPI cannot tell the peers sooner than that.
  void leave(std::string_view /*why*/) noexcept { failed().store(true); }

  friend std::ostream& operator<<(std::ostream& os, const mpi& t) {
    return os << "mpi{.rank = " << t.node_id() << ", .ranks = " << t.node_count()
              << ", .timeout = " << t.settings().timeout << '}';
  }

 private:
  // Set by any transport of the process that failed; the environment then aborts.
  static std::atomic<bool>& failed() noexcept {
    static std::atomic<bool> flag{false};
    return flag;
  }

  static std::string error_text(int code) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error code " + std::to_string(code);
    return std::string(text, static_cast<std::size_t>(length));
  }

  // Environment-level check (no rank known yet).
  static void check(const char* call, int code, int rank) {
    if (code == MPI_SUCCESS) return;
    throw transport_error("asgd: transport::mpi: " + (rank >= 0 ? "rank " + std::to_string(rank) + ": " : "") +
                          call + " failed: " + error_text(code));
  }

  struct state {
    state(MPI_Comm parent, const options& o) : opts(o) {
      check("MPI_Comm_dup", MPI_Comm_dup(parent, &comm), -1);
      check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), -1);
      check("MPI_Comm_rank", MPI_Comm_rank(comm, &rank), -1);
      check("MPI_Comm_size", MPI_Comm_size(comm, &size), -1);
      int* upper = nullptr;
      int has = 0;
      check("MPI_Comm_get_attr", MPI_Comm_get_attr(comm, MPI_TAG_UB, &upper, &has), rank);
      tag_upper_bound = has && upper ? *upper : 32767;  // the standard's guaranteed minimum
      check("MPI_Comm_dup", MPI_Comm_dup(comm, &calls), rank);
      check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(calls, MPI_ERRORS_RETURN), rank);
      calls_sent.assign(static_cast<std::size_t>(size), 0);
      calls_taken.assign(static_cast<std::size_t>(size), 0);
      MPI_Comm local = shared_memory_ranks();
      int local_size = 0;
      check("MPI_Comm_size", MPI_Comm_size(local, &local_size), rank);
      one_machine = local_size == size;
      check("MPI_Comm_free", MPI_Comm_free(&local), rank);
    }
    state(const state&) = delete;
    state& operator=(const state&) = delete;
    ~state() {
      int finalized = 0;
      MPI_Finalized(&finalized);
      // After a failure requests may still be pending on it; the job is aborting anyway.
      if (!finalized && !failed().load()) {
        MPI_Comm_free(&calls);
        MPI_Comm_free(&comm);
      }
    }

    MPI_Comm comm = MPI_COMM_NULL;
    int rank = 0;
    int size = 1;
    bool one_machine = false;  // every rank shares this machine's memory
    int tag_upper_bound = 32767;
    options opts;
    bool broken = false;
    std::vector<MPI_Request> sends;
    // The all-reduce posted by post_mean: its request, its values (the sum, scaled to the mean
    // on completion), and the all-reduces posted (atomic: mean_posted reads it from any worker)
    // and completed so far.
    MPI_Request mean_request = MPI_REQUEST_NULL;
    std::span<float> mean_values;
    std::atomic<std::uint64_t> means_posted{0};
    std::uint64_t means_done = 0;
    [[nodiscard]] bool mean_pending() const { return mean_request != MPI_REQUEST_NULL || window_mean_pending; }
    void finish_mean() {
      const float scale = 1.0f / static_cast<float>(size);
      for (float& x : mean_values) x *= scale;
      mean_values = {};
      ++means_done;
    }
    // Round calls: their own communicator (no tag of theirs meets a round's), the rounds called
    // as far as this rank knows, the calls it sent to and took from each rank, and its sends in
    // flight with their values (a deque: a value keeps its address while later ones are added).
    MPI_Comm calls = MPI_COMM_NULL;
    std::uint64_t called = 0;
    std::vector<std::uint64_t> calls_sent, calls_taken;
    std::vector<MPI_Request> call_sends;
    std::deque<std::uint64_t> call_values;

    // Takes every call that has arrived.
    void take_calls() {
      for (;;) {
        int found = 0;
        MPI_Status status;
        call("MPI_Iprobe", MPI_Iprobe(MPI_ANY_SOURCE, 0, calls, &found, &status));
        if (!found) return;
        std::uint64_t value = 0;
        call("MPI_Recv", MPI_Recv(&value, 1, MPI_UINT64_T, status.MPI_SOURCE, 0, calls, MPI_STATUS_IGNORE));
        ++calls_taken[static_cast<std::size_t>(status.MPI_SOURCE)];
        called = std::max(called, value);
      }
    }
    // Frees the sends of calls that completed (all of them, waiting up to the timeout, when
    // `all`): their values are then free too.
    void complete_calls(bool all) {
      auto complete = [&] {
        int done = 0;
        call("MPI_Testall", MPI_Testall(static_cast<int>(call_sends.size()), call_sends.data(), &done,
                                        MPI_STATUSES_IGNORE));
        return done != 0;
      };
      if (all) {
        poll_until(complete, [] { return std::string("close_rounds: this rank's calls"); },
                   "the peers did not take them");
      } else if (!complete()) {
        return;
      }
      call_sends.clear();
      call_values.clear();
    }
    // The means' shared-memory window (open_means; MPI_WIN_NULL: none) and where each rank's
    // segment is in this process: a 64-byte header whose first word is 1 + the ticket of the
    // rank's last post there, then two slots of `slot_floats` (a post takes the one of its
    // ticket's parity). A rank posts ticket t + 2 only after its mean of t + 1 was ready, which
    // needs every rank's post of t + 1, which each made after its mean of t was ready: no slot
    // is rewritten while a rank may still read it.
    MPI_Win means_window = MPI_WIN_NULL;
    MPI_Comm means_comm = MPI_COMM_NULL;
    std::size_t mean_capacity = 0, slot_floats = 0;
    std::vector<std::byte*> mean_bases;
    bool window_mean_pending = false;
    static constexpr std::size_t mean_header = 64;

    // The window's segments are in every process's memory: processes' loads and stores meet
    // there as threads' do (MPI's unified memory model, which open_means checks), and the
    // posted counts are read and written as atomics, a release after the slot's values.
    [[nodiscard]] std::atomic_ref<std::uint64_t> posted_word(int r) const {
      return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(mean_bases[static_cast<std::size_t>(r)]));
    }
    [[nodiscard]] float* mean_slot(int r, std::uint64_t ticket) const {
      return reinterpret_cast<float*>(mean_bases[static_cast<std::size_t>(r)] + mean_header) +
             (ticket % 2) * slot_floats;
    }
    [[nodiscard]] bool every_rank_posted() const {
      const std::uint64_t wanted = means_posted.load(std::memory_order_relaxed);  // the pending ticket + 1
      for (int r = 0; r < size; ++r) {
        if (posted_word(r).load(std::memory_order_acquire) < wanted) return false;
      }
      return true;
    }
    // The pending mean, once every rank posted it: the ranks' slots summed in rank order (every
    // rank gets the same floats), then scaled.
    void finish_window_mean() {
      const std::uint64_t ticket = means_done;
      const std::span<float> out = mean_values;
      const float* first = mean_slot(0, ticket);
      std::copy(first, first + out.size(), out.begin());
      for (int r = 1; r < size; ++r) {
        const float* x = mean_slot(r, ticket);
        for (std::size_t i = 0; i < out.size(); ++i) out[i] += x[i];
      }
      window_mean_pending = false;
      finish_mean();
    }
    // The ranks of `comm` that share this one's memory (MPI_COMM_TYPE_SHARED), in rank order.
    // A collective: a failure leaves the transport unusable (call).
    [[nodiscard]] MPI_Comm shared_memory_ranks() {
      MPI_Comm local = MPI_COMM_NULL;
      call("MPI_Comm_split_type", MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local));
      call("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(local, MPI_ERRORS_RETURN));
      return local;
    }
    bool open_means_window(std::size_t n) {
      if (!one_machine) return false;  // some rank is on another machine (every rank finds the same)
      const std::size_t floats = (n + 15) / 16 * 16;  // slots start on 64-byte lines
      if (floats > (static_cast<std::size_t>(PTRDIFF_MAX) - mean_header) / (2 * sizeof(float))) {
        refuse("open_means", "a window of 2 x " + std::to_string(n) + " floats is more than an MPI_Aint can say");
      }
      MPI_Comm local = shared_memory_ranks();
      MPI_Info info = MPI_INFO_NULL;
      call("MPI_Info_create", MPI_Info_create(&info));
      call("MPI_Info_set", MPI_Info_set(info, "alloc_shared_noncontig", "true"));  // each rank's own pages
      void* base = nullptr;
      const int code = MPI_Win_allocate_shared(static_cast<MPI_Aint>(mean_header + 2 * floats * sizeof(float)), 1,
                                               info, local, &base, &means_window);
      MPI_Info_free(&info);
      call("MPI_Win_allocate_shared", code);
      means_comm = local;
      call("MPI_Win_set_errhandler", MPI_Win_set_errhandler(means_window, MPI_ERRORS_RETURN));
      int* model = nullptr;
      int has_model = 0;
      call("MPI_Win_get_attr", MPI_Win_get_attr(means_window, MPI_WIN_MODEL, &model, &has_model));
      if (!has_model || model == nullptr || *model != MPI_WIN_UNIFIED) {  // the same on every rank
        call("MPI_Win_free", MPI_Win_free(&means_window));
        call("MPI_Comm_free", MPI_Comm_free(&means_comm));
        return false;
      }
      mean_bases.assign(static_cast<std::size_t>(size), nullptr);
      for (int r = 0; r < size; ++r) {
        MPI_Aint segment = 0;
        int unit = 0;
        void* at = nullptr;
        call("MPI_Win_shared_query", MPI_Win_shared_query(means_window, r, &segment, &unit, &at));
        if (reinterpret_cast<std::uintptr_t>(at) % alignof(std::uint64_t) != 0) {
          fail("open_means", "rank " + std::to_string(r) + "'s segment of the window is not 8-byte aligned");
        }
        mean_bases[static_cast<std::size_t>(r)] = static_cast<std::byte*>(at);
      }
      slot_floats = floats;
      mean_capacity = n;
      posted_word(rank).store(0, std::memory_order_relaxed);  // before the barrier lets any rank read it
      MPI_Request request = MPI_REQUEST_NULL;
      call("MPI_Ibarrier", MPI_Ibarrier(comm, &request));
      wait_until_complete(request, [] { return std::string("open_means: MPI_Ibarrier (a collective)"); },
                          "the other ranks did not all open the window");
      return true;
    }

    // Gossip: the RMA window (MPI_WIN_NULL until open_gossip) and its layout: a header of two
    // uint64 (the copy's size, the averages that changed it since its rank published), the copy.
    MPI_Win window = MPI_WIN_NULL;
    std::size_t copy_capacity = 0;
    std::vector<std::byte> bytes, incoming;

    static constexpr std::size_t copy_at = 16;
    void check_gossip(std::string_view op) const {
      check_usable(op);
      if (window == MPI_WIN_NULL) refuse(op, "the gossip window is not open (open_gossip first)");
    }
    [[nodiscard]] int peer_rank(std::size_t peer, std::string_view op) const {
      if (peer >= static_cast<std::size_t>(size) || peer == static_cast<std::size_t>(rank)) {
        refuse(op, "peer " + std::to_string(peer) + " is not another rank of " + std::to_string(size));
      }
      return static_cast<int>(peer);
    }
    void lock(int type, int target) { call("MPI_Win_lock", MPI_Win_lock(type, target, 0, window)); }
    void unlock(int target) { call("MPI_Win_unlock", MPI_Win_unlock(target, window)); }
    void flush(int target) { call("MPI_Win_flush", MPI_Win_flush(target, window)); }
    void get(void* to, std::size_t n, int target, std::size_t at) {
      const int c = count(n, "MPI_Get");
      call("MPI_Get", MPI_Get(to, c, MPI_BYTE, target, static_cast<MPI_Aint>(at), c, MPI_BYTE, window));
    }
    // Inside an epoch on `target`: its header (its copy's size, 0 before it publishes, and the
    // changes), and its copy into `out` when it has one (`out` untouched otherwise).
    void read_copy(std::uint64_t (&header)[2], int target, std::vector<std::byte>& out) {
      get(header, sizeof header, target, 0);
      flush(target);
      if (header[0] == 0) return;
      out.resize(static_cast<std::size_t>(header[0]));
      get(out.data(), out.size(), target, copy_at);
      flush(target);
    }
    void put(const void* from, std::size_t n, int target, std::size_t at) {
      const int c = count(n, "MPI_Put");
      call("MPI_Put", MPI_Put(from, c, MPI_BYTE, target, static_cast<MPI_Aint>(at), c, MPI_BYTE, window));
    }

    [[nodiscard]] std::string who() const { return "asgd: transport::mpi: rank " + std::to_string(rank) + ": "; }

    void check_usable(std::string_view op) const {
      if (broken) {
        throw transport_error(who() + std::string(op) +
                              ": an earlier operation of this transport failed; the communicator cannot be used again");
      }
    }
    // A bad argument, found before any MPI call: the communicator stays usable.
    [[noreturn]] void refuse(std::string_view op, const std::string& why) const {
      throw transport_error(who() + std::string(op) + ": " + why);
    }
    // A failed or unanswered MPI operation: requests may be left pending, so this transport is
    // unusable and the environment aborts the job at the end of its scope.
    [[noreturn]] void fail(std::string_view op, const std::string& why) {
      broken = true;
      failed().store(true);
      throw transport_error(who() + std::string(op) + ": " + why);
    }
    void call(const char* function, int code, std::uint64_t round = 0, std::size_t peer = SIZE_MAX) {
      if (code == MPI_SUCCESS) return;
      std::string where = function;
      if (peer != SIZE_MAX) where += " (round " + std::to_string(round) + ", peer rank " + std::to_string(peer) + ")";
      fail(where, "failed: " + error_text(code));
    }
    [[nodiscard]] int count(std::size_t n, const char* function) const {
      if (n > static_cast<std::size_t>(INT_MAX)) {
        refuse(function, "a message of " + std::to_string(n) + " elements is more than MPI's int count can say (" +
                       std::to_string(INT_MAX) + ")");
      }
      return static_cast<int>(n);
    }

    // Polls `done` until it holds (<asgd/detail/poll.hpp>); after `opts.timeout` seconds fails
    // with what() + why.
    template <class Done, class What>
    void poll_until(Done done, What what, const char* why) {
      if (detail::poll_until(done, std::chrono::duration<double>(opts.timeout))) return;
      std::ostringstream os;
      os << why << " within the timeout of " << opts.timeout << " s";
      fail(what(), os.str());
    }
    template <class What>
    void wait_until_complete(MPI_Request& request, What what, const char* why) {
      poll_until([&] {
        int complete = 0;
        const int code = MPI_Test(&request, &complete, MPI_STATUS_IGNORE);
        if (code != MPI_SUCCESS) fail(what(), "MPI_Test failed: " + error_text(code));
        return complete != 0;
      }, what, why);
    }
  };

  std::shared_ptr<state> state_;
};

}  // namespace asgd::inline v0::transport
