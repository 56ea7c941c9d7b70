// Block selectors and the layout splitter.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

namespace {

asgd::block_layout layers(std::initializer_list<std::size_t> sizes) {
  asgd::block_layout l;
  std::size_t at = 0;
  for (std::size_t s : sizes) {
    l.push_back({"layer" + std::to_string(l.size()), {at, at + s}});
    at += s;
  }
  return l;
}

void check_partition(const std::vector<asgd::param_range>& parts, std::size_t d) {
  std::size_t at = 0;
  for (const auto& p : parts) {
    CHECK(p.begin == at);
    CHECK(p.end > p.begin);
    at = p.end;
  }
  CHECK(at == d);
}

template <class Selector>
typename Selector::state state_of(const Selector& s, const asgd::block_layout& l, std::size_t worker,
                                  std::size_t workers) {
  return s.make_state({l, l.back().range.end, worker, workers, 11});
}

}  // namespace

TEST_SUITE("select") {
  TEST_CASE("split_layout covers the model with non-empty contiguous ranges for any part count") {
    for (std::size_t d : {1u, 7u, 64u, 1000u}) {
      for (std::size_t parts = 1; parts <= std::min<std::size_t>(d, 9); ++parts) {
        check_partition(asgd::select::split_layout(layers({d}), parts), d);
        if (d >= 4) check_partition(asgd::select::split_layout(layers({d / 4, d / 4, d - 2 * (d / 4)}), parts), d);
      }
    }
    CHECK_THROWS_AS((void)asgd::select::split_layout(layers({3}), 4), std::invalid_argument);
    CHECK_THROWS_AS((void)asgd::select::split_layout(layers({3}), 0), std::invalid_argument);
  }

  TEST_CASE("split_layout cuts at the nearest layer boundary unless that unbalances the parts") {
    CHECK(asgd::select::split_layout(layers({45, 10, 45}), 2)[0] == asgd::param_range{0, 45});
    CHECK(asgd::select::split_layout(layers({40, 30, 30}), 3)[1] == asgd::param_range{40, 70});
    // An MLP 784-128-10 (weights and biases): the first layer holds 85% of the parameters, so
    // an even split of two cuts inside it rather than leave one part with 15%.
    const auto mlp = layers({100352, 128, 1280, 10});
    const auto two = asgd::select::split_layout(mlp, 2);
    CHECK(two[0] == asgd::param_range{0, 50885});
    const auto six = asgd::select::split_layout(layers({10, 10, 10, 10, 10, 10}), 6);
    for (std::size_t k = 0; k < 6; ++k) CHECK(six[k] == asgd::param_range{10 * k, 10 * k + 10});
  }

  TEST_CASE("full and partitioned") {
    const auto l = layers({30, 30, 40});
    asgd::select::full f;
    auto fs = state_of(f, l, 0, 3);
    CHECK(f.select(fs, {}) == asgd::param_range{0, 100});

    asgd::select::partitioned p;
    std::vector<asgd::param_range> own;
    for (std::size_t w = 0; w < 3; ++w) {
      auto s = state_of(p, l, w, 3);
      own.push_back(p.select(s, {}));
      CHECK(p.select(s, {.local_step = 5}) == own.back());  // always the same part
    }
    check_partition(own, 100);
    CHECK(own[1] == asgd::param_range{30, 60});  // follows the layers
  }

  TEST_CASE("random_from_owned picks uniformly among the worker's own disjoint blocks") {
    const auto l = layers({1000});
    asgd::select::random_from_owned r{.blocks_per_worker = 4};
    std::vector<asgd::param_range> all;
    for (std::size_t w = 0; w < 3; ++w) {
      auto s = state_of(r, l, w, 3);
      CHECK(s.owned.size() == 4);
      std::map<std::size_t, int> hits;
      for (int k = 0; k < 4000; ++k) {
        const auto b = r.select(s, {});
        CHECK(std::find(s.owned.begin(), s.owned.end(), b) != s.owned.end());
        ++hits[b.begin];
      }
      CHECK(hits.size() == 4);
      for (auto [at, n] : hits) CHECK(std::abs(n - 1000) < 200);
      all.insert(all.end(), s.owned.begin(), s.owned.end());
    }
    check_partition(all, 1000);  // owned sets are disjoint and cover the model
    CHECK_THROWS_AS((void)state_of(asgd::select::random_from_owned{.blocks_per_worker = 0}, l, 0, 1),
                    std::invalid_argument);
  }

  TEST_CASE("random_block uses the layout's blocks, or its own count") {
    const auto l = layers({10, 20, 30});
    asgd::select::random_block r;
    auto s = state_of(r, l, 0, 2);
    std::set<std::size_t> seen;
    for (int k = 0; k < 200; ++k) seen.insert(r.select(s, {}).begin);
    CHECK(seen == std::set<std::size_t>{0, 10, 30});
    asgd::select::random_block r5{.blocks = 5};
    auto s5 = state_of(r5, l, 0, 2);
    check_partition(s5.all, 60);
    CHECK(s5.all.size() == 5);
  }

  TEST_CASE("round_robin walks all blocks, workers starting apart") {
    const auto l = layers({10, 10, 10, 10});
    asgd::select::round_robin r;
    auto s0 = state_of(r, l, 0, 2), s1 = state_of(r, l, 1, 2);
    for (std::uint64_t k = 0; k < 8; ++k) {
      CHECK(r.select(s0, {.local_step = k}).begin == (k % 4) * 10);
      CHECK(r.select(s1, {.local_step = k}).begin == ((k + 1) % 4) * 10);
    }
  }

  TEST_CASE("alternate_full_partial: full during warm-up, then full and own part in turn") {
    const auto l = layers({50, 50});
    asgd::select::alternate_full_partial a{.warmup_epochs = 2.0};
    auto s = state_of(a, l, 1, 2);
    CHECK(a.select(s, {.epoch = 0.5}) == asgd::param_range{0, 100});
    CHECK(a.select(s, {.epoch = 1.9}) == asgd::param_range{0, 100});
    CHECK(a.select(s, {.epoch = 2.0}) == asgd::param_range{0, 100});
    CHECK(a.select(s, {.epoch = 2.1}) == asgd::param_range{50, 100});
    CHECK(a.select(s, {.epoch = 2.2}) == asgd::param_range{0, 100});
    CHECK(a.select(s, {.epoch = 2.3}) == asgd::param_range{50, 100});
  }

  TEST_CASE("one_of selects as the selector it holds, step for step, and saves its state") {
    namespace sel = asgd::select;
    using any_selector = sel::one_of<sel::full, sel::partitioned, sel::random_from_owned, sel::random_block,
                                     sel::round_robin, sel::alternate_full_partial>;
    const auto l = layers({30, 20, 50, 7});
    // The same ranges as the selector itself, for 200 steps of each of 3 workers.
    const auto same_walk = [&](const auto& plain) {
      const any_selector chosen = plain;
      for (std::size_t w = 0; w < 3; ++w) {
        auto a = state_of(plain, l, w, 3);
        auto b = state_of(chosen, l, w, 3);
        CHECK(b.index() == chosen.index());
        for (std::uint64_t k = 0; k < 200; ++k) {
          const asgd::step_info info{k, static_cast<double>(k) / 50.0, k};
          REQUIRE(plain.select(a, info) == chosen.select(b, info));
        }
      }
      CHECK(asgd::detail::describe(chosen) == asgd::detail::describe(plain));
    };
    same_walk(sel::full{});
    same_walk(sel::partitioned{});
    same_walk(sel::random_from_owned{});
    same_walk(sel::random_block{.blocks = 3});
    same_walk(sel::round_robin{});
    same_walk(sel::alternate_full_partial{.warmup_epochs = 1.0});

    // A saved state, loaded into a fresh one, continues the same walk.
    const any_selector r = sel::random_block{};
    auto s = state_of(r, l, 0, 2);
    for (int k = 0; k < 5; ++k) (void)r.select(s, {});
    asgd::byte_writer out;
    r.save(s, out);
    auto t = state_of(r, l, 0, 2);
    asgd::byte_reader in(out.bytes(), "state");
    r.load(t, in);
    for (int k = 0; k < 20; ++k) CHECK(r.select(s, {}) == r.select(t, {}));

    // A state made under another choice is refused, not misread.
    const any_selector other = sel::round_robin{};
    auto foreign = state_of(other, l, 0, 2);
    CHECK_THROWS_AS((void)r.select(foreign, {}), std::logic_error);
    static_assert(asgd::block_selector<any_selector>);
    static_assert(asgd::checkpointable_policy<any_selector>);
  }
}
