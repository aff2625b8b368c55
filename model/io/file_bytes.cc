#include "model/io/file_bytes.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "model/model_error.h"

namespace beit {

std::shared_ptr<const FileBytes> FileBytes::Map(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelError(path + ": not a regular file");
  }
  std::shared_ptr<FileBytes> file(new FileBytes());
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {  // mmap refuses a zero length
    void* addr = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      throw ModelError(path + ": mmap failed: " + std::strerror(error));
    }
    file->data_ = static_cast<const uint8_t*>(addr);
    file->mapped_ = true;
  }
  ::close(fd);
  return file;
}

std::shared_ptr<const FileBytes> FileBytes::FromMemory(std::vector<uint8_t> bytes) {
  std::shared_ptr<FileBytes> file(new FileBytes());
  file->owned_ = std::move(bytes);
  file->data_ = file->owned_.data();
  file->size_ = file->owned_.size();
  return file;
}

FileBytes::~FileBytes() {
  if (mapped_) munmap(const_cast<uint8_t*>(data_), size_);
}

void FileBytes::Release(const uint8_t* begin, size_t bytes) const {
  if (!mapped_ || bytes == 0) return;  // only file mappings hold pages to drop
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t start = reinterpret_cast<uintptr_t>(begin);
  const uintptr_t first = (start + page - 1) / page * page;
  const uintptr_t last = (start + bytes) / page * page;
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace beit
