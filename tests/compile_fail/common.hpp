#pragma once
// What the compile-fail tests include, precompiled once for all of them (CMakeLists.txt).

#include "tiny_problem.hpp"

#include <asgd/consistency/hogwild.hpp>
#include <asgd/consistency/locked.hpp>
#include <asgd/trainer.hpp>
#include <asgd/update/momentum.hpp>
#include <asgd/update/sgd.hpp>
