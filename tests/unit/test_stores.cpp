// Consistency stores, one worker at a time: what read and apply do to the model, versions and
// staleness (and a round of `synchronous`, whose workers meet at its barriers, on threads). The
// concurrent behaviour is in concurrency/.

#include "../support.hpp"

#include <asgd/detail/version_chain.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

template <class Mode>
void single_worker_semantics(const Mode& mode) {
  const std::vector<float> init{1.0f, 2.0f, 3.0f, 4.0f};
  typename Mode::store store(mode, {4, 1}, init);
  auto w = store.make_worker(0);
  asgd_test::identity_direction dir;

  {
    auto h = store.read(w);
    CHECK(std::vector<float>(h.values().begin(), h.values().end()) == init);
    CHECK(h.version() == 0);
    const std::vector<float> g{10.0f, 20.0f};
    const auto res = store.apply(w, h, {1, 3}, g, dir, asgd_test::constant_lr{0.5});
    CHECK(res.applied);
    CHECK(res.staleness == 0);
  }
  std::vector<float> out(4);
  store.copy_to(out);
  CHECK(out == std::vector<float>{1.0f, -3.0f, -7.0f, 4.0f});
  CHECK(store.version() == 1);

  {
    auto h = store.read_sparse(w);
    CHECK(h.reader()[2] == -7.0f);
    CHECK(h.version() == 1);
    const std::vector<std::uint32_t> idx{3, 0};
    const std::vector<float> g{1.0f, 2.0f};
    const auto res = store.apply_sparse(w, h, idx, g, dir, asgd_test::constant_lr{1.0});
    CHECK(res.applied);
  }
  store.copy_to(out);
  CHECK(out == std::vector<float>{-1.0f, -3.0f, -7.0f, 3.0f});
  CHECK(store.version() == 2);

  // Staleness counts the updates applied since the read, and the stale update lands on the
  // newest model: a store that wrote back its read snapshot plus the update would lose the
  // three updates in between.
  if constexpr (!Mode::lockstep && Mode::max_workers > 1) {
    auto w2 = store.make_worker(0);
    auto old = store.read(w2);
    for (int k = 0; k < 3; ++k) {
      auto h = store.read(w);
      const std::vector<float> g(4, 1.0f);
      store.apply(w, h, {0, 4}, g, dir, asgd_test::constant_lr{1.0});
    }
    const std::vector<float> g(4, 0.5f);
    CHECK(store.apply(w2, old, {0, 4}, g, dir, asgd_test::constant_lr{1.0}).staleness == 3);
    store.copy_to(out);
    CHECK(out == std::vector<float>{-4.5f, -6.5f, -10.5f, -0.5f});
    store.finish(w2);
  }
  store.finish(w);
}

// A node's store: mix adds to the model, assign replaces it (a round that no worker writes
// through), and copy_to sees each.
template <class Mode>
void mix_and_assign(const Mode& mode) {
  const std::vector<float> init{1.0f, 2.0f, 3.0f, 4.0f};
  typename Mode::store store(mode, {.dimension = 4, .workers = 1, .averagers = 1}, init);
  auto w = store.make_worker(0);
  std::vector<float> out(4);
  const std::vector<float> delta{0.5f, -1.0f, 0.0f, 2.0f};
  store.mix(delta);
  store.copy_to(out);
  CHECK(out == std::vector<float>{1.5f, 1.0f, 3.0f, 6.0f});
  const std::vector<float> values{-7.0f, 0.25f, 1e-30f, 3.0f};
  store.assign(values);
  store.copy_to(out);
  CHECK(out == values);
  {
    auto h = store.read(w);  // a worker reads what was assigned
    CHECK(std::vector<float>(h.values().begin(), h.values().end()) == values);
  }
  store.finish(w);
}

}  // namespace

TEST_SUITE("stores") {
  TEST_CASE_TEMPLATE("a node's store: mix adds to the model, assign replaces it", Mode, asgd::consistency::sequential,
                     asgd::consistency::synchronous, asgd::consistency::locked, asgd::consistency::hogwild,
                     asgd::consistency::atomic_add, asgd::consistency::leashed, asgd::consistency::bounded_staleness<2>,
                     asgd::consistency::replicas) {
    mix_and_assign(Mode{});
  }

  TEST_CASE("synchronous: a round applies the mean of its workers' gradients, zero where none chose a coordinate") {
    // Three workers on overlapping ranges of a model of several of the store's blocks, each
    // worker updating its own slice.
    constexpr std::size_t d = 1000, workers = 3;
    std::vector<float> init(d);
    for (std::size_t i = 0; i < d; ++i) init[i] = static_cast<float>(i % 7);
    const asgd::consistency::synchronous mode;
    asgd::consistency::synchronous::store store(mode, {d, workers}, init);
    const std::array<asgd::param_range, workers> ranges{{{0, d}, {100, 700}, {650, 990}}};
    std::vector<std::vector<float>> grads(workers);
    for (std::size_t w = 0; w < workers; ++w) {
      for (std::size_t k = 0; k < ranges[w].size(); ++k) {
        grads[w].push_back(0.5f * static_cast<float>(w + 1) + static_cast<float>(k % 5));
      }
    }
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        auto sw = store.make_worker(w);
        auto h = store.read(sw);
        asgd_test::identity_direction dir;
        CHECK(store.apply(sw, h, ranges[w], grads[w], dir, asgd_test::constant_lr{0.25}).applied);
        store.finish(sw);
      });
    }
    for (auto& t : threads) t.join();
    std::vector<float> expected = init;
    for (std::size_t i = 0; i < d; ++i) {
      float sum = 0.0f;  // in the store's order: the workers' in turn, then the scale
      for (std::size_t w = 0; w < workers; ++w) {
        if (ranges[w].contains(i)) sum += grads[w][i - ranges[w].begin];
      }
      sum *= 1.0f / static_cast<float>(workers);
      expected[i] -= 0.25f * sum;
    }
    std::vector<float> out(d);
    store.copy_to(out);
    CHECK(out == expected);
    CHECK(store.version() == 1);
  }

  TEST_CASE("synchronous: sparse rounds apply the mean of the workers' entries, round after round") {
    // Three workers whose entries fall in each other's slices, and a second round on other
    // coordinates: what a worker summed in the first must not leak into the second.
    constexpr std::size_t d = 1000, workers = 3, rounds = 2;
    std::vector<float> init(d);
    for (std::size_t i = 0; i < d; ++i) init[i] = static_cast<float>(i % 7);
    const asgd::consistency::synchronous mode;
    asgd::consistency::synchronous::store store(mode, {d, workers}, init);
    auto indices = [](std::size_t round, std::size_t w) {
      std::vector<std::uint32_t> idx;
      for (std::uint32_t i = static_cast<std::uint32_t>(w * 5 + round); i < d; i += 37 + static_cast<std::uint32_t>(round)) {
        idx.push_back(i);
      }
      idx.push_back(static_cast<std::uint32_t>(500 + round));  // every worker's: summed three times
      return idx;
    };
    auto value = [](std::size_t round, std::size_t w, std::size_t k) {
      return 0.5f * static_cast<float>(w + 1) + static_cast<float>((k + round) % 5);
    };
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        auto sw = store.make_worker(w);
        asgd_test::identity_direction dir;
        for (std::size_t round = 0; round < rounds; ++round) {
          const std::vector<std::uint32_t> idx = indices(round, w);
          std::vector<float> g;
          for (std::size_t k = 0; k < idx.size(); ++k) g.push_back(value(round, w, k));
          auto h = store.read_sparse(sw);
          CHECK(store.apply_sparse(sw, h, idx, g, dir, asgd_test::constant_lr{0.25}).applied);
        }
        store.finish(sw);
      });
    }
    for (auto& t : threads) t.join();
    std::vector<float> expected = init;
    for (std::size_t round = 0; round < rounds; ++round) {
      std::vector<float> sum(d, 0.0f);  // in the store's order: the workers' in turn, then the scale
      for (std::size_t w = 0; w < workers; ++w) {
        const std::vector<std::uint32_t> idx = indices(round, w);
        for (std::size_t k = 0; k < idx.size(); ++k) sum[idx[k]] += value(round, w, k);
      }
      for (std::size_t i = 0; i < d; ++i) expected[i] -= 0.25f * (sum[i] * (1.0f / static_cast<float>(workers)));
    }
    std::vector<float> out(d);
    store.copy_to(out);
    CHECK(out == expected);
    CHECK(store.version() == rounds);
  }

  TEST_CASE_TEMPLATE("one worker: read, apply, sparse apply, version, staleness", Mode, asgd::consistency::sequential,
                     asgd::consistency::synchronous, asgd::consistency::locked, asgd::consistency::hogwild,
                     asgd::consistency::atomic_add, asgd::consistency::leashed,
                     asgd::consistency::bounded_staleness<2>) {
    single_worker_semantics(Mode{});
  }

  TEST_CASE_TEMPLATE("a solo worker's mixes wait for its next read; copy_to, assign and a round see them", Mode,
                     asgd::consistency::hogwild, asgd::consistency::atomic_add,
                     asgd::consistency::bounded_staleness<2>) {
    // One worker beside an averager writes the model alone: a mix is posted, added at the
    // worker's next read; until then copy_to adds it, assign drops it (its values came from a
    // copy_to, which had it), and a blocking round's in-place model has it.
    const std::vector<float> init{1.0f, 2.0f, 3.0f, 4.0f}, delta{1.0f, 1.0f, 1.0f, 1.0f};
    auto values_of = [](const auto& h) { return std::vector<float>(h.values().begin(), h.values().end()); };
    typename Mode::store store(Mode{}, {.dimension = 4, .workers = 1, .averagers = 1}, init);
    auto w = store.make_worker(0);
    std::vector<float> out(4);
    auto h = store.read(w);
    store.mix(delta);
    store.mix(delta);  // two posted mixes add up
    CHECK(values_of(h) == init);  // the model the worker reads: not yet mixed
    store.copy_to(out);
    CHECK(out == std::vector<float>{3.0f, 4.0f, 5.0f, 6.0f});
    asgd_test::identity_direction dir;
    const std::vector<float> g{10.0f, 20.0f};
    store.apply(w, h, {1, 3}, g, dir, asgd_test::constant_lr{0.5});
    store.copy_to(out);
    CHECK(out == std::vector<float>{3.0f, -1.0f, -5.0f, 6.0f});
    h = store.read(w);  // adds the mixes: once
    CHECK(values_of(h) == std::vector<float>{3.0f, -1.0f, -5.0f, 6.0f});
    store.copy_to(out);
    CHECK(out == std::vector<float>{3.0f, -1.0f, -5.0f, 6.0f});
    h = store.read(w);
    CHECK(values_of(h) == std::vector<float>{3.0f, -1.0f, -5.0f, 6.0f});
    store.mix(delta);
    {
      auto r = store.read_sparse(w);  // a sparse read adds them too
      CHECK(r.reader()[0] == 4.0f);
      CHECK(r.reader()[3] == 7.0f);
    }
    store.mix(delta);  // and the dense read after it adds only what came since
    h = store.read(w);
    CHECK(values_of(h) == std::vector<float>{5.0f, 1.0f, -3.0f, 8.0f});

    store.mix(delta);
    const std::vector<float> assigned{-7.0f, 0.25f, 1e-30f, 3.0f};
    store.assign(assigned);
    h = store.read(w);
    CHECK(values_of(h) == assigned);

    if constexpr (requires { store.model_while_workers_wait(); }) {  // an optional clause
      store.mix(delta);
      const std::span<float> m = store.model_while_workers_wait();
      CHECK(std::vector<float>(m.begin(), m.end()) == std::vector<float>{-6.0f, 1.25f, 1.0f, 4.0f});
      h = store.read(w);
      CHECK(values_of(h) == std::vector<float>{-6.0f, 1.25f, 1.0f, 4.0f});
    }
    store.finish(w);
  }

  TEST_CASE_TEMPLATE("a lone worker of a lock-free store sees a mix at once; beside another thread, at its next read",
                     Mode, asgd::consistency::hogwild, asgd::consistency::atomic_add,
                     asgd::consistency::bounded_staleness<2>) {
    const std::vector<float> init{1.0f, 2.0f, 3.0f, 4.0f}, delta{1.0f, 1.0f, 1.0f, 1.0f};
    const std::vector<float> mixed{2.0f, 3.0f, 4.0f, 5.0f};
    struct config_case {
      asgd::store_config config;
      bool lone;
    };
    const config_case cases[] = {
        {{4, 1}, true},
        // A blocking node's averager mixes only while the worker waits.
        {{.dimension = 4, .workers = 1, .averagers = 1, .mixes_while_running = false}, true},
        {{.dimension = 4, .workers = 1, .readers = 1}, false},
        {{.dimension = 4, .workers = 1, .averagers = 1}, false},
    };
    for (const config_case& c : cases) {
      CAPTURE(c.config.averagers);
      CAPTURE(c.config.readers);
      CAPTURE(c.config.mixes_while_running);
      typename Mode::store store(Mode{}, c.config, init);
      auto w = store.make_worker(0);
      auto h = store.read(w);
      store.mix(delta);
      // A mix on the worker's own thread shows in a lone worker's view, which is the model; a
      // worker beside an averager or a reader (solo) adds it at its next read.
      CHECK(std::vector<float>(h.values().begin(), h.values().end()) == (c.lone ? mixed : init));
      // Both paths write the same update.
      asgd_test::identity_direction dir;
      const std::vector<float> g{10.0f, 20.0f};
      store.apply(w, h, {1, 3}, g, dir, asgd_test::constant_lr{0.5});
      std::vector<float> out(4);
      store.copy_to(out);
      CHECK(out == std::vector<float>{2.0f, -2.0f, -6.0f, 5.0f});
    }
  }

  TEST_CASE_TEMPLATE("a lock-free store beside other writers asks for the rate again at the entry where the run moved on",
                     Mode, asgd::consistency::hogwild, asgd::consistency::atomic_add,
                     asgd::consistency::bounded_staleness<2>) {
    // A worker descheduled within its write while the others move the run on must land the
    // rest of the write at the rate of then. Each lr call returns a new rate (1, 2, 3, ...);
    // its watch() holds once the test's counter (the run) passed where it was at that call.
    // The direction of entry 5 moves the run on, so entry 6, loaded after that, asks again.
    struct watched_lr {
      std::atomic<std::uint64_t>* run;
      std::uint64_t* limit;
      int* calls;
      double operator()(std::uint64_t) const noexcept {
        *limit = run->load();
        return ++*calls;
      }
      [[nodiscard]] asgd::detail::rate_watch watch() const noexcept { return {*run, *limit}; }
    };
    constexpr std::size_t d = 40;  // pieces of 16 entries (write_piece)
    for (const bool moves : {false, true}) {
      for (const bool sparse : {false, true}) {
        INFO((sparse ? "sparse" : "dense") << (moves ? ", the run moves on at entry 5" : ", the run stays"));
        typename Mode::store store(Mode{}, {d, 2}, std::vector<float>(d, 0.0f));
        auto w = store.make_worker(0);
        std::atomic<std::uint64_t> run{0};
        std::uint64_t limit = 0;
        int calls = 0;
        auto dir = [&](std::size_t i, float g, float) {
          if (moves && i == 5) run.fetch_add(1);
          return g;
        };
        const std::vector<float> ones(d, 1.0f);
        if (sparse) {
          std::vector<std::uint32_t> idx(d);
          for (std::size_t i = 0; i < d; ++i) idx[i] = static_cast<std::uint32_t>(i);
          auto h = store.read_sparse(w);
          store.apply_sparse(w, h, idx, ones, dir, watched_lr{&run, &limit, &calls});
        } else {
          auto h = store.read(w);
          store.apply(w, h, {0, d}, ones, dir, watched_lr{&run, &limit, &calls});
        }
        std::vector<float> out(d);
        store.copy_to(out);
        // Where the run stays, a question per piece: 0-15, 16-31, 32-39. Where it moves, entry 6
        // asks again: a sparse write starts a new piece there (6-21, 22-37, 38-39), a small
        // dense one keeps its pieces (6-15, 16-31, 32-39).
        auto rate = [&](std::size_t i) -> float {
          if (!moves) return static_cast<float>(1 + i / 16);
          if (i < 6) return 1.0f;
          if (sparse) return static_cast<float>(2 + (i - 6) / 16);
          return i < 16 ? 2.0f : static_cast<float>(2 + i / 16);
        };
        for (std::size_t i = 0; i < d; ++i) {
          INFO("entry " << i);
          REQUIRE(out[i] == -rate(i));
        }
        CHECK(calls == (moves ? 4 : 3));
        store.finish(w);
      }
    }
  }

  TEST_CASE("replicas with other writers asks the rate again for each float of a small model's sync, each piece of a large one's") {
    // A worker descheduled within its sync pass must add the rest of its change at the rate of
    // then, not of its step. Each lr call here returns a new rate (1, 2, 3, ...): the step's is
    // 1, the sync's first call 2 (the first float or piece lands the change rescaled to it), and
    // where another thread may write, the pass asks again before each further float of a model
    // of up to 1,024, each further piece (write_piece: 128 floats here) of a larger one.
    struct counting_lr {
      int* calls;
      double operator()(std::uint64_t) const noexcept { return ++*calls; }
    };
    for (const std::size_t d : {std::size_t{40}, std::size_t{2048}}) {
      for (const std::size_t workers : {std::size_t{1}, std::size_t{2}}) {
        INFO(d << " floats, " << workers << " worker(s)");
        asgd::consistency::replicas::store store(asgd::consistency::replicas{.sync_every = 1}, {d, workers},
                                                 std::vector<float>(d, 0.0f));
        auto w = store.make_worker(0);
        asgd_test::identity_direction dir;
        const std::vector<float> ones(d, 1.0f);
        int calls = 0;
        auto h = store.read(w);
        store.apply(w, h, {0, d}, ones, dir, counting_lr{&calls});
        std::vector<float> out(d);
        store.copy_to(out);
        const std::size_t piece = asgd::detail::write_piece(d, asgd::detail::other_writers::possible);
        const std::size_t per_ask = workers == 1 ? d : (d <= 1024 ? 1 : piece);
        for (std::size_t i = 0; i < d; ++i) {
          REQUIRE(out[i] == -static_cast<float>(2 + i / per_ask));
        }
        CHECK(calls == static_cast<int>(1 + d / per_ask));
        store.finish(w);
      }
    }
  }

  TEST_CASE("replicas: updates stay in the worker's replica until its sync, then add to the shared model") {
    const std::vector<float> init{1.0f, 2.0f, 3.0f, 4.0f};
    asgd::consistency::replicas::store store(asgd::consistency::replicas{.sync_every = 2}, {4, 2, 0, 0, 1}, init);
    auto a = store.make_worker(0);
    auto b = store.make_worker(1);
    asgd_test::identity_direction dir;
    const asgd_test::constant_lr lr{1.0};
    std::vector<float> out(4);
    auto step = [&](auto& w, asgd::param_range r, std::vector<float> g) {
      auto h = store.read(w);
      return store.apply(w, h, r, g, dir, lr);
    };

    CHECK(step(a, {0, 4}, {1, 1, 1, 1}).staleness == 0);
    store.copy_to(out);
    CHECK(out == init);  // in a's replica only
    CHECK(store.version() == 1);
    {
      auto h = store.read(a);
      CHECK(std::vector<float>(h.values().begin(), h.values().end()) == std::vector<float>{0, 1, 2, 3});
    }
    // b took the shared model without a's update: that update is stale to b.
    CHECK(step(b, {0, 2}, {10, 10}).staleness == 1);
    step(a, {0, 4}, {1, 1, 1, 1});  // a's second update: a syncs
    store.copy_to(out);
    CHECK(out == std::vector<float>{-1, 0, 1, 2});
    // b's second update: b syncs; both workers' changes are summed, none overwrites the other.
    CHECK(step(b, {3, 4}, {1}).staleness == 2);
    store.copy_to(out);
    CHECK(out == std::vector<float>{-11, -10, 1, 1});
    {
      auto h = store.read(b);  // b took the sum back at its sync
      CHECK(std::vector<float>(h.values().begin(), h.values().end()) == out);
    }
    // A pause adds the unsynced change; the next read takes the shared model afresh.
    step(a, {2, 3}, {5});
    store.pause(a);
    store.copy_to(out);
    CHECK(out == std::vector<float>{-11, -10, -4, 1});
    {
      auto h = store.read(a);
      CHECK(std::vector<float>(h.values().begin(), h.values().end()) == out);
    }
    // So does a finish.
    step(b, {0, 1}, {1});
    store.finish(b);
    store.copy_to(out);
    CHECK(out == std::vector<float>{-12, -10, -4, 1});
    store.finish(a);
    CHECK(store.version() == 6);
    CHECK_THROWS_WITH_AS(asgd::consistency::replicas::store(asgd::consistency::replicas{.sync_every = 0}, {4, 1}, init),
                         "asgd: replicas.sync_every = 0: must be in [1, 2^20]", std::invalid_argument);
  }

  TEST_CASE("the direction sees the gradient and the value, and the learning rate sees the staleness") {
    asgd::consistency::hogwild::store store(asgd::consistency::hogwild{}, {2, 1}, std::vector<float>{1.0f, 1.0f});
    auto w = store.make_worker(0);
    auto h = store.read(w);
    std::vector<std::pair<float, float>> seen;
    auto dir = [&](std::size_t, float g, float x) {
      seen.emplace_back(g, x);
      return 2.0f * g;
    };
    std::uint64_t tau_seen = 99;
    auto lr = [&](std::uint64_t tau) {
      tau_seen = tau;
      return 0.25;
    };
    store.apply(w, h, {0, 2}, std::vector<float>{1.0f, 3.0f}, dir, lr);
    CHECK(tau_seen == 0);
    CHECK(seen == std::vector<std::pair<float, float>>{{1.0f, 1.0f}, {3.0f, 1.0f}});
    std::vector<float> out(2);
    store.copy_to(out);
    CHECK(out == std::vector<float>{0.5f, -0.5f});
  }

  TEST_CASE("leashed: every publication is a new version; buffers are recycled") {
    asgd::consistency::leashed mode;
    asgd::consistency::leashed::store store(mode, {1000, 2}, std::vector<float>(1000, 0.0f));
    auto w = store.make_worker(0);
    asgd_test::identity_direction dir;
    const std::vector<float> g(1000, -1.0f);
    for (int k = 0; k < 50; ++k) {
      auto h = store.read(w);
      CHECK(h.version() == static_cast<std::uint64_t>(k));
      const auto res = store.apply(w, h, {0, 1000}, g, dir, asgd_test::constant_lr{1.0});
      CHECK(res.applied);
      CHECK(res.retries == 0);
    }
    CHECK(store.version() == 50);
    std::vector<float> out(1000);
    store.copy_to(out);
    CHECK(out[0] == 50.0f);
    CHECK(out[999] == 50.0f);
    CHECK(store.stats().allocated_versions <= 2);  // the published one and the one being built
    CHECK(store.live_versions() == 2);               // the worker keeps the replaced one to build in
    store.finish(w);
    CHECK(store.live_versions() == 1);
  }

  TEST_CASE("leashed: an update's directions are computed once, whichever version its build starts from") {
    // A rule's direction may change its state (momentum), so it must run once per coordinate and
    // update: in the build's own pass when the read version is still the newest, before the
    // chain lets the read version go when it is not, and never again on a retry.
    // A version of more than a few cache lines is built in blocks (streamed where two workers
    // share the store): the count and the values must not change.
    for (const std::size_t n : {std::size_t{4}, std::size_t{1029}}) {
      CAPTURE(n);
      asgd::consistency::leashed::store store(asgd::consistency::leashed{}, {n, 2}, std::vector<float>(n, 0.0f));
      auto a = store.make_worker(0), b = store.make_worker(1);
      const std::vector<float> ones(n, 1.0f);
      std::vector<float> grad(n);  // a's gradient: a different value at neighbouring indices
      for (std::size_t i = 0; i < n; ++i) grad[i] = 1.0f + static_cast<float>(i % 7);
      // The model after a's gradient applied `ka` times and b's ones `kb` times.
      auto after = [&](float ka, float kb) {
        std::vector<float> x(n);
        for (std::size_t i = 0; i < n; ++i) x[i] = -(ka * grad[i] + kb);
        return x;
      };
      const asgd_test::constant_lr one{1.0};
      std::size_t calls = 0;
      std::vector<float> xs_seen;
      auto counting = [&](std::size_t, float g, float x) {
        ++calls;
        xs_seen.push_back(x);
        return g;
      };
      auto model = [&] {
        std::vector<float> out(n);
        store.copy_to(out);
        return out;
      };
      auto publish_by_b = [&] {
        auto hb = store.read(b);
        CHECK(store.apply(b, hb, {0, n}, ones, asgd_test::identity_direction{}, one).applied);
      };

      auto h = store.read(a);  // the newest at its apply: the fused pass
      CHECK(store.apply(a, h, {0, n}, grad, counting, one).staleness == 0);
      CHECK(calls == n);
      CHECK(model() == after(1, 0));

      calls = 0;
      xs_seen.clear();
      auto stale = store.read(a);  // version 1; b publishes version 2 before a's apply
      publish_by_b();
      const auto late = store.apply(a, stale, {0, n}, grad, counting, one);
      CHECK(late.staleness == 1);
      CHECK(calls == n);
      CHECK(xs_seen == after(1, 0));  // from the version the gradient saw
      CHECK(model() == after(2, 1));

      // b publishes while a's fused pass runs (from inside a's rule: the chain holds no lock), so
      // a's CAS fails and its retry builds on b's version with the directions already computed.
      calls = 0;
      bool interfered = false;
      auto interfering = [&](std::size_t i, float g, float x) {
        if (!std::exchange(interfered, true)) publish_by_b();
        return counting(i, g, x);
      };
      auto h2 = store.read(a);
      const auto retried = store.apply(a, h2, {0, n}, grad, interfering, one);
      CHECK(retried.applied);
      CHECK(retried.retries == 1);
      CHECK(retried.staleness == 1);
      CHECK(calls == n);
      CHECK(model() == after(3, 2));
      CHECK(store.version() == 5);
      store.finish(a);
      store.finish(b);
      CHECK(store.live_versions() == 1);
    }
  }

  TEST_CASE("leashed: a gradient pinned on an old version still sees it while others publish") {
    asgd::consistency::leashed::store store(asgd::consistency::leashed{}, {3, 2}, std::vector<float>{1, 2, 3});
    auto a = store.make_worker(0), b = store.make_worker(1);
    auto old = store.read(a);
    for (int k = 0; k < 5; ++k) {
      auto h = store.read(b);
      store.apply(b, h, {0, 3}, std::vector<float>{1, 1, 1}, asgd_test::identity_direction{}, asgd_test::constant_lr{1.0});
    }
    CHECK(std::vector<float>(old.values().begin(), old.values().end()) == std::vector<float>{1, 2, 3});
    CHECK(store.live_versions() <= 3);  // old pinned, newest published, b's spare
    const auto res = store.apply(a, old, {0, 1}, std::vector<float>{1}, asgd_test::identity_direction{},
                                 asgd_test::constant_lr{1.0});
    CHECK(res.staleness == 5);
    std::vector<float> out(3);
    store.copy_to(out);
    CHECK(out == std::vector<float>{-5, -3, -2});
    store.finish(a);
    store.finish(b);
  }

  TEST_CASE("version chain: a build that throws leaves no version pinned") {
    // The device store's build launches kernels, which may throw; the version it read from must
    // still be recycled once it is replaced.
    asgd::detail::version_chain<asgd::detail::float_buffer> chain(3, 2, [](float* x) { x[0] = x[1] = 1.0f; });
    using slot_id = decltype(chain)::slot_id;
    slot_id building = decltype(chain)::no_slot;
    auto lr = [](std::uint64_t) { return 1.0; };
    auto failing = [](const float*, float*, float, slot_id) -> bool { throw std::runtime_error("launch failed"); };
    CHECK_THROWS_AS(chain.publish(building, failing, lr, 0), std::runtime_error);
    CHECK(chain.live() == 2);  // the published version and the caller's building slot
    auto copy = [](const float* from, float* to, float step, slot_id) {
      to[0] = from[0] - step;
      to[1] = from[1];
      return true;
    };
    {
      auto read = chain.current();
      CHECK_THROWS_AS(chain.publish(building, read, failing, lr, 0), std::runtime_error);
      CHECK(chain.live() == 2);  // the read pin, taken over by publish, ended with the throw
    }
    CHECK(chain.publish(building, copy, lr, 0).applied);
    // The first version, unpinned, was freed when replaced, and is the caller's next building slot.
    CHECK(building != decltype(chain)::no_slot);
    CHECK(chain.live() == 2);
    chain.recycle_building(building);
    CHECK(chain.live() == 1);
    CHECK(chain.current().data()[0] == 0.0f);
  }

  TEST_CASE("version chain: a lone worker builds in the version its last publication replaced") {
    // Two buffers serve a lone worker: the newest version and the one it builds next.
    asgd::detail::version_chain<asgd::detail::float_buffer> chain(2, 1, [](float* x) { x[0] = 0.0f; });
    using slot_id = decltype(chain)::slot_id;
    slot_id building = decltype(chain)::no_slot;
    auto lr = [](std::uint64_t) { return 1.0; };
    auto add_one = [](const float* from, float* to, float step, slot_id) {
      to[0] = from[0] + step;
      return true;
    };
    for (std::uint64_t k = 0; k < 20; ++k) {
      auto read = chain.current();
      REQUIRE(read.version() == k);
      const slot_id newest_before = building;
      const auto res = chain.publish(building, read, add_one, lr, 0);
      CHECK(res.applied);
      CHECK(res.staleness == 0);
      CHECK(res.retries == 0);
      CHECK(building != decltype(chain)::no_slot);  // the version just replaced
      if (k > 0) CHECK(building != newest_before);  // two slots, taking turns
      CHECK(chain.live() == 2);
    }
    CHECK(chain.current().data()[0] == 20.0f);
    CHECK(chain.stats().allocated_versions == 2);
    chain.recycle_building(building);
    CHECK(chain.live() == 1);
  }

  TEST_CASE("version chain: a version another thread still pins is not handed to its replacer") {
    asgd::detail::version_chain<asgd::detail::float_buffer> chain(4, 1, [](float* x) { x[0] = 0.0f; });
    using slot_id = decltype(chain)::slot_id;
    constexpr slot_id none = decltype(chain)::no_slot;
    slot_id a = none, b = none;
    auto lr = [](std::uint64_t) { return 1.0; };
    auto add_one = [](const float* from, float* to, float step, slot_id) {
      to[0] = from[0] + step;
      return true;
    };
    {
      auto reader = chain.current();  // version 0, pinned by a reader
      auto read = chain.current();
      CHECK(chain.publish(a, read, add_one, lr, 0).applied);
      CHECK(a == none);  // the reader keeps version 0
      CHECK(reader.data()[0] == 0.0f);
      CHECK(chain.live() == 2);
    }  // the reader's unpin frees version 0 to the shared list
    CHECK(chain.live() == 1);
    // A worker whose read went stale: its pin ends at once, the staleness counts from its read,
    // and the newest version, which only it pinned, comes back to it.
    auto stale = chain.current();  // version 1
    auto read = chain.current();
    CHECK(chain.publish(b, read, add_one, lr, 0).applied);  // version 2
    CHECK(b == none);  // `stale` still pins version 1
    const auto res = chain.publish(a, stale, add_one, lr, 0);  // version 3, from version 2
    CHECK(res.applied);
    CHECK(res.staleness == 1);
    CHECK(a != none);  // version 2
    CHECK(chain.current().version() == 3);
    CHECK(chain.current().data()[0] == 3.0f);
    chain.recycle_building(a);
    chain.recycle_building(b);
    CHECK(chain.live() == 1);
  }

  TEST_CASE("leashed: a pool sized for its readers serves them; one too small says what to count") {
    const std::vector<float> init{1, 2, 3};
    auto hold_two_versions = [&](const asgd::store_config& config) {
      asgd::consistency::leashed::store store(asgd::consistency::leashed{}, config, init);
      auto w = store.make_worker(0), r1 = store.make_worker(0), r2 = store.make_worker(0);
      auto step = [&] {
        auto h = store.read(w);
        store.apply(w, h, {0, 3}, std::vector<float>{1, 1, 1}, asgd_test::identity_direction{},
                    asgd_test::constant_lr{1.0});
      };
      auto first = store.read(r1);  // two readers keep versions 0 and 1 while the worker goes on
      step();
      auto second = store.read(r2);
      step();
      step();
      store.finish(w);
      return store.version();
    };
    CHECK(hold_two_versions({.dimension = 3, .workers = 1, .readers = 2}) == 3);
    CHECK_THROWS_WITH_AS(hold_two_versions({.dimension = 3, .workers = 1}),
                         doctest::Contains("count the threads that call copy_to while workers run in "
                                           "store_config::readers"),
                         std::logic_error);
  }

  TEST_CASE("locked: the sparse view holds the lock until its update is applied") {
    asgd::consistency::locked::store store(asgd::consistency::locked{}, {2, 2}, std::vector<float>{0, 0});
    auto w = store.make_worker(0);
    auto h = store.read_sparse(w);
    std::atomic<bool> copied{false};
    std::thread other([&] {
      std::vector<float> out(2);
      store.copy_to(out);  // blocks until the sparse update releases the lock
      copied = true;
      CHECK(out[1] == -1.0f);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK_FALSE(copied.load());
    const std::vector<std::uint32_t> idx{1};
    store.apply_sparse(w, h, idx, std::vector<float>{1}, asgd_test::identity_direction{}, asgd_test::constant_lr{1.0});
    other.join();
    CHECK(copied.load());
  }

  TEST_CASE("bounded_staleness: every read holds the first (own clock - K) updates of each worker") {
    // Two workers, one store, one thread: a random interleaving of reads and applies over random
    // blocks, none of which would wait. Worker 0 adds 1 to the coordinates it updates, worker 1
    // adds 1000, so each value of a view says how many updates of each worker it holds,
    // coordinate by coordinate.
    constexpr std::size_t d = 8;
    for (const std::size_t K : {0u, 1u, 2u, 5u}) {
      CAPTURE(K);
      asgd::consistency::bounded_staleness<>::store store(asgd::consistency::bounded_staleness<>{.bound = K}, {d, 2},
                                                          std::vector<float>(d, 0.0f));
      std::array workers{store.make_worker(0), store.make_worker(1)};
      std::array<std::optional<asgd::detail::view_handle>, 2> held;
      // touched[u][j][k]: whether u's k-th update wrote coordinate j.
      std::array<std::array<std::vector<bool>, d>, 2> touched;
      std::array<std::uint64_t, 2> clock{0, 0};
      asgd::rng g(K + 1);
      std::size_t reads = 0;
      for (std::size_t op = 0; op < 1600; ++op) {  // under 1000 updates a coordinate
        const std::size_t t = g.below(2), o = 1 - t;
        if (!held[t]) {
          if (clock[t] > clock[o] + K) continue;  // its read would wait for the other worker
          held[t] = store.read(workers[t]);
          ++reads;
          const auto view = held[t]->values();
          for (std::size_t j = 0; j < d; ++j) {
            const auto v = static_cast<std::uint64_t>(view[j]);
            const std::uint64_t mine = t == 0 ? v % 1000 : v / 1000, theirs = t == 0 ? v / 1000 : v % 1000;
            const auto& own = touched[t][j];
            const auto& other = touched[o][j];
            // All of its own updates; of the other's, at least those its first clock - K made.
            CHECK(mine == static_cast<std::uint64_t>(std::count(own.begin(), own.end(), true)));
            const std::size_t required = clock[t] > K ? std::min<std::size_t>(clock[t] - K, other.size()) : 0;
            CHECK(theirs >= static_cast<std::uint64_t>(std::count(other.begin(), other.begin() + static_cast<std::ptrdiff_t>(required), true)));
            CHECK(theirs <= static_cast<std::uint64_t>(std::count(other.begin(), other.end(), true)));
          }
        } else {
          // Its update would wait for the other worker: it lands only once the other's clock is
          // what its next read needs (K >= 1).
          if (K > 0 && clock[t] + 1 > clock[o] + K) continue;
          const std::size_t begin = g.below(d), end = begin + 1 + g.below(d - begin);
          const std::vector<float> grad(end - begin, t == 0 ? -1.0f : -1000.0f);
          store.apply(workers[t], *held[t], {begin, end}, grad, asgd_test::identity_direction{},
                      asgd_test::constant_lr{1.0});
          held[t].reset();
          ++clock[t];
          for (std::size_t j = 0; j < d; ++j) touched[t][j].push_back(j >= begin && j < end);
        }
      }
      CHECK(reads > 400);
      CHECK(store.max_lead() <= K);
    }
  }
}
