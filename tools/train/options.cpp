#include "options.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

namespace asgd_train {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

[[noreturn]] void bad(const std::string& option, const std::string& value, const std::string& accepts) {
  throw usage_error("asgd-train: " + option + " '" + value + "': " + accepts);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

template <class T>
T integer(const std::string& option, const std::string& v, T lo, T hi) {
  T out{};
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size() || out < lo || out > hi) {
    bad(option, v, "expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return out;
}

double real(const std::string& option, const std::string& v, double lo, double hi, bool open_lo = false) {
  std::size_t used = 0;
  double out = 0.0;
  try {
    out = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty() || !std::isfinite(out) || out < lo || out > hi || (open_lo && out == lo)) {
    std::ostringstream why;
    why << "expects a number in " << (open_lo ? "(" : "[") << lo << ", " << hi << "]";
    bad(option, v, why.str());
  }
  return out;
}

std::string one_of(const std::string& option, const std::string& v, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (a == v) return v;
  bad(option, v, "expects one of " + join(allowed));
}

asgd::schedule parse_schedule(const std::string& v) {
  const auto parts = split(v, ':');
  const std::string accepts = "expects constant, cosine, multistep:E1,E2,...[:GAMMA] or backoff:BETA";
  if (v == "constant") return asgd::schedule::constant();
  if (v == "cosine") return asgd::schedule::cosine();
  if (parts.size() >= 2 && parts[0] == "multistep" && parts.size() <= 3) {
    std::vector<double> at;
    for (const auto& e : split(parts[1], ',')) at.push_back(real("--schedule", e, 0.0, 1e6));
    if (at.empty()) bad("--schedule", v, "multistep needs at least one epoch, e.g. multistep:30,60");
    for (std::size_t i = 1; i < at.size(); ++i)
      if (at[i] <= at[i - 1]) bad("--schedule", v, "multistep epochs must increase");
    const double gamma = parts.size() == 3 ? real("--schedule", parts[2], 0.0, 1.0, true) : 0.1;
    return asgd::schedule::multistep(at, gamma);
  }
  if (parts.size() == 2 && parts[0] == "backoff") return asgd::schedule::backoff(real("--schedule", parts[1], 0.0, 1.0, true));
  bad("--schedule", v, accepts);
}

}  // namespace

options parse(int argc, const char* const* argv) {
  options o;
  given_options given;
  for (int i = 1; i < argc; ++i) {
    // "--option value" or "--option=value"
    std::string arg = argv[i], value;
    const auto eq = arg.find('=');
    const bool inline_value = arg.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_value) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto flag = [&] {
      if (inline_value) bad(arg, value, "takes no value");
    };
    auto take = [&]() -> std::string {
      if (!inline_value) {
        if (i + 1 >= argc) throw usage_error("asgd-train: " + arg + " needs a value (see --help)");
        value = argv[++i];
      }
      // An empty value (--json '', --compare '') would silently do nothing.
      if (value.empty()) throw usage_error("asgd-train: " + arg + " needs a value, not an empty one (see --help)");
      return value;
    };
    if (arg == "--help" || arg == "-h") {
      flag();
      o.help = true;
    } else if (arg == "--model") {
      o.model = one_of(arg, take(), all_models);
    } else if (arg == "--hidden") {
      const std::string v = take();
      o.hidden.clear();
      for (const auto& h : split(v, ',')) o.hidden.push_back(integer<std::size_t>(arg, h, 1, 1 << 16));
    } else if (arg == "--data") {
      o.data = take();
    } else if (arg == "--no-standardize") {
      flag();
      o.standardize = false;
    } else if (arg == "--mode") {
      o.modes = {one_of(arg, take(), all_modes)};
      given.mode = true;
    } else if (arg == "--compare") {
      const std::string v = take();
      o.modes.clear();
      for (const auto& m : split(v, ',')) o.modes.push_back(one_of(arg, m, all_modes));
      o.compare = true;
      given.compare = true;
    } else if (arg == "--threads") {
      o.threads = integer<std::size_t>(arg, take(), 1, 4096);
      given.threads = true;
    } else if (arg == "--persistence") {
      const std::string v = take();
      o.persistence = v == "unbounded" ? asgd::consistency::leashed::unbounded
                                       : integer<std::size_t>(arg, v, 0, 1000000);
    } else if (arg == "--staleness-bound") {
      o.staleness_bound = integer<std::size_t>(arg, take(), 0, 1000000);
    } else if (arg == "--sync-every") {
      o.sync_every = integer<std::size_t>(arg, take(), 1, std::size_t{1} << 20);
    } else if (arg == "--staleness-scaling") {
      const std::string v = one_of(arg, take(), {"none", "inverse", "fleet"});
      using k = asgd::staleness_scaling::kind;
      o.staleness.type = v == "none" ? k::none : v == "inverse" ? k::inverse : k::fleet;
    } else if (arg == "--epochs") {
      o.epochs = integer<std::size_t>(arg, take(), 1, 100000);
    } else if (arg == "--steps") {
      o.steps = integer<std::size_t>(arg, take(), 1, std::size_t{1} << 40);
    } else if (arg == "--batch") {
      o.batch = integer<std::size_t>(arg, take(), 1, 1 << 20);
    } else if (arg == "--lr") {
      o.lr = static_cast<float>(real(arg, take(), 0.0, 1e3, true));
    } else if (arg == "--momentum") {
      o.momentum = static_cast<float>(real(arg, take(), 0.0, 0.999));
    } else if (arg == "--nesterov") {
      flag();
      o.nesterov = true;
    } else if (arg == "--weight-decay") {
      o.weight_decay = static_cast<float>(real(arg, take(), 0.0, 1e3));
    } else if (arg == "--schedule") {
      const double warmup = o.lr_schedule.warmup_epochs;
      o.lr_schedule = parse_schedule(take());
      o.lr_schedule.warmup_epochs = warmup;
    } else if (arg == "--warmup") {
      o.lr_schedule.warmup_epochs = real(arg, take(), 0.0, 1e6);
    } else if (arg == "--select") {
      o.select = one_of(arg, take(), all_selectors);
    } else if (arg == "--blocks") {
      o.blocks = integer<std::size_t>(arg, take(), 1, std::size_t{1} << 30);
    } else if (arg == "--select-warmup") {
      o.select_warmup = real(arg, take(), 0.0, 1e6);
    } else if (arg == "--sampling") {
      o.sample_order = one_of(arg, take(), {"shared", "sharded"}) == "shared" ? asgd::sampling::shared
                                                                              : asgd::sampling::sharded;
    } else if (arg == "--seed") {
      o.seed = integer<std::uint64_t>(arg, take(), 0, ~std::uint64_t{0});
    } else if (arg == "--json") {
      o.json = take();
    } else if (arg == "--simulate") {
      o.simulate = take();
      try {
        o.costs = o.simulate == "machine" ? asgd::sim::cost_model::machine() : asgd::sim::read_cost_model(o.simulate);
      } catch (const std::invalid_argument& e) {
        throw usage_error(std::string("asgd-train: --simulate ") + o.simulate + ": " + e.what());
      }
    } else if (arg == "--calibrate") {
      flag();
      o.calibrate = true;
    } else if (arg == "--record") {
      o.record = take();
    } else if (arg == "--replay") {
      o.replay = take();
    } else if (arg == "--checkpoint") {
      o.checkpoint = take();
    } else if (arg == "--checkpoint-every") {
      o.checkpoint_every = integer<std::uint64_t>(arg, take(), 1, ~std::uint64_t{0});
    } else if (arg == "--resume") {
      o.resume = take();
    } else if (arg == "--evals-per-epoch") {
      o.evals_per_epoch = integer<std::size_t>(arg, take(), 0, 1000);
      given.evals = true;
    } else if (arg == "--epochs-per-eval") {
      o.epochs_per_eval = integer<std::size_t>(arg, take(), 1, 1000000);
    } else if (arg == "--target-accuracy") {
      o.target_accuracy = real(arg, take(), 0.0, 100.0, true);
    } else if (arg == "--nodes") {
      o.nodes = integer<std::size_t>(arg, take(), 1, 1024);
      given.nodes = true;
    } else if (arg == "--transport") {
      o.transport = one_of(arg, take(), {"in_process", "mpi", "nccl"});
    } else if (arg == "--device") {
      o.device = one_of(arg, take(), {"cpu", "cuda"});
    } else if (arg == "--gpu-workers") {
      o.gpu_workers = integer<std::size_t>(arg, take(), 1, 256);
      given.gpu_workers = true;
    } else if (arg == "--topology") {
      o.topology = one_of(arg, take(), all_topologies);
    } else if (arg == "--avg-every" || arg == "--local-steps") {
      o.averaging.every = integer<std::size_t>(arg, take(), 1, std::size_t{1} << 30);
      given.every = true;
    } else if (arg == "--graph") {
      const std::string v = take();
      if (v.rfind("regular:", 0) == 0) {
        const std::string d = v.substr(8);
        if (d.empty() || d.size() > 5 || d.find_first_not_of("0123456789") != std::string::npos || std::stoul(d) == 0) {
          bad(arg, v, "expects regular:D with the degree D an integer in [1, 99999]");
        }
        o.graph = v;
      } else {
        o.graph = one_of(arg, v, {"complete", "ring", "torus", "regular:D", "exponential"});
        if (o.graph == "regular:D") bad(arg, v, "give the degree: regular:D, e.g. regular:4");
      }
    } else if (arg == "--local-after") {
      o.averaging.local_after_epoch = real(arg, take(), 0.0, 1e6);
    } else if (arg == "--blocking") {
      flag();
      o.averaging.blocking = true;
    } else if (arg == "--no-final-average") {
      flag();
      o.averaging.final_average = false;
    } else if (arg == "--max-lag") {
      o.averaging.max_lag = integer<std::size_t>(arg, take(), 0, std::size_t{1} << 30);
    } else if (arg == "--rounds-wait-for-last") {
      flag();
      o.averaging.first_due_starts = false;
    } else if (arg == "--inline-evaluations") {
      flag();
      o.background_evaluations = false;
    } else if (arg == "--realtime-averager") {
      flag();
      o.averaging.realtime_averager = true;
    } else if (arg == "--rounds-on-workers") {
      flag();
      o.averaging.rounds_on_workers = true;
    } else if (arg == "--no-exchange") {
      flag();
      o.averaging.exchange = false;
    } else if (arg == "--exposed") {
      o.exposed = integer<std::size_t>(arg, take(), 1, 20);
    } else if (arg == "--consensus-every") {
      o.averaging.consensus_every = integer<std::size_t>(arg, take(), 0, std::size_t{1} << 30);
    } else if (arg == "--quantize") {
      o.quantize = one_of(arg, take(), all_quantizers);
    } else if (arg == "--shard") {
      const std::string v = take();
      if (v == "iid") {
        o.shards.type = asgd::sharding::kind::iid;
      } else if (v.rfind("dirichlet:", 0) == 0) {
        o.shards.type = asgd::sharding::kind::dirichlet;
        o.shards.alpha = real("--shard dirichlet:ALPHA", v.substr(10), 0.0, 1e6, true);
      } else {
        bad(arg, v, "expects iid or dirichlet:ALPHA (e.g. dirichlet:0.1)");
      }
    } else if (arg == "--shard-sizes") {
      const std::string v = take();
      o.shards.sizes.clear();
      for (const auto& e : split(v, ',')) o.shards.sizes.push_back(real(arg, e, 0.0, 1e15, true));
    } else if (arg == "--fraction") {
      o.fraction = real(arg, take(), 0.0, 1.0, true);
    } else if (arg == "--lattice-epsilon") {
      o.lattice_epsilon = real(arg, take(), 0.0, 1e6, true);
    } else if (arg == "--lattice-bits") {
      o.lattice_bits = integer<unsigned>(arg, take(), 2, 24);
    } else if (arg == "--latency") {
      o.latency = real(arg, take(), 0.0, 1e3);
    } else if (arg == "--bandwidth") {
      o.bandwidth = real(arg, take(), 0.0, 1e15);
    } else if (arg == "--straggler-delay") {
      o.straggler_delay = real(arg, take(), 0.0, 1e3);
    } else if (arg == "--straggler-slowdown") {
      o.straggler_slowdown = real(arg, take(), 1.0, 1e3);
    } else if (arg == "--timeout") {
      o.timeout = real(arg, take(), 0.0, 1e6, true);
    } else if (arg == "--quiet") {
      flag();
      o.quiet = true;
    } else {
      throw usage_error("asgd-train: unknown option '" + std::string(argv[i]) + "' (see --help)");
    }
  }
  check_combinations(o, given);
  return o;
}

}  // namespace asgd_train
