#pragma once
/// @file
/// Feed-forward networks for image classification (MLP, the Leashed-SGD paper's CNN, LeNet-5)
/// as asgd problems: one flat parameter vector laid out layer by layer, Eigen for the math, no
/// allocation per step, and partial back-propagation for block steps.

#include <asgd/concepts.hpp>
#include <asgd/data/images.hpp>
#include <asgd/detail/memory.hpp>
#include <asgd/random.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace asgd::inline v0::problems {

/// Layer descriptions. Shapes are per sample; images are stored height x width x channels
/// (channels fastest), so a convolution's patches are contiguous rows of an im2col matrix.
namespace layers {
/// Fully connected: y = W x + b, W out x in (row-major, as PyTorch's Linear).
struct dense {
  std::size_t out = 0;
};
/// 2-D convolution, stride 1, zero padding, square kernel; W is out x (kernel*kernel*in).
struct conv2d {
  std::size_t out_channels = 0;
  std::size_t kernel = 3;
  std::size_t padding = 0;
};
/// Max pooling over non-overlapping size x size windows (the remainder is dropped).
struct max_pool {
  std::size_t size = 2;
};
/// Element-wise max(0, x).
struct relu {};
}  // namespace layers

using layer = std::variant<layers::dense, layers::conv2d, layers::max_pool, layers::relu>;

/// A classifier `layers... -> softmax cross-entropy` over an image set, as an asgd problem.
///
/// Capabilities: dense gradient; block gradient (back-propagation stops at the lowest layer
/// whose parameters the block touches, and computes weight gradients only for layers it
/// touches); layout with one block per weight and per bias ("fc1.weight", "conv2.bias", ...);
/// evaluation (mean cross-entropy and accuracy on the test set, or the training set when there
/// is none); PyTorch's default initialisation (uniform in +-1/sqrt(fan_in)).
/// Copies share the data and own their scratch space, which grows to the largest batch seen and
/// is then reused: no allocation per step.
///
/// Use it as `network`. It is a class template (of a parameter nothing uses) only so that its
/// Eigen code is compiled in the translation units that train or evaluate a network, not in
/// every one that includes this header: GCC instantiates the templates a non-template inline
/// function calls in every such unit, whether or not the function is used (3 s a unit, with
/// the reference problems' other Eigen code).
template <class = void>
class basic_network {
 public:
  static constexpr std::string_view name = "network";

  basic_network(std::string label, std::vector<layer> stack, std::shared_ptr<const data::image_set> train,
                std::shared_ptr<const data::image_set> test = nullptr)
      : label_(std::move(label)), train_(std::move(train)), test_(std::move(test)) {
    if (!train_ || train_->size() == 0) throw std::invalid_argument("asgd: network '" + label_ + "' needs training data");
    build(stack);
  }

  [[nodiscard]] std::size_t dimension() const noexcept { return dimension_; }
  [[nodiscard]] std::size_t num_samples() const noexcept { return train_->size(); }
  [[nodiscard]] const std::string& label() const noexcept { return label_; }
  [[nodiscard]] const data::image_set& train_set() const noexcept { return *train_; }
  [[nodiscard]] std::size_t class_of(std::size_t i) const noexcept { return train_->labels[i]; }

  [[nodiscard]] block_layout layout() const {
    block_layout l;
    for (const auto& s : stages_) {
      if (s.weights == 0) continue;
      l.push_back({s.name + ".weight", {s.offset, s.offset + s.weights}});
      l.push_back({s.name + ".bias", {s.offset + s.weights, s.offset + s.weights + s.biases}});
    }
    return l;
  }

  /// PyTorch's default: weights and biases uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)].
  void initialize(std::span<float> x, std::uint64_t seed) const {
    rng g(seed, 0x1417);
    for (const auto& s : stages_) {
      if (s.weights == 0) continue;
      const double bound = 1.0 / std::sqrt(static_cast<double>(s.fan_in));
      for (std::size_t i = 0; i < s.weights + s.biases; ++i)
        x[s.offset + i] = static_cast<float>((2.0 * g.uniform() - 1.0) * bound);
    }
  }

  float gradient(std::span<const float> x, batch_view batch, std::span<float> g) {
    return run(x, batch, g.data(), {0, dimension_});
  }

  float gradient(std::span<const float> x, batch_view batch, std::span<float> g, param_range r) {
    if (r.begin == 0 && r.end == dimension_) return gradient(x, batch, g);
    scratch_grad_.resize(dimension_);
    const float loss = run(x, batch, scratch_grad_.data(), r);
    std::copy(scratch_grad_.begin() + static_cast<std::ptrdiff_t>(r.begin),
              scratch_grad_.begin() + static_cast<std::ptrdiff_t>(r.end), g.begin());
    return loss;
  }

  /// Mean cross-entropy and accuracy of model `x` on the test set (the training set when
  /// there is none), in batches of 500. Its buffers are kept for the next call (one thread's
  /// at a time: a call while another evaluates with them makes buffers of its own).
  [[nodiscard]] evaluation evaluate(std::span<const float> x) const {
    std::unique_lock<std::mutex> hold(evaluator_.busy, std::try_to_lock);
    if (!hold.owns_lock()) {
      basic_network scratch(*this, no_workspace{});
      return scratch.evaluate_with(x);
    }
    if (!evaluator_.net) evaluator_.net.reset(new basic_network(*this, no_workspace{}));  // a private constructor
    return evaluator_.net->evaluate_with(x);
  }

  /// Floating-point operations of one sample's full training step (forward, weight and input
  /// gradients; none for the first layer's input gradient).
  [[nodiscard]] double flops_per_sample() const noexcept {
    double f = 0.0;
    for (std::size_t l = 0; l < stages_.size(); ++l) {
      const auto& s = stages_[l];
      if (s.weights == 0) continue;
      const double mac = static_cast<double>(s.weights) * static_cast<double>(s.positions);
      f += 2.0 * mac * (l == 0 ? 2.0 : 3.0);
    }
    return f;
  }

  friend std::ostream& operator<<(std::ostream& os, const basic_network& n) {
    os << n.label_ << '{';
    for (std::size_t l = 0; l < n.stages_.size(); ++l) os << (l ? " " : "") << n.stages_[l].name;
    return os << ", " << n.dimension_ << " parameters}";
  }

 private:
  enum class kind { dense, conv, pool, relu };

  // One layer with its shapes resolved.
  struct stage {
    kind type = kind::relu;
    std::string name;
    std::size_t in = 0, out = 0;                   // floats per sample
    std::size_t in_h = 1, in_w = 1, in_c = 0;      // input as height x width x channels
    std::size_t out_h = 1, out_w = 1, out_c = 0;
    std::size_t kernel = 1, padding = 0, pool = 1;
    std::size_t offset = 0, weights = 0, biases = 0, fan_in = 0;
    std::size_t positions = 1;                     // output pixels (conv), 1 (dense)
  };

  struct forward_result {
    double loss_sum = 0.0;
    std::size_t correct = 0;
  };

  // evaluate() on this copy's own buffers.
  evaluation evaluate_with(std::span<const float> x) {
    const data::image_set& set = test_ ? *test_ : *train_;
    double loss = 0.0;
    std::size_t correct = 0;
    std::vector<std::size_t> batch;
    for (std::size_t at = 0; at < set.size(); at += 500) {
      batch.clear();
      for (std::size_t i = at; i < std::min(set.size(), at + 500); ++i) batch.push_back(i);
      const auto r = forward(x, batch, set);
      loss += r.loss_sum;
      correct += r.correct;
    }
    const double n = static_cast<double>(set.size());
    return {loss / n, static_cast<double>(correct) / n};
  }

  struct no_workspace {};
  basic_network(const basic_network& o, no_workspace)
      : label_(o.label_), train_(o.train_), test_(o.test_), stages_(o.stages_), dimension_(o.dimension_),
        classes_(o.classes_) {}

  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using map = Eigen::Map<matrix>;
  using const_map = Eigen::Map<const matrix>;
  static Eigen::Index ix(std::size_t v) noexcept { return static_cast<Eigen::Index>(v); }

#if EIGEN_VERSION_AT_LEAST(3, 4, 0) && !EIGEN_VERSION_AT_LEAST(3, 4, 90)
  // Eigen's products allocate their packing buffers at every call once these outgrow its stack
  // limit (128 KB): the MLP's, 0.9 MB a step at batch 16, from the heap of the worker's thread
  // (glibc kept them only once its dynamic thresholds had grown; with a threshold set, a step
  // took 1.3-8x as long). A copy packs into buffers of its own, kept from step to step: Eigen
  // 3.4's GEMM (internal, so only for 3.4; other versions take the product as it comes).
  using gemm_blocking = Eigen::internal::gemm_blocking_space<Eigen::RowMajor, float, float, Eigen::Dynamic,
                                                             Eigen::Dynamic, Eigen::Dynamic, 1, false>;
  struct kept_blocking {
    Eigen::Index rows = 0, cols = 0, depth = 0;
    std::unique_ptr<gemm_blocking> space;
  };
  // Copies start without buffers: each packs into its own.
  struct product_buffers {
    product_buffers() = default;
    product_buffers(const product_buffers&) {}
    product_buffers& operator=(const product_buffers&) { return *this; }
    std::vector<kept_blocking> slots;
  };
#else
  struct product_buffers {};
#endif

  // dst = lhs * rhs as Eigen's `dst.noalias() = lhs * rhs` computes it (the same blocking, so
  // the same sums), with the packing buffers of `slot` kept (slot: one per product of a stage).
  template <class Lhs, class Rhs>
  void multiply(map dst, const Lhs& lhs, const Rhs& rhs, std::size_t slot) {
#if EIGEN_VERSION_AT_LEAST(3, 4, 0) && !EIGEN_VERSION_AT_LEAST(3, 4, 90)
    // Eigen's own choices for small and vector products (evalTo, scaleAndAddTo): those allocate
    // nothing.
    if (rhs.rows() + dst.rows() + dst.cols() < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD || dst.rows() <= 1 ||
        dst.cols() <= 1 || lhs.cols() == 0) {
      dst.noalias() = lhs * rhs;
      return;
    }
    using lhs_traits = Eigen::internal::blas_traits<Lhs>;
    using rhs_traits = Eigen::internal::blas_traits<Rhs>;
    const auto& a = lhs_traits::extract(lhs);
    const auto& b = rhs_traits::extract(rhs);
    using a_type = std::remove_cvref_t<decltype(a)>;
    using b_type = std::remove_cvref_t<decltype(b)>;
    static_assert(!lhs_traits::NeedToConjugate && !rhs_traits::NeedToConjugate);
    if (buffers_.slots.size() <= slot) buffers_.slots.resize(slot + 1);
    kept_blocking& k = buffers_.slots[slot];
    if (!k.space || k.rows != dst.rows() || k.cols != dst.cols() || k.depth != a.cols()) {
      k = {dst.rows(), dst.cols(), a.cols(), std::make_unique<gemm_blocking>(dst.rows(), dst.cols(), a.cols(), 1, true)};
      k.space->allocateAll();
    }
    dst.setZero();
    Eigen::internal::general_matrix_matrix_product<
        Eigen::Index, float, (a_type::Flags & Eigen::RowMajorBit) ? Eigen::RowMajor : Eigen::ColMajor, false, float,
        (b_type::Flags & Eigen::RowMajorBit) ? Eigen::RowMajor : Eigen::ColMajor, false, Eigen::RowMajor,
        1>::run(dst.rows(), dst.cols(), a.cols(), a.data(), a.outerStride(), b.data(), b.outerStride(), dst.data(), 1,
                dst.outerStride(), 1.0f, *k.space, nullptr);
#else
    (void)slot;
    dst.noalias() = lhs * rhs;
#endif
  }

  void build(const std::vector<layer>& stack) {
    std::size_t h = train_->rows, w = train_->cols, c = 1;
    classes_ = train_->classes;
    if (test_ && (test_->rows != h || test_->cols != w || test_->classes != classes_)) {
      throw std::invalid_argument("asgd: network '" + label_ + "': test images differ in shape or classes from training images");
    }
    std::size_t offset = 0, n_dense = 0, n_conv = 0, n_pool = 0, n_relu = 0;
    for (const layer& spec : stack) {
      stage s;
      s.in_h = h;
      s.in_w = w;
      s.in_c = c;
      s.in = h * w * c;
      s.offset = offset;
      if (const auto* d = std::get_if<layers::dense>(&spec)) {
        s.type = kind::dense;
        s.name = "fc" + std::to_string(++n_dense);
        s.out_c = d->out;
        s.weights = d->out * s.in;
        s.biases = d->out;
        s.fan_in = s.in;
        h = w = 1;
        c = d->out;
      } else if (const auto* cv = std::get_if<layers::conv2d>(&spec)) {
        s.type = kind::conv;
        s.name = "conv" + std::to_string(++n_conv);
        s.kernel = cv->kernel;
        s.padding = cv->padding;
        if (h + 2 * s.padding < s.kernel || w + 2 * s.padding < s.kernel) {
          throw std::invalid_argument("asgd: network '" + label_ + "': " + s.name + "'s kernel is larger than its input");
        }
        s.out_c = cv->out_channels;
        s.fan_in = s.kernel * s.kernel * c;
        s.weights = s.out_c * s.fan_in;
        s.biases = s.out_c;
        h = h + 2 * s.padding - s.kernel + 1;
        w = w + 2 * s.padding - s.kernel + 1;
        c = s.out_c;
        s.positions = h * w;
      } else if (const auto* p = std::get_if<layers::max_pool>(&spec)) {
        s.type = kind::pool;
        s.name = "pool" + std::to_string(++n_pool);
        s.pool = p->size;
        if (s.pool == 0 || h < s.pool || w < s.pool) {
          throw std::invalid_argument("asgd: network '" + label_ + "': " + s.name + " does not fit its input");
        }
        h /= s.pool;
        w /= s.pool;
        s.out_c = c;
      } else {
        s.type = kind::relu;
        s.name = "relu" + std::to_string(++n_relu);
        s.out_c = c;
      }
      s.out_h = h;
      s.out_w = w;
      s.out = h * w * c;
      if (s.out == 0) throw std::invalid_argument("asgd: network '" + label_ + "': " + s.name + " has an empty output");
      offset += s.weights + s.biases;
      stages_.push_back(s);
    }
    if (stages_.empty() || stages_.back().out != classes_) {
      throw std::invalid_argument("asgd: network '" + label_ + "': the last layer must output " +
                                  std::to_string(classes_) + " values, one per class");
    }
    dimension_ = offset;
  }

  // Grows the scratch space for a batch of b samples (allocates only when b exceeds the
  // largest batch seen).
  void reserve(std::size_t b) {
    if (b <= capacity_) return;
    capacity_ = b;
    acts_.resize(stages_.size() + 1);
    acts_[0].resize(b * stages_.front().in);
    cols_.resize(stages_.size());
    argmax_.resize(stages_.size());
    std::size_t widest = 0;
    for (std::size_t l = 0; l < stages_.size(); ++l) {
      const auto& s = stages_[l];
      acts_[l + 1].resize(b * s.out);
      widest = std::max({widest, s.in, s.out});
      if (s.type == kind::conv) cols_[l].resize(b * s.positions * s.fan_in);
      if (s.type == kind::pool) argmax_[l].resize(b * s.out);
    }
    delta_[0].resize(b * widest);
    delta_[1].resize(b * widest);
  }

  forward_result forward(std::span<const float> x, batch_view batch, const data::image_set& set) {
    const std::size_t b = batch.size();
    reserve(b);
    const std::size_t in0 = stages_.front().in;
    for (std::size_t k = 0; k < b; ++k) set.decode(batch[k], acts_[0].data() + k * in0);
    for (std::size_t l = 0; l < stages_.size(); ++l) forward_stage(l, x, b);
    // Softmax in place over the logits; loss and accuracy against the labels.
    forward_result r;
    float* logits = acts_.back().data();
    for (std::size_t k = 0; k < b; ++k) {
      float* z = logits + k * classes_;
      const std::size_t y = set.labels[batch[k]];
      const float top = *std::max_element(z, z + classes_);
      const auto best = static_cast<std::size_t>(std::max_element(z, z + classes_) - z);
      const float shifted = z[y] - top;
      float sum = 0.0f;
      for (std::size_t c = 0; c < classes_; ++c) sum += (z[c] = std::exp(z[c] - top));
      for (std::size_t c = 0; c < classes_; ++c) z[c] /= sum;
      r.loss_sum += std::log(sum) - shifted;
      r.correct += best == y;
    }
    return r;
  }

  void forward_stage(std::size_t l, std::span<const float> x, std::size_t b) {
    const stage& s = stages_[l];
    const float* in = acts_[l].data();
    float* out = acts_[l + 1].data();
    switch (s.type) {
      case kind::dense: {
        const_map w(x.data() + s.offset, ix(s.out_c), ix(s.in));
        Eigen::Map<const Eigen::RowVectorXf> bias(x.data() + s.offset + s.weights, ix(s.biases));
        map y(out, ix(b), ix(s.out_c));
        multiply(y, const_map(in, ix(b), ix(s.in)), w.transpose(), 3 * l);
        y.rowwise() += bias;
        break;
      }
      case kind::conv: {
        im2col(s, in, cols_[l].data(), b);
        const_map w(x.data() + s.offset, ix(s.out_c), ix(s.fan_in));
        Eigen::Map<const Eigen::RowVectorXf> bias(x.data() + s.offset + s.weights, ix(s.biases));
        map y(out, ix(b * s.positions), ix(s.out_c));
        multiply(y, const_map(cols_[l].data(), ix(b * s.positions), ix(s.fan_in)), w.transpose(), 3 * l);
        y.rowwise() += bias;
        break;
      }
      case kind::pool: {
        std::int32_t* arg = argmax_[l].data();
        for (std::size_t k = 0; k < b; ++k) {
          const float* src = in + k * s.in;
          for (std::size_t oy = 0; oy < s.out_h; ++oy)
            for (std::size_t ox = 0; ox < s.out_w; ++ox)
              for (std::size_t c = 0; c < s.out_c; ++c) {
                std::size_t best = ((oy * s.pool) * s.in_w + ox * s.pool) * s.in_c + c;
                for (std::size_t dy = 0; dy < s.pool; ++dy)
                  for (std::size_t dx = 0; dx < s.pool; ++dx) {
                    const std::size_t at = ((oy * s.pool + dy) * s.in_w + ox * s.pool + dx) * s.in_c + c;
                    if (src[at] > src[best]) best = at;
                  }
                const std::size_t o = k * s.out + (oy * s.out_w + ox) * s.out_c + c;
                out[o] = src[best];
                arg[o] = static_cast<std::int32_t>(best);
              }
        }
        break;
      }
      case kind::relu:
        for (std::size_t i = 0; i < b * s.in; ++i) out[i] = std::max(in[i], 0.0f);
        break;
    }
  }

  // Patches of every output pixel of every sample, one row each, entries ordered (ky, kx, c).
  // A patch's row ky is one contiguous run of the image row (channels last): kernel x in_c
  // floats, less what padding cuts off. It is copied by a plain loop: the CNN's runs are 3 to
  // 12 floats, where a memmove call per pixel (what std::copy_n of in_c floats became) took a
  // quarter of a training step.
  static void im2col(const stage& s, const float* in, float* cols, std::size_t b) {
    const auto pad = static_cast<std::ptrdiff_t>(s.padding);
    const auto kernel = static_cast<std::ptrdiff_t>(s.kernel);
    const auto width = static_cast<std::ptrdiff_t>(s.in_w);
    for (std::size_t k = 0; k < b; ++k) {
      const float* img = in + k * s.in;
      for (std::size_t oy = 0; oy < s.out_h; ++oy)
        for (std::size_t ox = 0; ox < s.out_w; ++ox) {
          float* dst = cols + ((k * s.out_h + oy) * s.out_w + ox) * s.fan_in;
          // The patch's columns inside the image: [first, last) of 0..kernel.
          const std::ptrdiff_t x0 = static_cast<std::ptrdiff_t>(ox) - pad;
          const std::size_t first = static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(-x0, 0, kernel));
          const std::size_t last = static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(width - x0, 0, kernel));
          for (std::size_t ky = 0; ky < s.kernel; ++ky, dst += s.kernel * s.in_c) {
            const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy + ky) - pad;
            if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(s.in_h) || first >= last) {
              for (std::size_t i = 0; i < s.kernel * s.in_c; ++i) dst[i] = 0.0f;
              continue;
            }
            const float* src = img + (static_cast<std::size_t>(iy) * s.in_w + static_cast<std::size_t>(x0 + static_cast<std::ptrdiff_t>(first))) * s.in_c;
            for (std::size_t i = 0; i < first * s.in_c; ++i) dst[i] = 0.0f;
            for (std::size_t i = 0; i < (last - first) * s.in_c; ++i) dst[first * s.in_c + i] = src[i];
            for (std::size_t i = last * s.in_c; i < s.kernel * s.in_c; ++i) dst[i] = 0.0f;
          }
        }
    }
  }

  // Adds the patch gradients back onto the input image gradient.
  static void col2im(const stage& s, const float* cols, float* in_grad, std::size_t b) {
    const auto pad = static_cast<std::ptrdiff_t>(s.padding);
    std::fill_n(in_grad, b * s.in, 0.0f);
    for (std::size_t k = 0; k < b; ++k) {
      float* img = in_grad + k * s.in;
      for (std::size_t oy = 0; oy < s.out_h; ++oy)
        for (std::size_t ox = 0; ox < s.out_w; ++ox) {
          const float* src = cols + ((k * s.out_h + oy) * s.out_w + ox) * s.fan_in;
          for (std::size_t ky = 0; ky < s.kernel; ++ky) {
            const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy + ky) - pad;
            for (std::size_t kx = 0; kx < s.kernel; ++kx, src += s.in_c) {
              const std::ptrdiff_t jx = static_cast<std::ptrdiff_t>(ox + kx) - pad;
              if (iy < 0 || jx < 0 || iy >= static_cast<std::ptrdiff_t>(s.in_h) ||
                  jx >= static_cast<std::ptrdiff_t>(s.in_w))
                continue;
              float* dst = img + (static_cast<std::size_t>(iy) * s.in_w + static_cast<std::size_t>(jx)) * s.in_c;
              for (std::size_t c = 0; c < s.in_c; ++c) dst[c] += src[c];
            }
          }
        }
    }
  }

  // Forward, loss, and the backward pass down to the lowest layer whose parameters meet `r`;
  // writes the gradient of every layer meeting `r` into `grad` at the parameters' offsets.
  float run(std::span<const float> x, batch_view batch, float* grad, param_range r) {
    const std::size_t b = batch.size();
    const forward_result fr = forward(x, batch, *train_);
    std::size_t lowest = stages_.size();
    for (std::size_t l = 0; l < stages_.size(); ++l) {
      const auto& s = stages_[l];
      if (s.weights > 0 && s.offset < r.end && s.offset + s.weights + s.biases > r.begin) {
        lowest = l;
        break;
      }
    }
    // dLoss/dlogits = (p - onehot(y)) / b, in delta_[0].
    const float inv = 1.0f / static_cast<float>(b);
    float* d = delta_[0].data();
    const float* p = acts_.back().data();
    for (std::size_t i = 0; i < b * classes_; ++i) d[i] = p[i] * inv;
    for (std::size_t k = 0; k < b; ++k) d[k * classes_ + train_->labels[batch[k]]] -= inv;

    int cur = 0;
    for (std::size_t l = stages_.size(); l-- > lowest;) {
      const stage& s = stages_[l];
      const bool needs_input_grad = l > lowest;
      float* dy = delta_[cur].data();
      float* dx = delta_[1 - cur].data();
      const float* in = acts_[l].data();
      switch (s.type) {
        case kind::dense: {
          const const_map dyv(dy, ix(b), ix(s.out_c));
          if (s.offset < r.end && s.offset + s.weights + s.biases > r.begin) {
            multiply(map(grad + s.offset, ix(s.out_c), ix(s.in)), dyv.transpose(), const_map(in, ix(b), ix(s.in)),
                     3 * l + 1);
            Eigen::Map<Eigen::RowVectorXf>(grad + s.offset + s.weights, ix(s.biases)) = dyv.colwise().sum();
          }
          if (needs_input_grad)
            multiply(map(dx, ix(b), ix(s.in)), dyv, const_map(x.data() + s.offset, ix(s.out_c), ix(s.in)), 3 * l + 2);
          break;
        }
        case kind::conv: {
          const const_map dyv(dy, ix(b * s.positions), ix(s.out_c));
          if (s.offset < r.end && s.offset + s.weights + s.biases > r.begin) {
            multiply(map(grad + s.offset, ix(s.out_c), ix(s.fan_in)), dyv.transpose(),
                     const_map(cols_[l].data(), ix(b * s.positions), ix(s.fan_in)), 3 * l + 1);
            Eigen::Map<Eigen::RowVectorXf>(grad + s.offset + s.weights, ix(s.biases)) = dyv.colwise().sum();
          }
          if (needs_input_grad) {
            // The patch gradients reuse the im2col buffer, which this layer no longer needs.
            multiply(map(cols_[l].data(), ix(b * s.positions), ix(s.fan_in)), dyv,
                     const_map(x.data() + s.offset, ix(s.out_c), ix(s.fan_in)), 3 * l + 2);
            col2im(s, cols_[l].data(), dx, b);
          }
          break;
        }
        case kind::pool:
          if (needs_input_grad) {
            std::fill_n(dx, b * s.in, 0.0f);
            const std::int32_t* arg = argmax_[l].data();
            for (std::size_t k = 0; k < b; ++k)
              for (std::size_t o = 0; o < s.out; ++o)
                dx[k * s.in + static_cast<std::size_t>(arg[k * s.out + o])] += dy[k * s.out + o];
          }
          break;
        case kind::relu:
          if (needs_input_grad) {
            const float* y = acts_[l + 1].data();
            for (std::size_t i = 0; i < b * s.in; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
          }
          break;
      }
      cur = 1 - cur;
    }
    return static_cast<float>(fr.loss_sum) * inv;
  }

  std::string label_;
  std::shared_ptr<const data::image_set> train_;
  std::shared_ptr<const data::image_set> test_;
  std::vector<stage> stages_;
  std::size_t dimension_ = 0;
  std::size_t classes_ = 10;

  // Per-copy scratch space (each worker owns a copy).
  std::size_t capacity_ = 0;
  // Cache-line aligned, so Eigen's vector loops split every run's sums the same way.
  std::vector<detail::aligned_floats> acts_;     // acts_[l]: input of stage l, acts_.back(): probabilities
  std::vector<detail::aligned_floats> cols_;     // im2col matrices of the conv stages
  std::vector<std::vector<std::int32_t>> argmax_;  // max-pool choices
  detail::aligned_floats delta_[2];              // back-propagated gradients, ping-pong
  detail::aligned_floats scratch_grad_;          // full-size gradient for block steps
  product_buffers buffers_;                      // the products' packing buffers

  // evaluate()'s network, kept from call to call: a fresh one allocated and zeroed its buffers
  // at every evaluation (batches of 500: 1.8 MB for the MLP), which 4 in-process nodes paid in
  // page faults and memset, a quarter of their CPU time. Copies start without one.
  struct kept_evaluator {
    kept_evaluator() = default;
    kept_evaluator(const kept_evaluator&) noexcept {}
    kept_evaluator& operator=(const kept_evaluator&) noexcept {
      net.reset();  // it copied the stages of the network assigned over
      return *this;
    }
    std::mutex busy;
    std::unique_ptr<basic_network> net;
  };
  mutable kept_evaluator evaluator_;
};

/// A classifier over images (see basic_network).
using network = basic_network<>;

/// A multilayer perceptron: `hidden` fully connected ReLU layers, then one to the classes.
inline network make_mlp(std::shared_ptr<const data::image_set> train, std::shared_ptr<const data::image_set> test,
                        const std::vector<std::size_t>& hidden = {128}) {
  std::vector<layer> stack;
  for (std::size_t units : hidden) {
    stack.emplace_back(layers::dense{units});
    stack.emplace_back(layers::relu{});
  }
  stack.emplace_back(layers::dense{train->classes});
  std::string label = "mlp";
  for (std::size_t units : hidden) label.append("-").append(std::to_string(units));  // not "-" + ...: GCC 12 warns falsely
  return {label, stack, std::move(train), std::move(test)};
}

/// The CNN of Leashed-SGD's code: conv 3x3 1->4, ReLU, max-pool 2, conv 3x3 4->8, ReLU,
/// max-pool 2, fully connected 200->128, ReLU, 128->classes (28 x 28 inputs).
inline network make_cnn(std::shared_ptr<const data::image_set> train, std::shared_ptr<const data::image_set> test) {
  const std::size_t classes = train->classes;
  return {"cnn",
          {layers::conv2d{4, 3, 0}, layers::relu{}, layers::max_pool{2}, layers::conv2d{8, 3, 0}, layers::relu{},
           layers::max_pool{2}, layers::dense{128}, layers::relu{}, layers::dense{classes}},
          std::move(train), std::move(test)};
}

/// LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling: conv 5x5 ->6 (padding 2), pool 2,
/// conv 5x5 ->16, pool 2, fully connected 400->120->84->classes.
inline network make_lenet5(std::shared_ptr<const data::image_set> train,
                           std::shared_ptr<const data::image_set> test) {
  const std::size_t classes = train->classes;
  return {"lenet5",
          {layers::conv2d{6, 5, 2}, layers::relu{}, layers::max_pool{2}, layers::conv2d{16, 5, 0}, layers::relu{},
           layers::max_pool{2}, layers::dense{120}, layers::relu{}, layers::dense{84}, layers::relu{},
           layers::dense{classes}},
          std::move(train), std::move(test)};
}

}  // namespace asgd::inline v0::problems
