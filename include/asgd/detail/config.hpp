#pragma once
/// @file
/// ASGD_DECL marks the library's larger functions that are not templates (the data split,
/// checkpoint files, settings checks, the in-process transport's collectives). By default asgd is
/// header-only and they are `inline`, compiled again in every translation unit that uses them.
/// A program that defines ASGD_SEPARATE_COMPILATION in every one of its translation units
/// compiles them once instead, in the one source file that includes <asgd/src.hpp>: each
/// translation unit that instantiates a trainer then compiles about a quarter less
/// (docs/getting-started.md, "Compile time"). Mixing the two modes in one program breaks the
/// one-definition rule.

#if defined(ASGD_SEPARATE_COMPILATION)
#define ASGD_DECL
#else
#define ASGD_DECL inline
#endif
