#pragma once
/// @file
/// Include in exactly one source file of a program that defines ASGD_SEPARATE_COMPILATION in
/// every translation unit: that file then compiles, once, the library's functions that are not
/// templates, which header-only use compiles again in every translation unit
/// (<asgd/detail/config.hpp>).

#if !defined(ASGD_SEPARATE_COMPILATION)
#error "<asgd/src.hpp> compiles asgd's non-template functions for ASGD_SEPARATE_COMPILATION: define it in every translation unit of the program (e.g. target_compile_definitions(app PRIVATE ASGD_SEPARATE_COMPILATION)), or do not include this header"
#endif

#include <asgd/impl/calibrate.ipp>
#include <asgd/impl/checkpoint.ipp>
#include <asgd/impl/cost_model.ipp>
#include <asgd/impl/crc32.ipp>
#include <asgd/impl/crew.ipp>
#include <asgd/impl/event_log.ipp>
#include <asgd/impl/files.ipp>
#include <asgd/impl/in_process.ipp>
#include <asgd/impl/run_plan.ipp>
#include <asgd/impl/run_state.ipp>
#include <asgd/impl/sampler.ipp>
#include <asgd/impl/settings.ipp>
#include <asgd/impl/shards.ipp>
#include <asgd/impl/threads.ipp>
#include <asgd/impl/validate.ipp>
#include <asgd/impl/worker_stats.ipp>
