#pragma once
// The definitions of <asgd/detail/files.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/files.hpp>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace asgd::inline v0::detail {

ASGD_DECL void check_writable(const std::filesystem::path& path, std::string_view what) {
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("asgd: cannot write " + std::string(what) + " '" + path.string() + "': " + why);
  };
  if (path.empty()) fail("the file name is empty");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("it is a directory");
  const std::filesystem::path dir = directory_of(path);
  if (!std::filesystem::is_directory(dir, ec)) {
    fail(std::filesystem::exists(dir, ec) ? "'" + dir.string() + "' is not a directory"
                                          : "the directory '" + dir.string() + "' does not exist");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) fail("the directory '" + dir.string() + "': " + std::strerror(errno));
}

ASGD_DECL std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "host";
  return buf;
}

ASGD_DECL void remove_orphaned_temporaries(const std::filesystem::path& path, const std::string& host) {
  const std::string prefix = path.filename().string() + ".tmp." + host + ".";
  std::error_code ec;
  for (std::filesystem::directory_iterator it(directory_of(path), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string_view digits = std::string_view(name).substr(prefix.size());
    long pid = 0;
    const auto [end_of_number, err] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (err != std::errc{} || end_of_number != digits.data() + digits.size() || pid <= 0) continue;
    if (pid == ::getpid()) continue;
    if (::kill(static_cast<::pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    std::error_code ignored;
    std::filesystem::remove(it->path(), ignored);
  }
}

ASGD_DECL void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  const std::string host = host_name();
  remove_orphaned_temporaries(path, host);
  const std::filesystem::path tmp = path.string() + ".tmp." + host + "." + std::to_string(::getpid());
  auto fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error("asgd: cannot write " + path.string() + ": " + what + ": " + reason);
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("open");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ::ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      ::close(fd);
      fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("fsync");
  }
  if (::close(fd) != 0) fail("close");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("rename");
  // The rename is durable once the directory is flushed. The new file is in place by now, so
  // a directory that cannot be opened or flushed (some file systems refuse) is not an error.
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}

}  // namespace asgd::inline v0::detail
