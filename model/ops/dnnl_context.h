// Process-wide oneDNN CPU engine and a small per-operator primitive cache.
//
// Contract: CpuEngine() is created on first use and lives for the process. PrimitiveCache builds a
// value once per key (typically an input shape) and calling thread, under a mutex, and returns a
// stable reference, so an operator creates each primitive once per thread that runs it and reuses
// it for every later call with that shape on that thread. Why per thread: oneDNN's library-managed
// scratchpad (Debian's oneDNN is built with ONEDNN_ENABLE_CONCURRENT_EXEC=OFF) is a buffer of the
// thread that created the primitive; a primitive run from another thread uses that buffer too, so
// two threads running it at once (a server's model instances, compute_executor.h) corrupt each
// other's results. One primitive per thread keeps each run on its own thread's buffer; weights are
// not part of a primitive and stay shared.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

#include <oneapi/dnnl/dnnl.hpp>

namespace beit {

dnnl::engine& CpuEngine();

// This thread's number, never reused in the process (std::thread::id values are reused once a
// thread has ended: a later thread would be handed a primitive whose scratchpad died with it).
inline uint64_t CurrentThreadNumber() {
  static std::atomic<uint64_t> next{0};
  thread_local const uint64_t number = ++next;
  return number;
}

template <typename Key, typename Value>
class PrimitiveCache {
 public:
  PrimitiveCache() = default;
  // Movable so operators can be assigned while a model is built (never while in use).
  PrimitiveCache(PrimitiveCache&& other) noexcept : entries_(std::move(other.entries_)) {}
  PrimitiveCache& operator=(PrimitiveCache&& other) noexcept {
    entries_ = std::move(other.entries_);
    return *this;
  }

  const Value& GetOrCreate(const Key& key, const std::function<Value()>& make) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto full = std::make_pair(CurrentThreadNumber(), key);
    auto it = entries_.find(full);
    if (it == entries_.end()) it = entries_.emplace(full, std::make_unique<Value>(make())).first;
    return *it->second;
  }

 private:
  mutable std::mutex mu_;
  mutable std::map<std::pair<uint64_t, Key>, std::unique_ptr<Value>> entries_;
};

// Wraps a caller-owned buffer as a oneDNN memory object (no copy).
inline dnnl::memory Wrap(const dnnl::memory::desc& md, const void* data) {
  return dnnl::memory(md, CpuEngine(), const_cast<void*>(data));
}

}  // namespace beit
