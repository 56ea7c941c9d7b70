#pragma once
// The definitions of <asgd/sim/cost_model.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/sim/cost_model.hpp>

#include <charconv>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace asgd::inline v0::sim {

namespace cost_format {
// The file's keys, in the order to_text writes them.
struct rate_key {
  std::string_view name;
  double cost_model::*field;
  bool positive;  // a rate: must be > 0 (a time may be 0)
};
inline constexpr rate_key rate_keys[] = {
    {"copy_bandwidth", &cost_model::copy_bandwidth, true},
    {"shared_copy_bandwidth", &cost_model::shared_copy_bandwidth, true},
    {"shared_write_bandwidth", &cost_model::shared_write_bandwidth, false},
    {"stream_write_bandwidth", &cost_model::stream_write_bandwidth, false},
    {"stream_read_bandwidth", &cost_model::stream_read_bandwidth, false},
    {"update_bandwidth", &cost_model::update_bandwidth, true},
    {"memory_bandwidth", &cost_model::memory_bandwidth, false},
    {"atomic_seconds", &cost_model::atomic_seconds, false},
    {"lock_seconds", &cost_model::lock_seconds, false},
    {"line_handover_seconds", &cost_model::line_handover_seconds, false},
    {"wake_seconds", &cost_model::wake_seconds, false},
    {"wake_cpu_seconds", &cost_model::wake_cpu_seconds, false},
    {"sleep_overshoot_seconds", &cost_model::sleep_overshoot_seconds, false},
    {"encode_seconds", &cost_model::encode_seconds, false},
    {"decode_seconds", &cost_model::decode_seconds, false},
    {"evaluation_seconds", &cost_model::evaluation_seconds, false},
    {"link_latency_seconds", &cost_model::link_latency_seconds, false},
    {"link_bandwidth", &cost_model::link_bandwidth, true},
    {"slow_factor", &cost_model::slow_factor, true},
};

struct all_reduce_name {
  std::string_view name;
  all_reduce_model model;
};
inline constexpr all_reduce_name all_reduce_names[] = {{"in_process", all_reduce_model::in_process},
                                                       {"ring", all_reduce_model::ring},
                                                       {"halving_doubling", all_reduce_model::halving_doubling},
                                                       {"recursive_doubling", all_reduce_model::recursive_doubling},
                                                       {"open_mpi", all_reduce_model::open_mpi}};

inline std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

inline std::optional<double> number(std::string_view s) {
  s = trim(s);
  double v = 0.0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// A whole number in [0, max] (a count, an id), or none.
inline std::optional<std::size_t> whole(std::string_view s, double max) {
  const auto v = number(s);
  if (!v || *v < 0.0 || *v != std::floor(*v) || *v > max) return std::nullopt;
  return static_cast<std::size_t>(*v);
}

// A duration: "5e-6" or "lognormal(5e-6, 0.3)".
inline std::optional<duration> parse_duration(std::string_view s) {
  s = trim(s);
  if (auto v = number(s)) return duration{*v, 0.0};
  constexpr std::string_view head = "lognormal(";
  if (!s.starts_with(head) || !s.ends_with(")")) return std::nullopt;
  const std::string_view args = s.substr(head.size(), s.size() - head.size() - 1);
  const auto comma = args.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  const auto median = number(args.substr(0, comma));
  const auto sigma = number(args.substr(comma + 1));
  if (!median || !sigma) return std::nullopt;
  return duration{*median, *sigma};
}

// The shortest text that reads back as v.
inline std::string text_of(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc{} ? std::string(buf, end) : std::string("?");
}

// Throws std::invalid_argument "<where>: <key> = <value>: <why>" for the first bad field.
inline void check(const cost_model& m, const std::string& where) {
  auto fail = [&](std::string_view key, double v, std::string_view why) {
    throw std::invalid_argument(where + ": " + std::string(key) + " = " + text_of(v) + ": " + std::string(why));
  };
  const duration& g = m.gradient_per_sample;
  if (!(std::isfinite(g.median) && g.median >= 0.0)) {
    fail("gradient_per_sample", g.median, "the median must be a finite number >= 0");
  }
  if (!(std::isfinite(g.sigma) && g.sigma >= 0.0 && g.sigma <= 4.0)) {
    fail("gradient_per_sample", g.sigma, "sigma must be a finite number in [0, 4]");
  }
  for (const auto& k : rate_keys) {
    const double v = m.*k.field;
    if (!std::isfinite(v) || v < 0.0 || (k.positive && v == 0.0)) {
      fail(k.name, v, k.positive ? "must be a finite number > 0" : "must be a finite number >= 0");
    }
  }
  if ((m.stream_write_bandwidth == 0.0) != (m.stream_read_bandwidth == 0.0)) {
    fail("stream_read_bandwidth", m.stream_read_bandwidth,
         (m.stream_write_bandwidth == 0.0 ? std::string("must be 0 where stream_write_bandwidth is")
                                          : "must be > 0 where stream_write_bandwidth is not (" +
                                                text_of(m.stream_write_bandwidth) + ")") +
             ": streaming stores are priced both ways or not at all");
  }
  if (m.wake_cpu_seconds > m.wake_seconds) {
    fail("wake_cpu_seconds", m.wake_cpu_seconds,
         "must be at most wake_seconds (" + text_of(m.wake_seconds) + "), the wake-up it is part of");
  }
}
}  // namespace cost_format

ASGD_DECL void cost_model::validate() const { cost_format::check(*this, "asgd: cost model"); }

ASGD_DECL double cost_model::all_reduce_seconds(std::size_t nodes, std::size_t bytes) const {
  if (link_all_reduce == all_reduce_model::in_process || nodes < 2) return 0.0;
  const double n = static_cast<double>(nodes), b = static_cast<double>(bytes);
  const double alpha = link_latency_seconds, beta = link_bandwidth;
  // Adding another node's part of the vector into one's own: a float read twice and written once.
  auto sums = [&](double part_bytes) { return part_bytes * 3.0 / update_bandwidth; };
  all_reduce_model algorithm = link_all_reduce;
  if (algorithm == all_reduce_model::open_mpi) {
    algorithm = bytes < 10000 ? all_reduce_model::recursive_doubling : all_reduce_model::ring;
  }
  if (algorithm == all_reduce_model::ring) {
    // n - 1 steps of reduce-scatter (each with a sum) and n - 1 of all-gather, 1/n of the vector a step.
    const double step = alpha + b / n / beta;
    return 2.0 * (n - 1.0) * step + sums((n - 1.0) / n * b);
  }
  std::size_t p = 1;
  unsigned rounds = 0;
  while (2 * p <= nodes) {
    p *= 2;
    ++rounds;
  }
  const double pd = static_cast<double>(p);
  double t = algorithm == all_reduce_model::recursive_doubling
                 ? rounds * (alpha + b / beta + sums(b))
                 : 2.0 * rounds * alpha + 2.0 * (pd - 1.0) / pd * b / beta + sums((pd - 1.0) / pd * b);
  // The nodes beyond a power of two fold into a partner first (its vector sent and added) and
  // get the mean back at the end.
  if (p < nodes) t += 2.0 * (alpha + b / beta) + sums(b);
  return t;
}

ASGD_DECL cost_model parse_cost_model(std::string_view text, std::string_view name) {
  cost_model m = cost_model::machine();
  std::vector<std::string> seen;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    line = cost_format::trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    auto fail = [&](const std::string& why) {
      throw std::invalid_argument("asgd: cost model " + std::string(name) + " line " + std::to_string(line_no) + ": " +
                                  why);
    };
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) fail("'" + std::string(line) + "' is not 'key = value'");
    const std::string key(cost_format::trim(line.substr(0, eq)));
    const std::string_view value = cost_format::trim(line.substr(eq + 1));
    for (const auto& s : seen)
      if (s == key) fail(key + " is given twice");
    seen.push_back(key);
    if (key == "gradient_per_sample") {
      const auto d = cost_format::parse_duration(value);
      if (!d) fail("gradient_per_sample = '" + std::string(value) + "' is not seconds or lognormal(median, sigma)");
      m.gradient_per_sample = *d;
      continue;
    }
    if (key == "cores") {
      const auto v = cost_format::whole(value, 1e6);
      if (!v) fail("cores = '" + std::string(value) + "' is not a whole number of cores (0: a core per task)");
      m.cores = *v;
      continue;
    }
    if (key == "slow_node") {
      if (value == "none") {
        m.slow_node = cost_model::no_node;
        continue;
      }
      const auto v = cost_format::whole(value, 1e9);
      if (!v) fail("slow_node = '" + std::string(value) + "' is not a node id or 'none'");
      m.slow_node = *v;
      continue;
    }
    if (key == "link_all_reduce") {
      bool named = false;
      for (const auto& a : cost_format::all_reduce_names) {
        if (a.name != value) continue;
        m.link_all_reduce = a.model;
        named = true;
      }
      if (!named) {
        std::string names;  // "a, b or c", from the table the loop above reads
        for (std::size_t k = 0; k < std::size(cost_format::all_reduce_names); ++k) {
          const bool last = k + 1 == std::size(cost_format::all_reduce_names);
          names += (k == 0 ? "" : last ? " or " : ", ") + std::string(cost_format::all_reduce_names[k].name);
        }
        fail("link_all_reduce = '" + std::string(value) + "' is not " + names);
      }
      continue;
    }
    bool known = false;
    for (const auto& k : cost_format::rate_keys) {
      if (k.name != key) continue;
      const auto v = cost_format::number(value);
      if (!v) fail(key + " = '" + std::string(value) + "' is not a number");
      m.*k.field = *v;
      known = true;
    }
    if (!known) {
      std::string keys = "gradient_per_sample, slow_node, cores, link_all_reduce";
      for (const auto& k : cost_format::rate_keys) keys += ", " + std::string(k.name);
      fail("unknown key '" + key + "' (the keys: " + keys + ")");
    }
  }
  cost_format::check(m, "asgd: cost model " + std::string(name));
  return m;
}

ASGD_DECL cost_model read_cost_model(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("asgd: cannot read cost model " + path.string());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::invalid_argument("asgd: cannot read cost model " + path.string());
  return parse_cost_model(text, path.string());
}

ASGD_DECL std::string to_text(const cost_model& m) {
  std::string out = "# asgd cost model\n";
  const duration& g = m.gradient_per_sample;
  out += "gradient_per_sample = " +
         (g.sigma == 0.0 ? cost_format::text_of(g.median)
                         : "lognormal(" + cost_format::text_of(g.median) + ", " + cost_format::text_of(g.sigma) + ")") +
         "\n";
  for (const auto& k : cost_format::rate_keys) out += std::string(k.name) + " = " + cost_format::text_of(m.*k.field) + "\n";
  out += "slow_node = " + (m.slow_node == cost_model::no_node ? std::string("none") : std::to_string(m.slow_node)) + "\n";
  out += "cores = " + std::to_string(m.cores) + "\n";
  for (const auto& a : cost_format::all_reduce_names)
    if (a.model == m.link_all_reduce) out += "link_all_reduce = " + std::string(a.name) + "\n";
  return out;
}

}  // namespace asgd::inline v0::sim
