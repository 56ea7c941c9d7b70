// Vocabulary types, the random engine, sparse gradients, histograms, JSON and atomic files.

#include "../support.hpp"

#include <asgd/detail/files.hpp>
#include <asgd/detail/json.hpp>
#include <asgd/detail/threads.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <thread>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

TEST_SUITE("core") {
  TEST_CASE("version_string matches the version macros") {
    const std::string expected = std::to_string(ASGD_VERSION_MAJOR) + "." + std::to_string(ASGD_VERSION_MINOR) + "." +
                                 std::to_string(ASGD_VERSION_PATCH);
    CHECK(asgd::version_string == expected);
  }

  TEST_CASE("rng is deterministic, separates streams, and below() stays in range without bias") {
    asgd::rng a(42), b(42), c(42, 1);
    for (int i = 0; i < 100; ++i) CHECK(a() == b());
    asgd::rng d(42);
    int same = 0;
    for (int i = 0; i < 100; ++i) same += d() == c();
    CHECK(same == 0);

    asgd::rng g(7);
    std::vector<int> counts(6, 0);
    const int n = 60000;
    for (int i = 0; i < n; ++i) {
      const auto v = g.below(6);
      REQUIRE(v < 6);
      ++counts[v];
    }
    for (int cnt : counts) CHECK(std::abs(cnt - n / 6) < 5 * std::sqrt(n / 6.0));  // 5 sigma

    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
      const double x = g.normal();
      sum += x;
      sum2 += x * x;
    }
    CHECK(std::abs(sum / n) < 0.03);
    CHECK(std::abs(sum2 / n - 1.0) < 0.03);
  }

  TEST_CASE("shuffle is a permutation and reproducible") {
    std::vector<int> v(100), w;
    std::iota(v.begin(), v.end(), 0);
    w = v;
    asgd::rng g1(3), g2(3);
    asgd::shuffle(v.begin(), v.end(), g1);
    asgd::shuffle(w.begin(), w.end(), g2);
    CHECK(v == w);
    CHECK(std::set<int>(v.begin(), v.end()).size() == 100);
    CHECK_FALSE(std::is_sorted(v.begin(), v.end()));
  }

  TEST_CASE("sparse_gradient merges repeated indices and is reusable") {
    asgd::sparse_gradient g;
    asgd::rng r(1);
    std::map<std::uint32_t, double> expect;
    for (int round = 0; round < 3; ++round) {
      g.clear();
      expect.clear();
      for (int k = 0; k < 2000; ++k) {
        const auto i = static_cast<std::uint32_t>(r.below(300));
        const float v = static_cast<float>(k % 7) - 3.0f;
        g.add(i, v);
        expect[i] += v;
      }
      REQUIRE(g.size() == expect.size());
      std::set<std::uint32_t> seen;
      for (std::size_t k = 0; k < g.size(); ++k) {
        const auto i = g.indices()[k];
        CHECK(seen.insert(i).second);
        CHECK(g.values()[k] == doctest::Approx(expect[i]));
      }
    }
    g.scale(0.5f);
    for (std::size_t k = 0; k < g.size(); ++k) CHECK(g.values()[k] == doctest::Approx(0.5 * expect[g.indices()[k]]));
    g.keep_range(100, 200);
    for (auto i : g.indices()) CHECK((i >= 100 && i < 200));
    const auto kept = g.size();
    g.add(150, 1.0f);  // still coalesces after keep_range
    g.add(150, 1.0f);
    CHECK(g.size() <= kept + 1);
  }

  TEST_CASE("sparse_gradient: appended entries merge with added ones, survive keep_range and clear") {
    asgd::sparse_gradient g;
    std::map<std::uint32_t, double> expect;
    const auto append_one = [&g](std::uint32_t i, float v) {
      const std::uint32_t index[1]{i};
      const float value[1]{v};
      g.append(index, value, 1.0f);
    };
    // More appended entries than the table had room for: the next add must grow it past them.
    for (std::uint32_t i = 0; i < 500; ++i) {
      append_one(3 * i, 1.0f);
      expect[3 * i] += 1.0;
    }
    g.add(3 * 7, 2.0f);  // an appended index: merges
    g.add(1, 5.0f);      // a new one
    expect[3 * 7] += 2.0;
    expect[1] += 5.0;
    append_one(2, 4.0f);  // appended after an add, then merged by the next add
    g.add(2, 1.0f);
    expect[2] += 5.0;
    // A row's entries at once, scaled; then merged into by add.
    const std::vector<std::uint32_t> row_index{4000, 4001, 4005};
    const std::vector<float> row_value{1.0f, -2.0f, 0.5f};
    g.append(row_index, row_value, 3.0f);
    for (std::size_t k = 0; k < row_index.size(); ++k) expect[row_index[k]] += 3.0 * row_value[k];
    g.add(4005, 1.0f);
    expect[4005] += 1.0;
    auto check = [&] {
      REQUIRE(g.size() == expect.size());
      std::set<std::uint32_t> seen;
      for (std::size_t k = 0; k < g.size(); ++k) {
        CHECK(seen.insert(g.indices()[k]).second);
        CHECK(g.values()[k] == doctest::Approx(expect[g.indices()[k]]));
      }
    };
    check();
    g.keep_range(10, 4002);
    std::erase_if(expect, [](const auto& e) { return e.first < 10 || e.first >= 4002; });
    check();
    g.add(12, 1.0f);  // kept entries merge again
    expect[12] += 1.0;
    check();
    // Appended only, then keep_range (no table yet), then add.
    g.clear();
    expect.clear();
    for (std::uint32_t i : {5u, 50u, 500u}) {
      append_one(i, 1.0f);
      expect[i] = 1.0;
    }
    g.keep_range(0, 100);
    expect.erase(500);
    g.add(50, 1.0f);
    expect[50] += 1.0;
    check();
    g.clear();
    CHECK(g.empty());
    g.add(5, 1.0f);  // the table is empty again: a new entry
    g.add(5, 1.0f);
    REQUIRE(g.size() == 1);
    CHECK(g.values()[0] == 2.0f);
  }

  TEST_CASE("histogram counts, merges and clamps to its last bin") {
    asgd::metrics::histogram h(4), k(4);
    h.add(0);
    h.add(1);
    h.add(9);
    k.add(2, 3);
    h.merge(k);
    CHECK(h.total() == 6);
    CHECK(h.sum() == 0 + 1 + 9 + 6);
    CHECK(h.max() == 9);
    CHECK(h.counts() == std::vector<std::uint64_t>{1, 1, 3, 1});
    CHECK(h.quantile(0.5) == 2);
  }

  TEST_CASE("json_writer escapes strings and writes non-finite numbers as null") {
    asgd::detail::json_writer j;
    j.begin_object().field("s", std::string_view("a\"b\\c\n")).field("nan", std::nan("")).field("n", std::uint64_t{3});
    j.key("list").begin_array().value(1.5).value(true).end_array().end_object();
    CHECK(j.str() == R"({"s": "a\"b\\c\n", "nan": null, "n": 3, "list": [1.5, true]})");
  }

  TEST_CASE("write_file_atomically replaces the file whole, and leaves nothing behind on failure") {
    const auto dir = std::filesystem::temp_directory_path() / ("asgd_core_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = dir / "out.json";
    asgd::detail::write_file_atomically(file, "first");
    asgd::detail::write_file_atomically(file, "second");
    std::ifstream in(file);
    std::string content((std::istreambuf_iterator<char>(in)), {});
    CHECK(content == "second");
    CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);

    const auto missing = dir / "no_such_dir" / "x.json";
    CHECK_THROWS_WITH_AS(asgd::detail::write_file_atomically(missing, "x"),
                         doctest::Contains(("cannot write " + missing.string()).c_str()), std::runtime_error);
    CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("write_file_atomically removes what writers killed mid-write left, and only that") {
    namespace fs = std::filesystem;
    const auto dir = fs::temp_directory_path() / ("asgd_orphans_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const auto file = dir / "run.ckpt";
    const std::string host = asgd::detail::host_name();
    // A writer killed (SIGKILL) with its temporary file open, as kill -9 during a checkpoint.
    const ::pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      const std::string tmp = file.string() + ".tmp." + host + "." + std::to_string(::getpid());
      std::ofstream(tmp) << "half a checkpoint";
      ::kill(::getpid(), SIGKILL);
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    const fs::path orphan = file.string() + ".tmp." + host + "." + std::to_string(child);
    REQUIRE(fs::exists(orphan));
    // A live writer's file (this process's parent is alive), another host's, another file's.
    const fs::path live = file.string() + ".tmp." + host + "." + std::to_string(::getppid());
    const fs::path other_host = file.string() + ".tmp.elsewhere-" + host + "." + std::to_string(child);
    const fs::path other_file = (dir / "other.ckpt").string() + ".tmp." + host + "." + std::to_string(child);
    for (const auto& p : {live, other_host, other_file}) std::ofstream(p) << "x";
    asgd::detail::write_file_atomically(file, "whole");
    CHECK_FALSE(fs::exists(orphan));
    CHECK(fs::exists(live));
    CHECK(fs::exists(other_host));
    CHECK(fs::exists(other_file));
    CHECK(fs::file_size(file) == 5);
    fs::remove_all(dir);
  }

  TEST_CASE("check_writable refuses an output path that could not be written, saying why") {
    namespace fs = std::filesystem;
    const auto dir = fs::temp_directory_path() / ("asgd_writable_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    CHECK_NOTHROW(asgd::detail::check_writable(dir / "out.json", "the report to"));
    CHECK_THROWS_WITH_AS(asgd::detail::check_writable(dir, "the report to"),
                         doctest::Contains(("cannot write the report to '" + dir.string() + "': it is a directory").c_str()),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(asgd::detail::check_writable(dir / "nope" / "out.json", "the report to"),
                         doctest::Contains(("the directory '" + (dir / "nope").string() + "' does not exist").c_str()),
                         std::runtime_error);
    std::ofstream(dir / "plain") << "x";
    CHECK_THROWS_WITH_AS(asgd::detail::check_writable(dir / "plain" / "out.json", "the report to"),
                         doctest::Contains(("'" + (dir / "plain").string() + "' is not a directory").c_str()), std::runtime_error);
    CHECK_THROWS_WITH_AS(asgd::detail::check_writable("", "the report to"), doctest::Contains("the file name is empty"),
                         std::runtime_error);
    fs::remove_all(dir);
  }

  TEST_CASE("directory_of and file_name_of split a file name as std::filesystem::path does") {
    // The trainer's headers split file names without <filesystem>; these are the cases it meets.
    for (const std::string name : {"out.json", "dir/out.json", "/out.json", "/a/b/out.json", "a//out.json", "./x",
                                   "../x/y.ckpt", "//x"}) {
      const std::filesystem::path p(name);
      const std::string parent = p.has_parent_path() ? p.parent_path().string() : ".";
      CAPTURE(name);
      CHECK(asgd::detail::directory_of(name) == parent);
      CHECK(asgd::detail::file_name_of(name) == p.filename().string());
    }
    CHECK(asgd::detail::directory_of("dir/") == "dir");  // the file name is empty: check_writable refuses it
  }

  TEST_CASE("start_thread counts a thread until its function returns; a refused start counts none") {
    const std::size_t before = asgd::detail::started_threads.load();
    std::size_t inside = 0;
    std::thread t = asgd::detail::start_thread("test thread", [&] { inside = asgd::detail::started_threads.load(); });
    t.join();
    CHECK(inside == before + 1);
    CHECK(asgd::detail::started_threads.load() == before);
    asgd::detail::fail_thread_start_at = 1;
    CHECK_THROWS_AS(asgd::detail::start_thread("refused thread", [] {}), std::system_error);
    asgd::detail::fail_thread_start_at = 0;
    CHECK(asgd::detail::started_threads.load() == before);
  }

  TEST_CASE("param_range") {
    constexpr asgd::param_range r{3, 7};
    static_assert(r.size() == 4 && r.contains(3) && !r.contains(7) && !r.empty());
    std::ostringstream os;
    os << r;
    CHECK(os.str() == "[3, 7)");
  }
}
