#pragma once
/// @file
/// `asgd::trainer`: one problem, policies in any order, threads sharing one model.

#include <asgd/concepts.hpp>
#include <asgd/consistency/hogwild.hpp>
#include <asgd/detail/checks.hpp>
#include <asgd/detail/describe.hpp>
#include <asgd/detail/memory.hpp>
#include <asgd/detail/sampler.hpp>
#include <asgd/detail/slots.hpp>
#include <asgd/quantize/identity.hpp>
#include <asgd/report.hpp>
#include <asgd/select/full.hpp>
#include <asgd/settings.hpp>
#include <asgd/topology/none.hpp>
#include <asgd/transport/in_process.hpp>
#include <asgd/update/sgd.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace asgd::inline v0 {

/// Thrown when training breaks down (a NaN or infinite loss); the message names the step, the
/// epoch, the worker and the consistency mode.
class training_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Trains `Problem` with worker threads sharing one model.
///
/// `Policies...` are policy types in any order, at most one per kind; a missing kind takes its
/// default: `update::sgd`, `select::full`, `consistency::hogwild`, `topology::none`,
/// `transport::in_process`, `quantize::identity`. An argument that is not a policy, a second
/// policy of one kind, or a policy that misses a clause of its concept is a compile error whose
/// message starts with "asgd:" and names the problem.
///
/// ```
/// asgd::trainer<my_problem, asgd::consistency::leashed, asgd::update::momentum> t{
///     problem, {.threads = 4, .epochs = 3, .batch = 16, .lr = 0.05f},
///     asgd::update::momentum{.mu = 0.9f}};
/// asgd::report r = t.run();
/// ```
template <class Problem, class... Policies>
class trainer {
  static_assert(detail::check_problem<Problem>(), "asgd: the problem does not model asgd::problem (see above)");
  static_assert((detail::check_argument<Policies>() && ...), "asgd: bad trainer argument (see above)");

 public:
  using problem_type = Problem;
  using update_rule_type = detail::slot_t<update_rule_tag, update::sgd, Policies...>;
  using block_selector_type = detail::slot_t<block_selector_tag, select::full, Policies...>;
  using consistency_type = detail::slot_t<consistency_mode_tag, consistency::hogwild, Policies...>;
  using topology_type = detail::slot_t<averaging_topology_tag, topology::none, Policies...>;
  using transport_type = detail::slot_t<transport_tag, transport::in_process, Policies...>;
  using quantizer_type = detail::slot_t<quantizer_tag, quantize::identity, Policies...>;

  static_assert(detail::check_update_rule<update_rule_type>(), "asgd: see the update-rule error above");
  static_assert(detail::check_block_selector<block_selector_type>(), "asgd: see the block-selector error above");
  static_assert(detail::check_consistency_mode<consistency_type>(), "asgd: see the consistency-mode error above");
  static_assert(detail::check_averaging_topology<topology_type>(), "asgd: see the topology error above");
  static_assert(detail::check_transport<transport_type>(), "asgd: see the transport error above");
  static_assert(detail::check_quantizer<quantizer_type>(), "asgd: see the quantizer error above");
  // This trainer runs one node. Averaging between nodes needs an averager beside the workers
  // (the node trainer on the roadmap); here the topology must be topology::none.
  static_assert(std::is_same_v<topology_type, topology::none>,
                "asgd: asgd::trainer trains one node and takes topology::none; averaging between nodes needs the "
                "node trainer. See docs/policies/topology.md");

  /// @param problem  the problem; each worker thread gets its own copy
  /// @param config   run settings, checked by run()
  /// @param values   optional policy values (knobs), one per slot type, in any order
  template <class... Values>
  explicit trainer(Problem problem, settings config = {}, Values&&... values)
      : problem_(std::move(problem)), settings_(std::move(config)) {
    (assign(std::forward<Values>(values)), ...);
  }

  /// Runs the training; returns the report. The trained model is then in parameters().
  /// @throws std::invalid_argument for bad settings or knobs, naming the field and value
  /// @throws training_error when the loss becomes NaN or infinite
  report run();

  /// The model after the last run() (empty before).
  [[nodiscard]] std::span<const float> parameters() const noexcept { return parameters_; }

  [[nodiscard]] const Problem& problem() const noexcept { return problem_; }
  [[nodiscard]] const settings& config() const noexcept { return settings_; }
  [[nodiscard]] settings& config() noexcept { return settings_; }
  [[nodiscard]] const update_rule_type& update_rule() const noexcept { return update_; }
  [[nodiscard]] const block_selector_type& block_selector() const noexcept { return selector_; }
  [[nodiscard]] const consistency_type& consistency() const noexcept { return consistency_; }

 private:
  using store_type = typename consistency_type::store;

  template <class V>
  void assign(V&& v) {
    using T = std::remove_cvref_t<V>;
    if constexpr (std::is_same_v<T, update_rule_type>)
      update_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, block_selector_type>)
      selector_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, consistency_type>)
      consistency_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, topology_type>)
      topology_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, transport_type>)
      transport_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, quantizer_type>)
      quantizer_ = std::forward<V>(v);
    else
      static_assert(detail::dependent_false<T>,
                    "asgd: a value passed to the trainer's constructor is not of one of its policy types; pass knobs "
                    "only for the policies named in the trainer's template arguments (or their defaults)");
  }

  // What the run shares between workers and the caller.
  struct plan {
    std::size_t dimension = 0;
    std::size_t samples = 0;
    std::size_t workers = 1;
    std::uint64_t steps_per_epoch = 1;
    std::uint64_t total_steps = 0;
    std::uint64_t log_every = 1;
    block_layout layout;
    schedule lr_schedule;  // the settings' schedule with the run's length filled in
  };

  // What each worker counts; written by its worker only, read after join.
  struct alignas(detail::cache_line) worker_stats {
    metrics::histogram staleness{256};
    metrics::histogram retries{256};
    std::uint64_t steps = 0;
    std::uint64_t applied = 0;
    std::uint64_t dropped = 0;
    std::vector<double> interval_loss;
    std::vector<std::uint64_t> interval_count;
    std::vector<double> interval_time;
    std::vector<double> epoch_loss;
    std::vector<std::uint64_t> epoch_count;
    std::vector<double> epoch_time;
  };

  struct shared_state {
    alignas(detail::cache_line) std::atomic<std::uint64_t> next_step{0};
    alignas(detail::cache_line) std::atomic<bool> stop{false};
    std::mutex error_mutex;
    std::exception_ptr error;
    std::chrono::steady_clock::time_point start;
  };

  plan make_plan() const;
  using store_worker = typename store_type::worker;
  void work(std::size_t id, const plan& p, store_type& store, store_worker& sw, shared_state& shared,
            worker_stats& stats) const;
  report summarize(const plan& p, const store_type& store, std::vector<worker_stats>& stats, double seconds);

  Problem problem_;
  settings settings_;
  update_rule_type update_{};
  block_selector_type selector_{};
  consistency_type consistency_{};
  [[no_unique_address]] topology_type topology_{};
  transport_type transport_{};
  [[no_unique_address]] quantizer_type quantizer_{};
  std::vector<float> parameters_;
};

// -------------------------------------------------------------------------------------------

template <class Problem, class... Policies>
auto trainer<Problem, Policies...>::make_plan() const -> plan {
  settings_.validate();
  detail::validate_if_possible(update_);
  detail::validate_if_possible(selector_);
  detail::validate_if_possible(consistency_);

  plan p;
  p.dimension = static_cast<std::size_t>(problem_.dimension());
  p.samples = static_cast<std::size_t>(problem_.num_samples());
  p.workers = settings_.threads;
  const std::string mode = "consistency::" + std::string(detail::describe(consistency_));

  detail::require(p.dimension >= 1, "problem", "dimension()", p.dimension, "must be at least 1");
  detail::require(p.samples >= 1, "problem", "num_samples()", p.samples, "must be at least 1");
  detail::require(p.workers <= consistency_type::max_workers, "settings", "threads", p.workers,
                  mode + " runs at most " + std::to_string(consistency_type::max_workers) + " worker thread(s)");
  detail::require(p.workers <= p.dimension, "settings", "threads", p.workers,
                  "exceeds the problem's " + std::to_string(p.dimension) + " parameters");
  detail::require(settings_.batch <= p.samples, "settings", "batch", settings_.batch,
                  "exceeds the problem's " + std::to_string(p.samples) + " samples");
  detail::require(settings_.sample_order != sampling::sharded || p.workers <= p.samples, "settings", "threads",
                  p.workers, "exceeds the samples, so a sharded worker would have none");

  p.steps_per_epoch = (p.samples + settings_.batch - 1) / settings_.batch;
  p.total_steps = settings_.steps > 0 ? settings_.steps : settings_.epochs * p.steps_per_epoch;
  // Lockstep modes take their steps in rounds of one step per worker.
  if constexpr (consistency_type::lockstep) p.total_steps = (p.total_steps + p.workers - 1) / p.workers * p.workers;
  p.log_every = settings_.log_every > 0 ? settings_.log_every : std::max<std::uint64_t>(1, p.steps_per_epoch / 20);
  p.lr_schedule = settings_.lr_schedule;
  if (p.lr_schedule.total_epochs == 0.0) {
    p.lr_schedule.total_epochs = static_cast<double>(p.total_steps) / static_cast<double>(p.steps_per_epoch);
  }

  if constexpr (layered_problem<Problem>) {
    p.layout = problem_.layout();
    std::size_t at = 0;
    for (const auto& b : p.layout) {
      if (b.range.begin != at || b.range.end <= b.range.begin) {
        std::ostringstream os;
        os << "asgd: problem layout: block '" << b.name << "' " << b.range << " must be non-empty and start at "
           << at << ", where the previous block ends";
        throw std::invalid_argument(os.str());
      }
      at = b.range.end;
    }
    if (at != p.dimension) {
      throw std::invalid_argument("asgd: problem layout ends at " + std::to_string(at) + " but dimension() is " +
                                  std::to_string(p.dimension));
    }
  } else {
    p.layout = {{"parameters", {0, p.dimension}}};
  }
  return p;
}

template <class Problem, class... Policies>
report trainer<Problem, Policies...>::run() {
  const plan p = make_plan();

  std::vector<float> initial(p.dimension, 0.0f);
  if constexpr (initializable_problem<Problem>) problem_.initialize(std::span<float>(initial), settings_.seed);
  store_type store(consistency_, store_config{p.dimension, p.workers}, std::span<const float>(initial));

  const std::size_t intervals = static_cast<std::size_t>((p.total_steps + p.log_every - 1) / p.log_every);
  const std::size_t epochs = static_cast<std::size_t>((p.total_steps + p.steps_per_epoch - 1) / p.steps_per_epoch);
  std::vector<worker_stats> stats(p.workers);
  for (auto& s : stats) {
    s.interval_loss.assign(intervals, 0.0);
    s.interval_count.assign(intervals, 0);
    s.interval_time.assign(intervals, 0.0);
    s.epoch_loss.assign(epochs, 0.0);
    s.epoch_count.assign(epochs, 0);
    s.epoch_time.assign(epochs, 0.0);
  }

  // Workers' store parts are made here, so an allocation failure throws before any thread
  // waits for another.
  std::vector<store_worker> parts;
  parts.reserve(p.workers);
  for (std::size_t w = 0; w < p.workers; ++w) parts.push_back(store.make_worker(w));

  shared_state shared;
  shared.start = std::chrono::steady_clock::now();
  {
    std::vector<std::thread> threads;
    threads.reserve(p.workers);
    for (std::size_t w = 0; w < p.workers; ++w) {
      threads.emplace_back([&, w] { work(w, p, store, parts[w], shared, stats[w]); });
    }
    for (auto& t : threads) t.join();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - shared.start).count();
  if (shared.error) std::rethrow_exception(shared.error);
  return summarize(p, store, stats, seconds);
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::work(std::size_t id, const plan& p, store_type& store, store_worker& sw,
                                         shared_state& shared, worker_stats& st) const {
  try {
    Problem problem = problem_;  // the worker's own copy: its scratch space is private
    auto state = update_.make_state(p.dimension);
    auto selection = selector_.make_state({p.layout, p.dimension, id, p.workers, settings_.seed});
    detail::batch_sampler sampler(p.samples, settings_.sample_order, id, p.workers, settings_.seed);
    std::vector<float> gradient(sparse_problem<Problem> ? 0 : p.dimension);
    sparse_gradient sparse;
    const update_rule_type& rule = update_;
    auto dir = [&rule, &state](std::size_t i, float g, float x) { return rule.direction(state, i, g, x); };
    const auto full = param_range{0, p.dimension};
    const auto steps_per_epoch = static_cast<double>(p.steps_per_epoch);

    for (std::uint64_t local = 0;; ++local) {
      const std::uint64_t k = consistency_type::lockstep ? local * p.workers + id
                                                         : shared.next_step.fetch_add(1, std::memory_order_relaxed);
      if (k >= p.total_steps || shared.stop.load(std::memory_order_relaxed)) break;
      const double epoch = static_cast<double>(k) / steps_per_epoch;
      const double lr_now = settings_.lr * p.lr_schedule.factor(epoch);
      auto lr = [&](std::uint64_t tau) { return lr_now * settings_.staleness.factor(tau, p.workers); };
      const auto batch = sampler.next(settings_.batch);
      const param_range range = selector_.select(selection, {k, epoch, local});
      if (range.empty() || range.end > p.dimension) {
        std::ostringstream os;
        os << "asgd: block selector " << detail::describe(selector_) << " chose " << range << " outside [0, "
           << p.dimension << ")";
        throw std::logic_error(os.str());
      }

      float loss = 0.0f;
      apply_result res;
      auto check = [&] {
        if (std::isfinite(loss)) return;
        std::ostringstream os;
        os << "asgd: the loss is " << loss << " at step " << k << " (epoch " << epoch << ") on worker " << id
           << " under consistency::" << detail::describe(consistency_) << " with lr " << lr_now
           << "; lower the learning rate or check the data";
        throw training_error(os.str());
      };
      if constexpr (sparse_problem<Problem>) {
        auto h = store.read_sparse(sw);
        sparse.clear();
        loss = static_cast<float>(problem.gradient(h.reader(), batch, sparse));
        check();
        if (range != full) sparse.keep_range(range.begin, range.end);
        res = store.apply_sparse(sw, h, sparse.indices(), sparse.values(), dir, lr);
      } else {
        auto h = store.read(sw);
        std::span<float> g(gradient);
        if (range == full) {
          loss = static_cast<float>(problem.gradient(h.values(), batch, g));
        } else if constexpr (block_gradient_problem<Problem>) {
          g = g.first(range.size());
          loss = static_cast<float>(problem.gradient(h.values(), batch, g, range));
        } else {
          loss = static_cast<float>(problem.gradient(h.values(), batch, g));
          g = g.subspan(range.begin, range.size());
        }
        check();
        res = store.apply(sw, h, range, std::span<const float>(g), dir, lr);
      }

      const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - shared.start).count();
      ++st.steps;
      if (res.applied) {
        ++st.applied;
        st.staleness.add(res.staleness);
      } else {
        ++st.dropped;
      }
      st.retries.add(res.retries);
      const auto interval = static_cast<std::size_t>(k / p.log_every);
      st.interval_loss[interval] += loss;
      ++st.interval_count[interval];
      st.interval_time[interval] = now;
      const auto e = static_cast<std::size_t>(k / p.steps_per_epoch);
      st.epoch_loss[e] += loss;
      ++st.epoch_count[e];
      st.epoch_time[e] = now;
    }
  } catch (...) {
    {
      std::lock_guard lock(shared.error_mutex);
      if (!shared.error) shared.error = std::current_exception();
    }
    shared.stop.store(true, std::memory_order_relaxed);
  }
  store.finish(sw);
}

template <class Problem, class... Policies>
report trainer<Problem, Policies...>::summarize(const plan& p, const store_type& store,
                                                std::vector<worker_stats>& stats, double seconds) {
  report r;
  r.problem = detail::describe(problem_);
  r.consistency = detail::describe(consistency_);
  r.update_rule = detail::describe(update_);
  r.selector = detail::describe(selector_);
  r.used = settings_;
  r.wall_seconds = seconds;

  for (const auto& s : stats) {
    r.steps += s.steps;
    r.updates_applied += s.applied;
    r.updates_dropped += s.dropped;
    r.staleness.merge(s.staleness);
    r.cas_retries.merge(s.retries);
  }
  r.samples = r.steps * settings_.batch;
  r.samples_per_second = seconds > 0 ? static_cast<double>(r.samples) / seconds : 0.0;
  r.model_version = store.version();
  const store_stats ss = store.stats();
  r.peak_live_versions = ss.peak_live_versions;
  r.allocated_versions = ss.allocated_versions;

  const auto& first = stats.front();
  for (std::size_t j = 0; j < first.interval_loss.size(); ++j) {
    double loss = 0.0, time = 0.0;
    std::uint64_t count = 0;
    for (const auto& s : stats) {
      loss += s.interval_loss[j];
      count += s.interval_count[j];
      time = std::max(time, s.interval_time[j]);
    }
    if (count == 0) continue;
    const std::uint64_t steps_done = std::min<std::uint64_t>((j + 1) * p.log_every, p.total_steps);
    const std::uint64_t samples = steps_done * settings_.batch;
    r.loss_curve.push_back({time, samples, static_cast<double>(samples) / static_cast<double>(p.samples),
                            loss / static_cast<double>(count)});
  }
  for (std::size_t e = 0; e < first.epoch_loss.size(); ++e) {
    double loss = 0.0, time = 0.0;
    std::uint64_t count = 0;
    for (const auto& s : stats) {
      loss += s.epoch_loss[e];
      count += s.epoch_count[e];
      time = std::max(time, s.epoch_time[e]);
    }
    if (count == 0) continue;
    r.epochs.push_back({e + 1, loss / static_cast<double>(count), time, std::nullopt});
  }

  parameters_.assign(p.dimension, 0.0f);
  store.copy_to(std::span<float>(parameters_));
  if constexpr (evaluable_problem<Problem>) {
    if (settings_.evaluate) r.final_evaluation = problem_.evaluate(std::span<const float>(parameters_));
  }
  return r;
}

}  // namespace asgd::inline v0
