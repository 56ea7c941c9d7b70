// transport::mpi under mpirun: every rank runs every test case (they are collective), checking
// the same invariants as the in-process nodes: the transport's own operations, then training
// nodes whose zero gradient isolates the averaging (the mean is kept, consensus is reached) for
// all_reduce, ring and random_pairs, decentralized logistic regression against one node, and a
// straggling rank. `--stall-test` instead runs the lost-rank scenario (see stall_test below).

#define DOCTEST_CONFIG_IMPLEMENT
#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>
#include <asgd/transport/mpi.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace c = asgd::consistency;
namespace t = asgd::topology;
using asgd::transport::mpi;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// The sum over ranks, in double (the test's own reduction, independent of the transport's).
std::vector<double> sum_over_ranks(std::span<const float> x) {
  std::vector<double> in(x.begin(), x.end()), out(x.size());
  MPI_Allreduce(in.data(), out.data(), static_cast<int>(in.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return out;
}

// Gradient zero: only averaging moves the model. Rank k starts at (k - (n-1)/2) + 0.01 i. With
// a `pace`, each gradient sleeps that long.
struct still_problem {
  static constexpr std::string_view name = "still_problem";
  float offset = 0.0f;
  std::chrono::microseconds pace{0};
  [[nodiscard]] std::size_t dimension() const { return 32; }
  [[nodiscard]] std::size_t num_samples() const { return 1024; }
  float gradient(std::span<const float>, asgd::batch_view, std::span<float> g) const {
    if (pace.count() > 0) std::this_thread::sleep_for(pace);
    std::fill(g.begin(), g.end(), 0.0f);
    return 0.0f;
  }
  void initialize(std::span<float> x, std::uint64_t) const {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = offset + 0.01f * static_cast<float>(i);
  }
};

float own_offset() { return static_cast<float>(world_rank()) - 0.5f * static_cast<float>(world_size() - 1); }

// The ranks' consensus distance at the start: 32 coordinates, each rank its offset from the mean.
double starting_distance() {
  double sum = 0.0;
  for (int k = 0; k < world_size(); ++k) {
    const double offset = static_cast<double>(k) - 0.5 * static_cast<double>(world_size() - 1);
    sum += 32.0 * offset * offset;
  }
  return sum;
}

// Checks that the ranks' models `x` keep the starting mean (0.01 i) and returns their
// consensus distance, the sum over ranks of |x - mean|^2.
double check_mean_and_spread(std::span<const float> x) {
  const std::size_t n = static_cast<std::size_t>(world_size());
  const std::vector<double> sum = sum_over_ranks(x);
  double own_distance = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double mean = sum[i] / static_cast<double>(n);
    CHECK(mean == doctest::Approx(0.01 * static_cast<double>(i)).epsilon(1e-5).scale(1.0));
    own_distance += std::pow(x[i] - mean, 2.0);
  }
  return sum_over_ranks(std::vector<float>{static_cast<float>(own_distance)})[0];
}

// `within`: the consensus distance to reach in 64 rounds (quantized steps contract more slowly).
template <class Mode, class Topo, class Quant = asgd::quantize::identity>
void check_mean_and_consensus(Topo topo, bool blocking, double within = 1e-6) {
  const std::size_t n = static_cast<std::size_t>(world_size());
  asgd::settings s{.threads = Mode::max_workers > 1 ? 2u : 1u, .steps = 512, .batch = 4, .lr = 0.1f,
                   .averaging = {.every = 8, .blocking = blocking, .final_average = false}};
  asgd::trainer<still_problem, Mode, Topo, Quant, mpi> tr{still_problem{.offset = own_offset()}, s, topo, Quant{},
                                                          mpi(mpi::options{.timeout = 30})};
  const asgd::report r = tr.run();
  const double distance = check_mean_and_spread(tr.parameters());
  CHECK(distance < within);  // it started at n * 32 * (spread of the offsets)^2, hundreds
  REQUIRE(r.node);
  CHECK(r.node->node == static_cast<std::size_t>(world_rank()));
  CHECK(r.node->nodes == n);
  CHECK(r.node->transport.find("mpi{") == 0);
  CHECK(r.node->rounds == 512 / 8);
  CHECK(r.node->final_consensus_distance == doctest::Approx(distance).epsilon(0.05).scale(1e-6));
  CHECK(r.node->bytes_sent > 0);
}

// Gossip over RMA windows: the ranks' sum is kept (two-sided), they come together (blocking),
// and the half-differences received over all ranks are the interactions started.
//
// Coming together needs the ranks to run at the same time: a node that gossips only after its
// neighbours have finished pulls their published copies toward itself, but a neighbour's
// neighbour is never mixed with it again (on a loaded machine, beside another test, 4 ranks of
// instant steps ran so and ended 0.18-0.30 apart). Steps that sleep 50 us hand the cores to the
// ranks in turn, as ranks on machines of their own would run.
void check_gossip(asgd::topology::one_of<t::swarm, t::adpsgd> topo, bool blocking) {
  const std::size_t n = static_cast<std::size_t>(world_size());
  asgd::settings s{.threads = 2, .steps = 600, .batch = 4, .seed = 7,
                   .averaging = {.every = 4, .blocking = blocking, .final_average = false}};
  asgd::trainer<still_problem, c::leashed, asgd::topology::one_of<t::swarm, t::adpsgd>, mpi> tr{
      still_problem{.offset = own_offset(), .pace = std::chrono::microseconds(50)}, s, topo,
      mpi(mpi::options{.timeout = 30})};
  const asgd::report r = tr.run();
  const double distance = check_mean_and_spread(tr.parameters());
  REQUIRE(r.node);
  // What a failure needs to be understood. Blocking, the distance is usually 0 (the ranks agree
  // to the bit); a local CI run on 3 Dec 2026 saw 0.296 once, which 24 runs alone or beside two
  // busy loops did not reproduce.
  INFO(asgd::detail::describe(topo), std::string(blocking ? ", blocking" : ", non-blocking"),
       "; this rank: ", r.node->rounds, " interactions, ", r.node->skipped_interactions, " folded in, ",
       r.node->pushes_received, " received");
  // From n * 32 * (spread of the offsets)^2, hundreds. Non-blocking, these instant steps end
  // before the averagers get going and the events that came due fold into few interactions.
  if (blocking) CHECK(distance < 0.16);
  const std::vector<double> counts = sum_over_ranks(std::vector<float>{
      static_cast<float>(r.node->rounds), static_cast<float>(r.node->pushes_received),
      static_cast<float>(r.node->rounds + r.node->skipped_interactions)});
  CHECK(counts[1] == counts[0]);
  CHECK(counts[2] >= static_cast<double>(n * 600 / 4) / 2);
  CHECK(r.node->rounds >= 1);
}

}  // namespace

TEST_SUITE("mpi") {
  TEST_CASE("swarm and adpsgd over MPI windows: the sum is kept, ranks come together, every push arrives"
            * doctest::timeout(300)) {
    check_gossip(t::swarm{}, false);
    check_gossip(t::swarm{}, true);
    check_gossip(t::adpsgd{}, true);
  }


  TEST_CASE("transport::mpi: ranks, all_reduce_mean and exchange of messages of any length") {
    mpi tr(mpi::options{.timeout = 30});
    const std::size_t rank = tr.node_id(), n = tr.node_count();
    CHECK(rank == static_cast<std::size_t>(world_rank()));
    CHECK(n == static_cast<std::size_t>(world_size()));

    std::vector<float> v(1000);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(rank * 1000 + i);
    tr.all_reduce_mean(v);
    for (std::size_t i = 0; i < v.size(); i += 97)
      CHECK(v[i] == doctest::Approx(500.0 * static_cast<double>(n - 1) + static_cast<double>(i)));

    // A ring of rounds: each rank sends rank+1 + round bytes, so lengths differ by sender.
    std::vector<std::vector<std::byte>> got;
    for (std::uint64_t round = 0; round < 20; ++round) {
      const std::size_t next = (rank + 1) % n, prev = (rank + n - 1) % n;
      std::vector<std::size_t> peers{next};
      if (prev != next) peers.push_back(prev);
      if (n == 1) break;
      std::vector<std::byte> send(rank + 1 + round, static_cast<std::byte>(rank * 16 + round));
      tr.exchange(round, peers, send, got);
      REQUIRE(got.size() == peers.size());
      for (std::size_t k = 0; k < peers.size(); ++k) {
        CHECK(got[k].size() == peers[k] + 1 + round);
        CHECK(got[k].front() == static_cast<std::byte>(peers[k] * 16 + round));
      }
    }
  }

  TEST_CASE("transport::mpi: the all-reduce in two phases, and non-blocking rounds taken by the workers"
            * doctest::timeout(300)) {
    static_assert(asgd::split_all_reduce_transport<mpi>);
    mpi tr(mpi::options{.timeout = 30});
    const std::size_t rank = tr.node_id(), n = tr.node_count();
    std::vector<float> v(100);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(rank * 100 + i);
    const std::uint64_t ticket = tr.post_mean(v);
    CHECK_THROWS_WITH_AS((void)tr.post_mean(v), doctest::Contains("the previous all-reduce has not completed"),
                         asgd::transport_error);
    while (!tr.mean_ready(ticket)) std::this_thread::yield();
    for (std::size_t i = 0; i < v.size(); i += 9)
      CHECK(v[i] == doctest::Approx(50.0 * static_cast<double>(n - 1) + static_cast<double>(i)));
    tr.await_mean(ticket, v);  // complete already: nothing to wait for, not scaled again
    CHECK(v[9] == doctest::Approx(50.0 * static_cast<double>(n - 1) + 9.0));
    CHECK_FALSE(tr.mean_posted());  // a collective's other ranks are not visible before it completes
    // Then one all_reduce_mean after it: the ranks' all-reduces stay in order.
    std::vector<float> w{static_cast<float>(rank)};
    tr.all_reduce_mean(w);
    CHECK(w[0] == doctest::Approx(0.5 * static_cast<double>(n - 1)));

    // The trainer's rounds on its workers: every round lands, the ranks hold their mean (leashed:
    // no worker's update overwrites a mix-in, as a HOGWILD! worker's may).
    const asgd::settings s{.threads = 2, .steps = 512, .batch = 4, .lr = 0.1f,
                           .averaging = {.every = 8, .final_average = false, .rounds_on_workers = true}};
    asgd::trainer<still_problem, c::leashed, t::all_reduce, mpi> node{still_problem{.offset = own_offset()}, s,
                                                                      mpi(mpi::options{.timeout = 30})};
    const asgd::report r = node.run();
    CHECK(check_mean_and_spread(node.parameters()) < 1e-6);
    REQUIRE(r.node);
    CHECK(r.node->rounds == 512 / 8);
    CHECK(r.node->averager_scheduling == "none: rounds on workers");
  }

  TEST_CASE("transport::mpi: the all-reduce through a shared-memory window: every rank gets the same exact mean, "
            "a peer's post shows" * doctest::timeout(300)) {
    mpi tr(mpi::options{.timeout = 30});
    const std::size_t rank = tr.node_id(), n = tr.node_count();
    REQUIRE(tr.ranks_share_memory());  // mpirun on one machine
    CHECK_FALSE(tr.means_in_window());
    REQUIRE(tr.open_means(1000));
    CHECK(tr.means_in_window());
    CHECK_THROWS_WITH_AS((void)tr.open_means(10), doctest::Contains("the window is open already"),
                         asgd::transport_error);

    // Rounds of varying length (every rank the same length per round) at uneven paces, so that
    // the two slots alternate while ranks post and read at different times. Each rank's values
    // are small integers (exact in float); every rank must get the sum in rank order, scaled.
    auto value = [](std::size_t r, std::uint64_t round, std::size_t i) {
      return static_cast<float>(r * 1000 + (round * 7 + i) % 997);
    };
    std::vector<float> v(1000);
    for (std::uint64_t round = 0; round < 300; ++round) {
      const std::size_t length = 1 + (round * 37) % 1000;
      const std::span<float> x(v.data(), length);
      for (std::size_t i = 0; i < length; ++i) x[i] = value(rank, round, i);
      const std::uint64_t ticket = tr.post_mean(x);
      if ((round + rank) % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      while (!tr.mean_ready(ticket)) std::this_thread::yield();
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < length; ++i) {
        float sum = value(0, round, i);
        for (std::size_t r = 1; r < n; ++r) sum += value(r, round, i);
        if (x[i] != sum * (1.0f / static_cast<float>(n))) ++wrong;
      }
      CAPTURE(round);
      CHECK(wrong == 0);
    }

    // No rank has posted the next mean before every rank reaches the barrier; after it rank 0
    // posts first, and the others wait to see its post before they post theirs.
    CHECK_FALSE(tr.mean_posted());
    MPI_Barrier(MPI_COMM_WORLD);
    std::vector<float> w{static_cast<float>(rank)};
    if (rank != 0) {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!tr.mean_posted() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
      CHECK(tr.mean_posted());
    }
    const std::uint64_t ticket = tr.post_mean(w);
    CHECK_THROWS_WITH_AS(tr.close_means(), doctest::Contains("a mean through the window is pending"),
                         asgd::transport_error);
    tr.await_mean(ticket, w);
    CHECK(w[0] == doctest::Approx(0.5 * static_cast<double>(n - 1)));

    // A vector longer than the window holds is an MPI_Iallreduce, in order with the window's.
    std::vector<float> big(1001, static_cast<float>(rank));
    tr.all_reduce_mean(big);
    CHECK(big[1000] == doctest::Approx(0.5 * static_cast<double>(n - 1)));
    tr.all_reduce_mean(w);
    CHECK(w[0] == doctest::Approx(0.5 * static_cast<double>(n - 1)));

    tr.close_means();
    CHECK_FALSE(tr.means_in_window());
    CHECK_FALSE(tr.mean_posted());
    std::vector<float> after{static_cast<float>(rank) * 2.0f};
    tr.all_reduce_mean(after);
    CHECK(after[0] == doctest::Approx(static_cast<double>(n - 1)));
  }

  TEST_CASE("transport::mpi: exchange_each gives each peer its own message") {
    mpi tr(mpi::options{.timeout = 30});
    const std::size_t rank = tr.node_id(), n = tr.node_count();
    std::vector<std::size_t> peers;
    std::vector<std::vector<std::byte>> messages;
    for (std::size_t p = 0; p < n; ++p) {
      if (p == rank) continue;
      peers.push_back(p);
      messages.emplace_back(1 + p, static_cast<std::byte>(16 * rank + p));  // from this rank to p
    }
    const std::vector<std::span<const std::byte>> sends(messages.begin(), messages.end());
    std::vector<std::vector<std::byte>> got;
    tr.exchange_each(5, peers, sends, got);
    REQUIRE(got.size() == peers.size());
    for (std::size_t k = 0; k < peers.size(); ++k) {
      CHECK(got[k].size() == 1 + rank);
      CHECK(got[k].front() == static_cast<std::byte>(16 * peers[k] + rank));
    }
  }

  TEST_CASE("transport::mpi: a peer out of range is a transport_error naming it; the transport stays usable") {
    mpi tr(mpi::options{.timeout = 30});
    const std::size_t bad[] = {tr.node_count()};
    std::vector<std::vector<std::byte>> got;
    CHECK_THROWS_WITH_AS(tr.exchange(3, bad, {}, got), doctest::Contains("is not another rank of"),
                         asgd::transport_error);
    std::vector<float> v{1.0f};
    tr.all_reduce_mean(v);
    CHECK(v[0] == 1.0f);
  }

  TEST_CASE("transport::mpi: bad options are refused") {
    CHECK_THROWS_WITH_AS(mpi(mpi::options{.timeout = 0.0}), doctest::Contains("the timeout must be finite and > 0"),
                         std::invalid_argument);
  }

  TEST_CASE("all_reduce, ring, random_pairs over MPI: the mean is kept and consensus is reached"
            * doctest::timeout(300)) {
    check_mean_and_consensus<c::leashed>(t::all_reduce{}, false);
    check_mean_and_consensus<c::leashed>(t::ring{}, false);
    check_mean_and_consensus<c::leashed>(t::random_pairs{}, false);
    check_mean_and_consensus<c::atomic_add>(t::ring{}, false);
    check_mean_and_consensus<c::sequential>(t::random_pairs{}, true);
    check_mean_and_consensus<c::hogwild>(t::all_reduce{}, true);
    // Differences against the links' references: each peer its own message (exchange_each). A
    // damped 4-bit step (by 1 / (1 + omega), omega 0.65 for these 32 floats) contracts the
    // references' error more slowly: 64 random-pair rounds leave 2.5e-8 of the starting distance
    // at 3 ranks, 1.6e-6 at 5 (1e-6 absolute is 3e-9 of it at 5 ranks).
    check_mean_and_consensus<c::leashed, t::ring, asgd::quantize::differences<asgd::quantize::qsgd<8>>>(t::ring{},
                                                                                                      false);
    check_mean_and_consensus<c::sequential, t::random_pairs, asgd::quantize::differences<asgd::quantize::qsgd<4>>>(
        t::random_pairs{}, true, 1e-5 * starting_distance());
  }

  TEST_CASE("decentralized logistic regression over MPI matches one node at equal total samples"
            * doctest::timeout(300)) {
    using asgd::problems::logistic_regression;
    const auto d = asgd::problems::make_logistic_regression(16000, 40, 3);
    const asgd::settings base{.threads = 2, .epochs = 3, .batch = 16, .lr = 0.05f, .seed = 5};
    asgd::trainer<logistic_regression, c::hogwild> one{d.problem, base};
    const double single = one.run().final_evaluation->accuracy;
    CAPTURE(single);
    // Rounds on a ring, and SwarmSGD's gossip over the ranks' windows (H = 4).
    using any_topology = asgd::topology::one_of<t::ring, t::swarm>;
    for (const any_topology topo : {any_topology{t::ring{}}, any_topology{t::swarm{}}}) {
      CAPTURE(topo);
      asgd::settings s = base;
      s.averaging = {.every = topo.index() == 0 ? 8u : 4u};
      asgd::trainer<logistic_regression, c::hogwild, any_topology, asgd::quantize::qsgd<8>, mpi> node{
          d.problem, s, topo, mpi(mpi::options{.timeout = 60})};
      const asgd::report r = node.run();
      CHECK(r.final_evaluation->accuracy >= single - 0.01);
      const std::size_t n = static_cast<std::size_t>(world_size());
      CHECK(r.steps == 3 * ((16000 + 16 * n - 1) / (16 * n)));  // each rank: its share, three times over
      CHECK(r.node->rounds > 0);
    }
  }

  TEST_CASE("Dirichlet shards over MPI: the ranks' shards hold every sample once; federated weights them") {
    // Each rank draws the whole split from the seed and keeps its own shard: the shard sizes
    // add up to the samples, and a federated average keeps the size-weighted mean.
    const auto d = asgd::problems::make_softmax_regression(3000, 10, 5, 0.5, 4);
    asgd::settings s{.threads = 1, .steps = 40, .batch = 8, .lr = 0.05f, .seed = 2};
    s.shards = {.type = asgd::sharding::kind::dirichlet, .alpha = 0.3};
    s.averaging = {.every = 4, .blocking = true};
    asgd::trainer<asgd::problems::softmax_regression, c::hogwild, t::federated, mpi> node{
        d.problem, s, t::federated{.fraction = 1.0}, mpi(mpi::options{.timeout = 60})};
    const asgd::report r = node.run();
    const double held = static_cast<double>(r.node->shard_samples);
    const auto total = sum_over_ranks(std::vector<float>{static_cast<float>(held)});
    CHECK(total[0] == 3000.0);
    const std::size_t n = static_cast<std::size_t>(world_size());
    const auto expected = asgd::split_samples(s.shards, 3000, n, static_cast<std::size_t>(world_rank()), s.seed,
                                              [&] {
                                                std::vector<std::uint32_t> c(3000);
                                                for (std::size_t i = 0; i < c.size(); ++i)
                                                  c[i] = static_cast<std::uint32_t>(d.problem.class_of(i));
                                                return c;
                                              }(),
                                              8);
    CHECK(r.node->shard_samples == expected.count);
    std::string sizes;
    for (std::size_t k = 0; k < n; ++k) sizes += (k ? ", " : "") + std::to_string(expected.sizes[k]);
    CHECK(r.node->topology == "federated{.fraction = 1, .data_sizes = {" + sizes + "}}");
  }

  TEST_CASE("ranks that disagree on their schedule all refuse before the first step, naming the extremes") {
    // Seeds 4, 5, 6, ...: under 3 ranks the middle one's is the mean of the others', which a
    // comparison with the mean let through.
    using asgd::problems::least_squares;
    const auto d = asgd::problems::make_least_squares(400, 8, 0.1, 1);
    const std::size_t rank = static_cast<std::size_t>(world_rank()), n = static_cast<std::size_t>(world_size());
    if (n < 2) return;
    asgd::trainer<least_squares, c::hogwild, t::ring, mpi> node{
        d.problem, {.threads = 1, .steps = 100, .batch = 4, .seed = 4 + rank}, mpi(mpi::options{.timeout = 30})};
    const std::string expected = "the nodes disagree on settings.seed (it draws the random matchings): node 0 has 4, "
                                 "node " + std::to_string(n - 1) + " has " + std::to_string(3 + n) + " (this node " +
                                 std::to_string(4 + rank) + ")";
    CHECK_THROWS_WITH_AS(node.run(), doctest::Contains(expected.c_str()), std::invalid_argument);
  }

  TEST_CASE("non-blocking rounds over MPI start when the first rank is due: a slow rank does not hold them back"
            * doctest::timeout(300)) {
    // The last rank's steps take 4 ms, the others' 0.5 ms: the fast ranks reach every round's
    // step first and call it, and the slow rank's averager, polling every 0.5 ms, takes it. With
    // the rounds on the workers, the fast ranks post first, and the slow rank's worker sees
    // their posts in the shared-memory window after its next step.
    const std::size_t n = static_cast<std::size_t>(world_size()), rank = static_cast<std::size_t>(world_rank());
    if (n < 2) return;
    for (const auto& form : {std::pair{true, false}, {false, false}, {true, true}}) {
      const bool first_due_starts = form.first, on_workers = form.second;
      CAPTURE(first_due_starts);
      CAPTURE(on_workers);
      asgd::settings s{.threads = 1, .steps = 256, .batch = 4, .lr = 0.1f,
                       .averaging = {.every = 8, .first_due_starts = first_due_starts,
                                     .rounds_on_workers = on_workers}};
      const auto pace = std::chrono::microseconds(rank + 1 == n ? 4000 : 500);
      asgd::trainer<still_problem, c::hogwild, t::all_reduce, mpi> tr{
          still_problem{.offset = own_offset(), .pace = pace}, s, mpi(mpi::options{.timeout = 30})};
      const asgd::report r = tr.run();
      REQUIRE(r.node);
      CHECK(r.node->rounds == 256 / 8);
      (void)check_mean_and_spread(tr.parameters());  // every round's mean is kept either way
      CAPTURE(r.node->mix_lag_max);
      CAPTURE(r.node->rounds_early);
      // Waiting for the last rank, no rank takes a round before its own workers are due. Started
      // by the first rank due, the slow rank takes rounds early: the fast ranks reach a round's
      // step 8 times sooner. (How late the fast ranks' rounds land, r.node->mix_lag, depends on
      // how soon the slow rank's averager gets a core: on a loaded machine 150 of 256 steps.)
      if (!first_due_starts) {
        CHECK(r.node->rounds_early == 0);
      } else if (rank + 1 == n) {
        CHECK(r.node->rounds_early >= 1);
      }
    }
  }

  TEST_CASE("a straggling rank slows its partners but the exchange completes") {
    mpi tr(mpi::options{.timeout = 30});
    const std::size_t rank = tr.node_id(), n = tr.node_count();
    if (n < 2) return;
    std::vector<std::vector<std::byte>> got;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t round = 0; round < 4; ++round) {
      if (rank == n - 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const std::size_t partner = rank ^ 1u;
      if (partner >= n) continue;
      const std::size_t peers[] = {partner};
      std::vector<std::byte> send(64, static_cast<std::byte>(rank));
      tr.exchange(round, peers, send, got);
      CHECK(got.at(0).at(0) == static_cast<std::byte>(partner));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rank == ((n - 1) ^ 1u)) CHECK(seconds >= 0.35);  // it waited for the straggler each round
  }
}

namespace {

// Rank 0 all-reduces with a 2 s timeout while the last rank never joins (it sleeps far longer).
// Rank 0 must report a transport_error naming the call within the timeout; leaving the
// environment's scope then aborts the job, which ends the sleeping rank too (no hang). CTest
// checks the message and that mpirun returns long before the sleeper would wake.
int stall_test() {
  mpi tr(mpi::options{.timeout = 2});
  if (tr.node_id() + 1 == tr.node_count()) {
    std::this_thread::sleep_for(std::chrono::seconds(600));
    return 1;
  }
  std::vector<float> v(16, 1.0f);
  const auto start = std::chrono::steady_clock::now();
  try {
    tr.all_reduce_mean(v);
  } catch (const asgd::transport_error& e) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("rank %zu: transport_error after %.2f s (%s): %s\n", tr.node_id(), s, s < 4.0 ? "in time" : "too late",
                e.what());
    std::fflush(stdout);
    return s < 4.0 ? 0 : 1;
  }
  std::printf("rank %zu: the all-reduce completed without the stalled rank\n", tr.node_id());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  mpi::environment env(argc, argv);
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--stall-test") == 0) return stall_test();

  doctest::Context context(argc, argv);
  if (world_rank() != 0) context.setOption("minimal", true);  // rank 0 prints the summary; all print failures
  int failed = context.run();
  if (context.shouldExit()) return failed;
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any;
}
