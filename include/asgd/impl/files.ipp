#pragma once
// The definitions of <asgd/detail/files.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/files.hpp>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <system_error>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace asgd::inline v0::detail {

// stat(2)'s file type of `path` (S_IFDIR, S_IFREG, ...), or 0 where it cannot be read.
inline ::mode_t file_type_of(const std::string& path) {
  struct ::stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & S_IFMT) : 0;
}

ASGD_DECL void check_writable(const std::string& path, std::string_view what) {
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("asgd: cannot write " + std::string(what) + " '" + path + "': " + why);
  };
  if (path.empty()) fail("the file name is empty");
  if (file_type_of(path) == S_IFDIR) fail("it is a directory");
  const std::string dir = directory_of(path);
  const ::mode_t dir_type = file_type_of(dir);
  if (dir_type != S_IFDIR) {
    fail(dir_type != 0 ? "'" + dir + "' is not a directory" : "the directory '" + dir + "' does not exist");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) fail("the directory '" + dir + "': " + std::strerror(errno));
}

ASGD_DECL std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "host";
  return buf;
}

ASGD_DECL void remove_orphaned_temporaries(const std::string& path, const std::string& host) {
  const std::string prefix = file_name_of(path) + ".tmp." + host + ".";
  const std::string dir = directory_of(path);
  const std::unique_ptr<::DIR, int (*)(::DIR*)> listing(::opendir(dir.c_str()), &::closedir);
  if (!listing) return;
  while (const ::dirent* entry = ::readdir(listing.get())) {
    const std::string_view name = entry->d_name;
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string_view digits = name.substr(prefix.size());
    long pid = 0;
    const auto [end_of_number, err] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (err != std::errc{} || end_of_number != digits.data() + digits.size() || pid <= 0) continue;
    if (pid == ::getpid()) continue;
    if (::kill(static_cast<::pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    (void)::unlink((dir + "/" + std::string(name)).c_str());
  }
}

ASGD_DECL void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::string host = host_name();
  remove_orphaned_temporaries(path, host);
  const std::string tmp = path + ".tmp." + host + "." + std::to_string(::getpid());
  auto fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    (void)::unlink(tmp.c_str());
    throw std::runtime_error("asgd: cannot write " + path + ": " + what + ": " + reason);
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
