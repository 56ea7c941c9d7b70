// The racy loads and stores behind HOGWILD!: the vector path (x86-64 with AVX) must compute
// exactly what the one-float-at-a-time path computes, at every alignment and length, and the
// hogwild store's read must see what its worker's last update wrote plus everything else.

#include "../support.hpp"

#include <asgd/detail/memory.hpp>
#include <asgd/detail/racy.hpp>
#include <asgd/detail/streaming.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace {

// Lengths around the vector path's edges: empty, shorter than a vector, a block and a bit.
const std::size_t lengths[] = {0, 1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 127, 128, 255, 256, 257, 511, 512, 700, 1029};

std::vector<float> ramp(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = 0.25f * static_cast<float>(i) - 7.0f;
  return v;
}

}  // namespace

TEST_SUITE("racy access") {
  TEST_CASE("the vector path is what this build uses where it may") {
    MESSAGE("16-byte vector racy access: " << (asgd::detail::racy_vector_access() ? "yes" : "no"));
#if defined(ASGD_DETAIL_TSAN) || !defined(__x86_64__)
    CHECK_FALSE(asgd::detail::racy_vector_access());
#endif
  }

  TEST_CASE("racy_copy copies every float at every alignment and length") {
    for (std::size_t offset = 0; offset < 4; ++offset) {
      for (std::size_t n : lengths) {
        const std::vector<float> src = ramp(n + offset);
        std::vector<float> dst(n + 1, -1.0f);
        asgd::detail::racy_copy(src.data() + offset, dst.data(), n);
        for (std::size_t i = 0; i < n; ++i) REQUIRE(dst[i] == src[offset + i]);
        CHECK(dst[n] == -1.0f);  // nothing written past the end
      }
    }
  }

  TEST_CASE("racy_update applies f to every float once, at its index, at every alignment and length, copies too") {
    for (std::size_t offset = 0; offset < 4; ++offset) {
      for (std::size_t n : lengths) {
        for (bool with_copy : {false, true}) {
          for (auto others : {asgd::detail::other_writers::none, asgd::detail::other_writers::possible}) {
            std::vector<float> x = ramp(n + offset + 1);
            const std::vector<float> before = x;
            std::vector<float> also(n + 1, -1.0f), also2(n + 1, -1.0f);
            std::vector<int> calls(n, 0);
            asgd::detail::racy_update(
                x.data() + offset, n,
                [&](std::size_t k, float v) {
                  ++calls[k];
                  return 2.0f * v + static_cast<float>(k);
                },
                with_copy ? also.data() : nullptr, others, with_copy ? also2.data() : nullptr);
            for (std::size_t k = 0; k < n; ++k) {
              REQUIRE(calls[k] == 1);
              const float want = 2.0f * before[offset + k] + static_cast<float>(k);
              REQUIRE(x[offset + k] == want);
              REQUIRE(also[k] == (with_copy ? want : -1.0f));
              REQUIRE(also2[k] == (with_copy ? want : -1.0f));
            }
            for (std::size_t i = 0; i < offset; ++i) CHECK(x[i] == before[i]);
            CHECK(x[offset + n] == before[offset + n]);
            CHECK(also[n] == -1.0f);
            CHECK(also2[n] == -1.0f);
          }
        }
      }
    }
  }

  TEST_CASE("racy_update keeps a write that lands between a block's load and its store, and adds its own change") {
    // Another writer's store, made while this update computes (here: by f's first call, for
    // index 0, after the vector path loaded the block of 64 around it), must survive with the update's change added, not
    // be overwritten by the value computed from the block as loaded: a thread descheduled there
    // would otherwise write back a stale block on waking, undoing every update made meanwhile.
    for (std::size_t n : {std::size_t{64}, std::size_t{200}, std::size_t{1029}}) {
      for (std::size_t p : {std::size_t{1}, std::size_t{5}, std::size_t{63}, n - 1}) {
        for (bool with_copy : {false, true}) {
          std::vector<float> x = ramp(n);
          const std::vector<float> before = x;
          std::vector<float> also(n, -1.0f), also2(n, -1.0f);
          bool first = true;
          // Coordinate 2 this update leaves as it is; the other writer's value there must stay
          // exactly (before + (1e-7 - before) would round it to 0).
          asgd::detail::racy_update(
              x.data(), n,
              [&](std::size_t k, float v) {
                if (first) {
                  asgd::detail::racy_store(x[p], 1000.0f + static_cast<float>(p));
                  asgd::detail::racy_store(x[2], 1e-7f);
                }
                first = false;
                return k == 2 ? v : v + 1.0f;
              },
              with_copy ? also.data() : nullptr, asgd::detail::other_writers::possible,
              with_copy ? also2.data() : nullptr);
          INFO("n = " << n << ", the other write at " << p << ", with copies: " << with_copy);
          for (std::size_t k = 0; k < n; ++k) {
            const float want = k == p ? 1001.0f + static_cast<float>(p) : (k == 2 ? 1e-7f : before[k] + 1.0f);
            REQUIRE(x[k] == want);
            if (with_copy) REQUIRE(also[k] == want);
            if (with_copy) REQUIRE(also2[k] == want);  // what was stored, not what was computed
          }
        }
      }
    }
  }

  TEST_CASE("racy_update and a sparse racy step keep a write that lands within one float's read-modify-write") {
    // Another writer's store to x[p] made while this update computes x[p]'s new value (by f's
    // call for p itself, after x[p] was loaded) survives with the update's change added: on
    // the one-float path (models under 64 floats, the floats before and after the blocks) as
    // on the block path. A worker descheduled there would otherwise put x[p] back to its early
    // value on waking.
    for (std::size_t n : {std::size_t{3}, std::size_t{20}, std::size_t{63}, std::size_t{69}, std::size_t{200}}) {
      for (std::size_t p : {std::size_t{0}, std::size_t{1}, n / 2, n - 1}) {
        if (p == 2) continue;
        std::vector<float> x = ramp(n);
        const std::vector<float> before = x;
        asgd::detail::racy_update(x.data(), n, [&](std::size_t k, float v) {
          if (k == p) asgd::detail::racy_store(x[p], 1000.0f + static_cast<float>(p));
          if (k == 2) asgd::detail::racy_store(x[2], 1e-7f);  // this update leaves it: it stays exactly
          return k == 2 ? v : v + 1.0f;
        });
        INFO("n = " << n << ", the other write at " << p);
        for (std::size_t k = 0; k < n; ++k) {
          REQUIRE(x[k] == (k == p ? 1001.0f + static_cast<float>(p) : (k == 2 ? 1e-7f : before[k] + 1.0f)));
        }
      }
    }
    // The sparse step: the direction is computed between the load and the store.
    std::vector<float> x = ramp(8);
    const std::vector<std::uint32_t> idx{1, 4, 6};
    const std::vector<float> g{1.0f, 1.0f, 1.0f};
    auto dir = [&](std::size_t i, float gi, float) {
      if (i == 4) asgd::detail::racy_store(x[4], 500.0f);
      return gi;
    };
    const std::vector<float> before = x;
    asgd::detail::step_sparse<asgd::detail::write_kind::racy>(x.data(), idx, g, dir, 0.5f);
    CHECK(x[1] == before[1] - 0.5f);
    CHECK(x[4] == 500.0f - 0.5f);
    CHECK(x[6] == before[6] - 0.5f);
  }

  TEST_CASE("hogwild with other writers asks the rate again for each piece of an update") {
    // lr looks where the run is each time it is called; a worker descheduled within its write
    // must land the pieces after the sleep at the rate of then. Here each call returns a new
    // rate (1, 2, 3, ...), so each coordinate's change says which call's rate it got.
    struct counting_lr {
      int* calls;
      double operator()(std::uint64_t) const noexcept { return ++*calls; }
    };
    for (std::size_t workers : {std::size_t{1}, std::size_t{2}}) {
      INFO(workers << " worker(s)");
      const std::size_t d = 40;
      asgd::consistency::hogwild::store store(asgd::consistency::hogwild{}, {d, workers}, std::vector<float>(d, 0.0f));
      auto w = store.make_worker(0);
      asgd_test::identity_direction dir;
      const std::vector<float> ones(d, 1.0f);
      std::vector<std::uint32_t> idx(d);
      std::iota(idx.begin(), idx.end(), 0u);
      int calls = 0;
      auto h = store.read_sparse(w);
      store.apply_sparse(w, h, idx, ones, dir, counting_lr{&calls});
      std::vector<float> out(d);
      store.copy_to(out);
      // Pieces of 16 entries where another thread may write; one piece, one call, where none can.
      for (std::size_t i = 0; i < d; ++i) REQUIRE(out[i] == (workers == 1 ? -1.0f : -static_cast<float>(1 + i / 16)));
      CHECK(calls == (workers == 1 ? 1 : 3));
      calls = 0;
      auto hd = store.read(w);
      store.apply(w, hd, {0, d}, ones, dir, counting_lr{&calls});
      store.copy_to(out);
      for (std::size_t i = 0; i < d; ++i) {
        REQUIRE(out[i] == (workers == 1 ? -2.0f : -2.0f * static_cast<float>(1 + i / 16)));
      }
      store.finish(w);
    }
  }

  TEST_CASE("hogwild: a read sees the worker's own last update and every other write") {
    // Two workers on one store, one after the other: w's second read must hold w's update in
    // the coordinates it wrote (from its update, not a copy) and v's update everywhere.
    const std::size_t d = 600;
    asgd::consistency::hogwild::store store(asgd::consistency::hogwild{}, {d, 2}, std::vector<float>(d, 1.0f));
    auto w = store.make_worker(0);
    auto v = store.make_worker(1);
    asgd_test::identity_direction dir;
    const std::vector<float> ones(d, 1.0f);

    auto hw = store.read(w);
    store.apply(w, hw, {100, 400}, std::span<const float>(ones).subspan(0, 300), dir, asgd_test::constant_lr{0.5});
    auto hv = store.read(v);
    CHECK(hv.values()[99] == 1.0f);
    CHECK(hv.values()[100] == 0.5f);
    CHECK(hv.values()[399] == 0.5f);
    CHECK(hv.values()[400] == 1.0f);
    store.apply(v, hv, {0, d}, ones, dir, asgd_test::constant_lr{0.25});

    auto hw2 = store.read(w);
    // Inside [100, 400) w's view is what its update wrote (0.5); v's later write there is seen
    // at w's next update, as HOGWILD! allows. Outside, the copy sees v's write (0.75).
    for (std::size_t i = 0; i < d; ++i) REQUIRE(hw2.values()[i] == ((i >= 100 && i < 400) ? 0.5f : 0.75f));
    CHECK(hw2.version() == 1);  // w read version 0 and its update made it 1
    // w's next update reads the shared model, so v's write inside [100, 400) is not lost.
    store.apply(w, hw2, {0, d}, ones, dir, asgd_test::constant_lr{0.125});
    std::vector<float> out(d);
    store.copy_to(out);
    for (std::size_t i = 0; i < d; ++i) {
      const float want = (i >= 100 && i < 400) ? 0.125f : 0.625f;
      REQUIRE(out[i] == want);
    }

    // After a pause (an averaging round may have rewritten the model) the read copies it all.
    std::vector<float> delta(d, 1.0f);
    store.mix(delta);
    store.pause(w);
    auto hw3 = store.read(w);
    for (std::size_t i = 0; i < d; ++i) REQUIRE(hw3.values()[i] == out[i] + 1.0f);
    CHECK(hw3.version() == store.version());
    store.finish(w);
    store.finish(v);
  }
}

TEST_SUITE("streaming stores") {
  TEST_CASE("stream_fill writes every float once, from fills of contiguous ranges, at every alignment and length") {
    MESSAGE("streaming stores: " << (asgd::detail::streaming_stores ? "yes" : "no"));
#if defined(ASGD_DETAIL_TSAN) || !defined(__x86_64__)
    CHECK_FALSE(asgd::detail::streaming_stores);
#endif
    for (std::size_t offset = 0; offset < 20; ++offset) {
      for (std::size_t n : lengths) {
        CAPTURE(offset);
        CAPTURE(n);
        // Cache-line aligned storage; to[lo] sits `offset + 1` floats past a line's start, with
        // a guard float either side of [lo, hi).
        asgd::detail::float_buffer buffer(offset + n + 2);
        float* to = buffer.data();
        std::fill_n(to, offset + n + 2, -1.0f);
        const std::size_t lo = offset + 1, hi = lo + n;
        std::size_t next = lo;
        bool contiguous = true;
        std::size_t staged = 0;  // fills into a block of the stack, not into `to`
        asgd::detail::stream_fill(to, lo, hi, [&](float* out, std::size_t a, std::size_t b) {
          contiguous = contiguous && a == next && b <= hi;
          if (out != to + a) ++staged;
          next = b;
          for (std::size_t i = a; i < b; ++i) out[i - a] = 0.5f * static_cast<float>(i);
        });
        CHECK(contiguous);
        CHECK(next == hi);
        // Every whole block of 64 floats after the first line boundary goes through the stack.
        const std::size_t head = lo % 16 == 0 ? 0 : std::min(16 - lo % 16, n);
        CHECK(staged == (asgd::detail::streaming_stores ? (n - head) / 64 : 0));
        REQUIRE(to[lo - 1] == -1.0f);
        for (std::size_t i = lo; i < hi; ++i) REQUIRE(to[i] == 0.5f * static_cast<float>(i));
        REQUIRE(to[hi] == -1.0f);
      }
    }
  }
}
