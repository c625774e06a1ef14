#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace kiln {

// mapFile(path) -> ArrayBuffer over the whole file, read-only (writes fault).
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "mapFile(path): path must be a string");
  std::string path = info[0].As<Napi::String>();
  // O_NONBLOCK: opening a FIFO (or a device that waits) for reading would block until a writer
  // came, hanging the caller; such a file is refused below as not regular. No effect on mmap.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Napi::Error::New(env, path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    throw Napi::Error::New(env, path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    throw Napi::Error::New(env, path + ": not a regular file");
  }
  size_t size = (size_t)st.st_size;
  if (size == 0) {
    close(fd);
    return Napi::ArrayBuffer::New(env, 0);
  }
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED) throw Napi::Error::New(env, path + ": cannot map: " + std::strerror(e));
  // Weights are read front to back once per token: ask for read-ahead.
  madvise(p, size, MADV_WILLNEED);
  auto ab = Napi::ArrayBuffer::New(
      env, p, size, [](Napi::Env, void* data, size_t* len) { munmap(data, *len); delete len; }, new size_t(size));
  return ab;
}

}  // namespace kiln
