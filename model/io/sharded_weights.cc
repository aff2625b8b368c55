#include "model/io/sharded_weights.h"

#include "model/io/json_file.h"
#include "model/model_error.h"

namespace beit {

ShardedWeights::ShardedWeights(const std::string& index_path, const ShardOpener& open_shard)
    : index_path_(index_path) {
  const nlohmann::json index = ParseJsonObject(ReadTextFile(index_path), index_path);
  const auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object() || map->empty()) {
    throw ModelError(index_path + ": expected a non-empty object 'weight_map' {tensor name: shard file}");
  }
  const std::string folder = index_path.substr(0, index_path.find_last_of('/') + 1);
  std::map<std::string, size_t> shard_numbers;
  for (const auto& [name, file] : map->items()) {
    if (!file.is_string()) throw ModelError(index_path + ": weight_map['" + name + "'] is not a file name");
    const std::string shard = file.get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos ||
        shard == "." || shard == "..") {
      throw ModelError(index_path + ": weight_map['" + name + "'] names '" + shard +
                       "'; shards must be files in the index's own folder");
    }
    auto [it, added] = shard_numbers.emplace(shard, shards_.size());
    if (added) {
      try {
        shards_.push_back(open_shard(folder + shard));
      } catch (const ModelError& e) {
        throw ModelError(index_path + ": shard " + shard + " of '" + name + "': " + e.what());
      }
    }
    if (!shards_[it->second]->Has(name)) {
      throw ModelError(index_path + ": weight_map places '" + name + "' in " + shard + ", which does not hold it");
    }
    where_[name] = it->second;
    names_.push_back(name);
  }
}

const WeightSource& ShardedWeights::ShardOf(const std::string& name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) throw ModelError(index_path_ + ": no tensor '" + name + "' in weight_map");
  return *shards_[it->second];
}

Shape ShardedWeights::ShapeOf(const std::string& name) const { return ShardOf(name).ShapeOf(name); }

Tensor ShardedWeights::ReadFloat(const std::string& name) const { return ShardOf(name).ReadFloat(name); }

void ShardedWeights::Release(const std::string& name) const { ShardOf(name).Release(name); }

}  // namespace beit
