// Reading Flax checkpoints (flax_model.msgpack, as Transformers' save_pretrained writes them with
// flax.serialization.to_bytes) as a WeightSource: PyTorch names and layouts, values as float.
//
// The format: one msgpack map tree, nested by module path ("beit" > "encoder" > "layer" > "0" >
// ...). Every leaf is a msgpack ext of type 1 whose payload is itself msgpack:
// [shape (array of ints), dtype name (str: "float32", "float16", "bfloat16", ...), C-order
// little-endian bytes (bin)].
//
// Contract:
// - Open memory-maps the file (FromBytes takes the bytes from memory; `name` stands for the path
//   in messages) and validates the whole tree before returning: every length lies within the
//   remaining bytes, the top level is a map, maps nest at most kMaxDepth deep, keys are strings,
//   every value is a map or an ext-1 leaf, every leaf's payload is exactly [shape, known dtype,
//   bin] whose byte size equals the shape's element count times the dtype's size, no bytes trail
//   the tree or a payload, no two leaves map to one name. Any violation is a ModelError naming
//   the file, the byte offset and the Flax path at fault (and the PyTorch name when two leaves
//   collide). Nothing is read outside the bytes afterwards.
// - Names follow Transformers' load_flax_weights_in_pytorch_model (modeling_flax_pytorch_utils.py):
//   the path is joined with "."; a leaf named `kernel` becomes `weight`, transposed from HWIO to
//   OIHW if it has 4 dimensions (Conv) and with its axes reversed otherwise (Dense: [in, out] ->
//   [out, in]); `scale` and `embedding` become `weight` (LayerNorm, Embed); `mean` and `var`
//   become `running_mean` and `running_var` (BatchNorm: Transformers matches these two as
//   substrings of the last name; here only whole names, so no other parameter is renamed by
//   accident); a top level holding "batch_stats" (models with BatchNorm write {"params": ...,
//   "batch_stats": ...}) loses that first level. Every other name (cls_token, mask_token,
//   position_embeddings, lambda_1, relative_position_bias_table, bias) is kept, and so is the
//   "beit" prefix of head models: Checkpoint resolves it as for safetensors.
// - Limits, far above any BEiT checkpoint (which nests 8 maps deep and holds a few hundred
//   tensors of rank <= 4), so hostile input cannot make parsing recurse deeply or hold more
//   than about 25 MB of names: kMaxDepth nested maps, kMaxNameBytes per Flax path, kMaxTensors
//   leaves, kMaxRank dimensions. Nothing is allocated from a declared count or length before it
//   is checked against the bytes that remain; tensor bytes are never copied while parsing.
// - Flax's chunked arrays (one array over 1 GiB split into a "__msgpack_chunked_array__" map) are
//   refused with a message saying so: no BEiT parameter comes near that size.
// - ReadFloat converts float32, float16, bfloat16 and float64 storage (other dtypes, e.g. int32,
//   are indexed but refused there) and applies the transposition; Release and the rest behave as
//   WeightSource says.
//
// Why a msgpack reader of our own and not Debian's msgpack-c: Flax writes a small subset (maps,
// str, bin, ext, arrays of ints), which this reads in one bounds-checked pass over the mapping
// without building an object tree or copying tensor bytes. Debian 12's libmsgpack-dev depends on
// libmsgpack-cxx-dev, which depends on libboost-dev (about 140 MB of headers) for the build, and
// its general unpacker sizes its object arrays from the declared counts unless every unpack_limit
// is set by hand; it would add nothing to the runtime image (header-only), but neither does this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/io/safetensors.h"  // DType
#include "model/tensor.h"
#include "model/io/weight_source.h"

namespace beit {

class FileBytes;

class FlaxCheckpointFile : public WeightSource {
 public:
  static constexpr int kMaxDepth = 32;
  static constexpr size_t kMaxNameBytes = 512;
  static constexpr size_t kMaxTensors = 1 << 14;
  static constexpr size_t kMaxRank = 8;

  static FlaxCheckpointFile Open(const std::string& path);
  static FlaxCheckpointFile FromBytes(const std::string& name, std::vector<uint8_t> bytes);

  const std::string& path() const override { return path_; }
  std::vector<std::string> Names() const override;
  bool Has(const std::string& name) const override;
  Shape ShapeOf(const std::string& name) const override;
  Tensor ReadFloat(const std::string& name) const override;
  void Release(const std::string& name) const override;

  // Where a PyTorch name came from ("beit/encoder/layer/0/output/dense/kernel"), for messages.
  std::string FlaxPathOf(const std::string& name) const;

 private:
  struct Leaf {
    std::string name;         // PyTorch name
    std::string flax_path;    // "/"-joined, as stored
    DType dtype;
    Shape stored_shape;       // as Flax has it
    Shape shape;              // as PyTorch has it: shape[k] = stored_shape[perm[k]]
    std::vector<size_t> perm;  // empty when the layouts agree
    size_t offset = 0;        // of the raw bytes within the file
    size_t bytes = 0;
  };
  static FlaxCheckpointFile Parse(const std::string& path, std::shared_ptr<const FileBytes> bytes);
  const Leaf& Find(const std::string& name) const;

  std::string path_;
  std::shared_ptr<const FileBytes> bytes_;
  std::vector<Leaf> leaves_;  // file order
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace beit
