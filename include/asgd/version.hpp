#pragma once
/// @file
/// The single source of asgd's version: CMakeLists.txt reads the three macros below.

#define ASGD_VERSION_MAJOR 0
#define ASGD_VERSION_MINOR 2
#define ASGD_VERSION_PATCH 0

/// One integer for preprocessor comparisons: major * 10000 + minor * 100 + patch.
#define ASGD_VERSION (ASGD_VERSION_MAJOR * 10000 + ASGD_VERSION_MINOR * 100 + ASGD_VERSION_PATCH)

#define ASGD_DETAIL_STRINGIFY_(x) #x
#define ASGD_DETAIL_STRINGIFY(x) ASGD_DETAIL_STRINGIFY_(x)

#include <string_view>

// Everything public lives in the inline namespace asgd::v0, so two asgd versions compiled into
// different translation units of one program cannot silently merge their templates (ODR).
namespace asgd::inline v0 {

/// The version as "major.minor.patch".
inline constexpr std::string_view version_string =
    ASGD_DETAIL_STRINGIFY(ASGD_VERSION_MAJOR) "." ASGD_DETAIL_STRINGIFY(
        ASGD_VERSION_MINOR) "." ASGD_DETAIL_STRINGIFY(ASGD_VERSION_PATCH);

}  // namespace asgd::inline v0
