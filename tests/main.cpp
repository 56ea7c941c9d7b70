#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace {

// doctest checks a test case's timeout(N) only after the case returns, so a hang would wait for
// CTest's timeout and say nothing. This listener makes the decorator a real bound: a case still
// running N seconds after it started ends the process with a message naming it.
class watchdog : public doctest::IReporter {
 public:
  explicit watchdog(const doctest::ContextOptions&) {}

  void test_run_start() override {
    thread_ = std::thread([this] { watch(); });
  }
  void test_run_end(const doctest::TestRunStats&) override {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void test_case_start(const doctest::TestCaseData& tc) override {
    if (tc.m_timeout <= 0) return;
    {
      std::lock_guard lock(mutex_);
      armed_ = true;
      name_ = tc.m_name;
      seconds_ = tc.m_timeout;
      deadline_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                         std::chrono::duration<double>(tc.m_timeout));
    }
    changed_.notify_all();
  }
  void test_case_end(const doctest::CurrentTestCaseStats&) override {
    std::lock_guard lock(mutex_);
    armed_ = false;
  }

  void report_query(const doctest::QueryData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    while (!done_) {
      if (!armed_) {
        changed_.wait(lock);
        continue;
      }
      if (changed_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_ &&
          std::chrono::steady_clock::now() >= deadline_) {
        std::fprintf(stderr, "watchdog: test case '%s' is still running after its timeout(%g) seconds: a hang\n",
                     name_.c_str(), seconds_);
        std::fflush(stderr);
        std::_Exit(3);
      }
    }
  }

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool done_ = false;
  bool armed_ = false;
  std::string name_;
  double seconds_ = 0.0;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace

DOCTEST_REGISTER_LISTENER("watchdog", 1, watchdog);
