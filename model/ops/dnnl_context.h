// Process-wide oneDNN CPU engine and a small per-operator primitive cache.
//
// Contract: CpuEngine() is created on first use and lives for the process. PrimitiveCache builds a
// value once per key (typically an input shape) under a mutex and returns a stable reference, so an
// operator creates each primitive once and reuses it for every later call with that shape.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include <oneapi/dnnl/dnnl.hpp>

namespace beit {

dnnl::engine& CpuEngine();

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
    auto it = entries_.find(key);
    if (it == entries_.end()) it = entries_.emplace(key, std::make_unique<Value>(make())).first;
    return *it->second;
  }

 private:
  mutable std::mutex mu_;
  mutable std::map<Key, std::unique_ptr<Value>> entries_;
};

// Wraps a caller-owned buffer as a oneDNN memory object (no copy).
inline dnnl::memory Wrap(const dnnl::memory::desc& md, const void* data) {
  return dnnl::memory(md, CpuEngine(), const_cast<void*>(data));
}

}  // namespace beit
