// Compile-time conformance: every shipped policy models its concept, every reference problem
// has the capabilities its docs claim, and the trainer sorts arguments into slots in any order.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <type_traits>

namespace a = asgd;

static_assert(a::update_rule<a::update::sgd>);
static_assert(a::update_rule<a::update::momentum>);
static_assert(a::update_rule<a::update::nesterov>);

static_assert(a::block_selector<a::select::full>);
static_assert(a::block_selector<a::select::partitioned>);
static_assert(a::block_selector<a::select::random_from_owned>);
static_assert(a::block_selector<a::select::random_block>);
static_assert(a::block_selector<a::select::round_robin>);
static_assert(a::block_selector<a::select::alternate_full_partial>);

static_assert(a::consistency_mode<a::consistency::sequential>);
static_assert(a::consistency_mode<a::consistency::synchronous>);
static_assert(a::consistency_mode<a::consistency::locked>);
static_assert(a::consistency_mode<a::consistency::hogwild>);
static_assert(a::consistency_mode<a::consistency::atomic_add>);
static_assert(a::consistency_mode<a::consistency::leashed>);
static_assert(a::consistency_mode<a::consistency::bounded_staleness<0>>);
static_assert(a::consistency_mode<a::consistency::bounded_staleness<8>>);
static_assert(a::consistency_mode<a::consistency::replicas>);

static_assert(a::averaging_topology<a::topology::none>);
static_assert(a::averaging_topology<a::topology::all_reduce>);
static_assert(a::averaging_topology<a::topology::ring>);
static_assert(a::averaging_topology<a::topology::torus>);
static_assert(a::averaging_topology<a::topology::exponential>);
static_assert(a::averaging_topology<a::topology::random_pairs>);
static_assert(a::averaging_topology<a::topology::federated>);
static_assert(a::communication_transport<a::transport::in_process>);
static_assert(a::quantizer<a::quantize::identity>);
static_assert(a::quantizer<a::quantize::fp16>);
static_assert(a::quantizer<a::quantize::bf16>);
static_assert(a::quantizer<a::quantize::qsgd<8>>);
static_assert(a::quantizer<a::quantize::qsgd<2>>);
static_assert(a::quantizer<a::quantize::lattice>);

// Every shipped mode can be a node's (mix an average into its model).
static_assert(a::consistency_mode_can_mix<a::consistency::sequential>);
static_assert(a::consistency_mode_can_mix<a::consistency::synchronous>);
static_assert(a::consistency_mode_can_mix<a::consistency::locked>);
static_assert(a::consistency_mode_can_mix<a::consistency::hogwild>);
static_assert(a::consistency_mode_can_mix<a::consistency::atomic_add>);
static_assert(a::consistency_mode_can_mix<a::consistency::leashed>);
static_assert(a::consistency_mode_can_mix<a::consistency::bounded_staleness<2>>);
static_assert(a::consistency_mode_can_mix<a::consistency::replicas>);

// Kinds do not overlap: a policy models exactly one concept.
static_assert(!a::update_rule<a::select::full> && !a::block_selector<a::update::sgd>);
static_assert(!a::consistency_mode<a::update::sgd> && !a::quantizer<a::topology::none>);

// Reference problems and their optional capabilities.
using ls = a::problems::least_squares;
using lr = a::problems::logistic_regression;
using sls = a::problems::sparse_least_squares;
using slr = a::problems::sparse_logistic_regression;
using smx = a::problems::softmax_regression;
static_assert(a::problem<ls> && a::problem<lr> && a::problem<sls> && a::problem<slr> && a::problem<smx>);
static_assert(!a::sparse_problem<ls> && !a::sparse_problem<lr> && !a::sparse_problem<smx>);
static_assert(a::sparse_problem<sls> && a::sparse_problem<slr>);
static_assert(a::block_gradient_problem<ls> && a::block_gradient_problem<sls> && a::block_gradient_problem<smx>);
static_assert(a::layered_problem<smx> && !a::layered_problem<ls>);
static_assert(a::evaluable_problem<ls> && a::evaluable_problem<slr> && a::evaluable_problem<smx>);
static_assert(a::problem<asgd_test::equal_coordinates> && !a::evaluable_problem<asgd_test::equal_coordinates>);

// Slots are filled by tag in any order; missing slots take the documented defaults.
using t1 = a::trainer<ls, a::consistency::leashed, a::update::momentum, a::select::round_robin>;
using t2 = a::trainer<ls, a::select::round_robin, a::update::momentum, a::consistency::leashed>;
static_assert(std::is_same_v<t1::update_rule_type, t2::update_rule_type>);
static_assert(std::is_same_v<t1::consistency_type, a::consistency::leashed>);
static_assert(std::is_same_v<t2::block_selector_type, a::select::round_robin>);
using t0 = a::trainer<ls>;
static_assert(std::is_same_v<t0::update_rule_type, a::update::sgd>);
static_assert(std::is_same_v<t0::block_selector_type, a::select::full>);
static_assert(std::is_same_v<t0::consistency_type, a::consistency::hogwild>);
static_assert(std::is_same_v<t0::topology_type, a::topology::none>);
static_assert(std::is_same_v<t0::transport_type, a::transport::in_process>);
static_assert(std::is_same_v<t0::quantizer_type, a::quantize::identity>);
using t3 = a::trainer<ls, a::quantize::identity, a::transport::in_process, a::topology::none, a::update::nesterov>;
static_assert(std::is_same_v<t3::update_rule_type, a::update::nesterov>);

TEST_SUITE("conformance") {
  TEST_CASE("policies print their knobs") {
    std::ostringstream os;
    os << a::update::momentum{.mu = 0.5f, .weight_decay = 0.25f} << ' ' << a::consistency::leashed{.persistence = 3};
    CHECK(os.str() == "momentum{.mu = 0.5, .weight_decay = 0.25} leashed{.persistence = 3, .check_concurrent_updates = false}");
  }
}
