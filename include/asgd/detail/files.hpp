#pragma once
// Internal: writing a file so that readers see the old content or the new one, never half, and
// no temporary file outlives the process that wrote it.

#include <asgd/detail/config.hpp>
#include <asgd/version.hpp>

#include <string>
#include <string_view>

// File names are std::string, and the functions below use POSIX calls, not <filesystem>: that
// header (with the <locale> and <codecvt> it includes) cost every trainer's translation unit
// about 0.25 s of compile time. A std::filesystem::path converts to std::string implicitly on POSIX.
namespace asgd::inline v0::detail {

/// The directory that holds `path` ("." for a bare file name, "/" for a file in the root).
inline std::string directory_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  const std::size_t end = path.find_last_not_of('/', slash);
  return end == std::string::npos ? "/" : path.substr(0, end + 1);
}

/// The last component of `path` (after its last '/').
inline std::string file_name_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Throws std::runtime_error "asgd: cannot write <what> <path>: <why>" unless `path` names a file
/// that could be written: not empty, not a directory, in an existing directory that this process
/// may write. Checked before a run, so a bad output path fails in a second, not after the run.
ASGD_DECL void check_writable(const std::string& path, std::string_view what);

/// The host name, as temporary file names carry it (a shared file system sees several hosts).
ASGD_DECL std::string host_name();

/// Removes the temporary files that write_file_atomically left beside `path` in processes of
/// host `host` (this one) that no longer exist (killed while writing); those of live processes
/// and of other hosts stay. Best effort: a file that cannot be removed is left alone.
ASGD_DECL void remove_orphaned_temporaries(const std::string& path, const std::string& host);

/// Writes `bytes` to a temporary file beside `path` (`<name>.tmp.<host>.<pid>`), flushes it to
/// disk (fsync), renames it over `path` and flushes the directory, so the new name survives a
/// crash too. On any failure the temporary file is removed, `path` is untouched, and a
/// std::runtime_error names the file and the failing call. Temporaries that killed processes of
/// this host left beside `path` are removed first.
ASGD_DECL void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/files.ipp>
#endif
