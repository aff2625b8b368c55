#include "model/io/zip_directory.h"

#include <algorithm>
#include <cstring>

#include "model/io/byte_fields.h"
#include "model/model_error.h"

namespace beit {
namespace {

constexpr uint32_t kCentralHeader = 0x02014b50, kEndRecord = 0x06054b50, kZip64EndRecord = 0x06064b50,
                   kZip64Locator = 0x07064b50;

}  // namespace

std::vector<ZipEntry> ReadZipDirectory(const std::string& path, const uint8_t* bytes, uint64_t size) {
  // The end record is the last 22 bytes plus a comment of at most 64 KiB.
  uint64_t end = size;  // offset of the end record, once found
  for (uint64_t pos = size >= 22 ? size - 22 : size; size >= 22; --pos) {
    if (Le32(bytes + pos) == kEndRecord && pos + 22 + Le16(bytes + pos + 20) == size) {
      end = pos;
      break;
    }
    if (pos == 0 || size - pos >= 22 + 0xffff) break;
  }
  if (end == size) throw ModelError(path + ": zip archive without an end-of-central-directory record (truncated?)");
  uint64_t count = Le16(bytes + end + 10);
  uint64_t dir_size = Le32(bytes + end + 12);
  uint64_t dir_offset = Le32(bytes + end + 16);
  uint64_t dir_limit = end;  // the central directory ends before the end records
  if (end >= 20 && Le32(bytes + end - 20) == kZip64Locator) {
    const uint64_t record = Le64(bytes + end - 20 + 8);
    if (record > end - 20 || end - 20 - record < 56 || Le32(bytes + record) != kZip64EndRecord) {
      throw ModelError(path + ": ZIP64 locator points to " + std::to_string(record) +
                       ", where there is no ZIP64 end record (corrupt or truncated archive)");
    }
    count = Le64(bytes + record + 32);
    dir_size = Le64(bytes + record + 40);
    dir_offset = Le64(bytes + record + 48);
    dir_limit = record;
  } else if (count == 0xffff || dir_size == 0xffffffff || dir_offset == 0xffffffff) {
    throw ModelError(path + ": zip end record defers to a ZIP64 record that is missing");
  }
  if (dir_offset > dir_limit || dir_size > dir_limit - dir_offset) {
    throw ModelError(path + ": central directory (" + std::to_string(dir_size) + " bytes at " +
                     std::to_string(dir_offset) + ") lies outside the file");
  }
  if (count > dir_size / 46) {
    throw ModelError(path + ": zip says " + std::to_string(count) + " entries, more than its " +
                     std::to_string(dir_size) + "-byte central directory can hold");
  }

  std::vector<ZipEntry> entries;
  entries.reserve(static_cast<size_t>(count));
  const uint64_t dir_end = dir_offset + dir_size;
  uint64_t p = dir_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (dir_end - p < 46 || Le32(bytes + p) != kCentralHeader) {
      throw ModelError(path + ": central directory entry " + std::to_string(i) + " is corrupt");
    }
    const uint8_t* h = bytes + p;
    const uint16_t flags = Le16(h + 8), method = Le16(h + 10);
    uint64_t compressed = Le32(h + 20), size_field = Le32(h + 24), header = Le32(h + 42);
    const uint64_t name_len = Le16(h + 28), extra_len = Le16(h + 30), comment_len = Le16(h + 32);
    if (dir_end - p - 46 < name_len + extra_len + comment_len) {
      throw ModelError(path + ": central directory entry " + std::to_string(i) + " runs past the directory");
    }
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(h + 46), static_cast<size_t>(name_len));
    const std::string where = path + ": zip entry '" + Printable(e.name) + "'";
    // ZIP64 extra field: 8-byte values for the fields saturated at 0xffffffff, in this order.
    for (const uint8_t *x = h + 46 + name_len, *x_end = x + extra_len; x_end - x >= 4;) {
      const uint16_t id = Le16(x), len = Le16(x + 2);
      if (static_cast<uint64_t>(x_end - x - 4) < len) throw ModelError(where + ": extra field runs past its entry");
      if (id == 0x0001) {
        const uint8_t* f = x + 4;
        const uint8_t* f_end = f + len;
        for (uint64_t* field : {&size_field, &compressed, &header}) {
          if (*field != 0xffffffff) continue;
          if (f_end - f < 8) throw ModelError(where + ": ZIP64 extra field is too short");
          *field = Le64(f);
          f += 8;
        }
      }
      x += 4 + len;
    }
    if (flags & 1) throw ModelError(where + " is encrypted");
    if (method != 0) {
      throw ModelError(where + " is compressed (method " + std::to_string(method) +
                       "); torch.save writes stored entries only");
    }
    if (compressed != size_field) {
      throw ModelError(where + ": stored entry whose compressed size (" + std::to_string(compressed) +
                       ") differs from its size (" + std::to_string(size_field) + ")");
    }
    // The local header repeats the name; its extra field pads torch's records to 64 bytes.
    if (header > dir_offset || dir_offset - header < 30 || Le32(bytes + header) != kLocalHeader) {
      throw ModelError(where + ": local header at " + std::to_string(header) +
                       " lies outside the file's data area or is corrupt");
    }
    const uint64_t local_name = Le16(bytes + header + 26), local_extra = Le16(bytes + header + 28);
    e.header = header;
    e.data = header + 30 + local_name + local_extra;
    e.size = size_field;
    if (e.data > dir_offset || e.size > dir_offset - e.data) {
      throw ModelError(where + ": contents (" + std::to_string(e.size) + " bytes at " + std::to_string(e.data) +
                       ") lie outside the file's data area (truncated or corrupt archive)");
    }
    if (local_name != name_len || std::memcmp(bytes + header + 30, e.name.data(), e.name.size()) != 0) {
      throw ModelError(where + ": local header names another entry");
    }
    entries.push_back(std::move(e));
    p += 46 + name_len + extra_len + comment_len;
  }
  // Records that share bytes would mean a corrupt or hostile archive.
  std::vector<const ZipEntry*> sorted;
  for (const ZipEntry& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->header < b->header; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->header < sorted[i - 1]->data + sorted[i - 1]->size) {
      throw ModelError(path + ": zip entries '" + Printable(sorted[i - 1]->name) + "' and '" +
                       Printable(sorted[i]->name) + "' overlap");
    }
  }
  return entries;
}

}  // namespace beit
