// The live model repository in one process: control modes, polling a folder, version policies,
// hostile contents, concurrent callers; the serving core underneath is the real one, on the
// bundled tiny models.
#include "server/repository/repository_manager.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace beit::serving::repository {
namespace {
namespace fs = std::filesystem;

const std::string kCls = std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool";      // 5 labels
const std::string kOtherCls = std::string(BEIT_TEST_DATA_DIR) + "/models/cls-abspos-clstoken";  // 7 labels

class RecordingListener : public RepositoryListener {
 public:
  void VersionLoaded(const std::string& model, int64_t version, const std::string&, const absl::Status& status,
                     double) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      loads.push_back(model + "/" + std::to_string(version) + (status.ok() ? " ok" : " failed"));
    }
    if (on_load) on_load();
  }
  std::function<void()> on_load;  // runs once a load returned, before the manager rescans
  void VersionUnloaded(const std::string& model, int64_t version, const std::string& reason) override {
    std::lock_guard<std::mutex> lock(mu);
    unloads.push_back(model + "/" + std::to_string(version));
    unload_reasons[model + "/" + std::to_string(version)] = reason;
  }
  std::string UnloadReason(const std::string& model_version) {
    std::lock_guard<std::mutex> lock(mu);
    return unload_reasons[model_version];
  }
  void Note(const std::string&, const std::string& note) override {
    std::lock_guard<std::mutex> lock(mu);
    notes.push_back(note);
  }
  void Changed() override {}
  bool Noted(const std::string& part) {
    std::lock_guard<std::mutex> lock(mu);
    for (const std::string& n : notes) {
      if (n.find(part) != std::string::npos) return true;
    }
    return false;
  }
  std::mutex mu;
  std::vector<std::string> loads, unloads, notes;
  std::map<std::string, std::string> unload_reasons;  // the last, per "model/version"
};

class RepositoryManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("beit-repo-manager-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    std::vector<std::string> warnings;
    models_.Load({}, BatcherOptions{}, {}, nullptr, &warnings);
  }
  void TearDown() override {
    manager_.reset();
    models_.ShutdownAll();
    fs::remove_all(root_);
  }
  void Start(ControlMode mode, std::vector<std::string> startup = {}, absl::Status* started = nullptr) {
    // A long interval: these tests poll with PollNow, one scan at a time.
    manager_ = std::make_unique<RepositoryManager>(&models_, RepositoryOptions{root_.string(), mode, 3600, startup},
                                                   &listener_);
    const absl::Status s = manager_->Start();
    if (started) *started = s;
  }
  void AddVersion(const std::string& model, int64_t version, const std::string& from = kCls) {
    const fs::path dir = root_ / model / std::to_string(version);
    fs::create_directories(dir);
    for (const char* file : {"config.json", "model.safetensors", "preprocessor_config.json"}) {
      fs::copy_file(fs::path(from) / file, dir / file, fs::copy_options::overwrite_existing);
    }
  }
  absl::Status Call(void (RepositoryManager::*method)(const std::string&, RepositoryManager::Done),
                    const std::string& name) {
    std::promise<absl::Status> done;
    (manager_.get()->*method)(name, [&](absl::Status s) { done.set_value(s); });
    return done.get_future().get();
  }
  void Poll() {
    std::promise<absl::Status> done;
    manager_->PollNow([&](absl::Status s) { done.set_value(s); });
    const absl::Status polled = done.get_future().get();
    EXPECT_TRUE(polled.ok()) << polled;
  }
  // The version that answers a Classify of `name` (0: none), after the answer came back.
  int64_t ClassifyAnswersFrom(const std::string& name, int64_t version = 0, int* labels = nullptr) {
    absl::StatusOr<std::shared_ptr<ServedModel>> model = models_.Find(name, version);
    if (!model.ok()) return 0;
    std::promise<absl::StatusOr<ClassifyOutput>> answer;
    const int size = (*model)->description().image_height;
    const absl::Status queued =
        (*model)->classify()->Submit({Tensor({1, 3, size, size}), 1, true}, Clock::time_point::max(), nullptr,
                                     [&](absl::StatusOr<ClassifyOutput> r, const BatchInfo&) { answer.set_value(r); });
    if (!queued.ok()) return 0;
    absl::StatusOr<ClassifyOutput> out = answer.get_future().get();
    if (!out.ok()) return 0;
    if (labels) *labels = static_cast<int>(out->logits.size());
    return (*model)->description().version;
  }
  VersionStatus Entry(const std::string& name, int64_t version) {
    for (const VersionStatus& v : manager_->Index()) {
      if (v.name == name && v.version == version) return v;
    }
    return {name, version, VersionState::kUnavailable, "(not in the index)"};
  }

  fs::path root_;
  ModelRepository models_;
  RecordingListener listener_;
  std::unique_ptr<RepositoryManager> manager_;
};

TEST_F(RepositoryManagerTest, ExplicitModeStartsEmptyThenLoadsServesUnloadsAndLoadsAgain) {
  AddVersion("cls", 1);
  Start(ControlMode::kExplicit);
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 0);
  EXPECT_EQ(Entry("cls", 1).state, VersionState::kUnavailable);
  EXPECT_NE(Entry("cls", 1).reason.find("not loaded"), std::string::npos) << Entry("cls", 1).reason;
  EXPECT_TRUE(manager_->RequiredReady());

  ASSERT_TRUE(Call(&RepositoryManager::Load, "cls").ok());
  EXPECT_EQ(Entry("cls", 1).state, VersionState::kReady);
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);

  ASSERT_TRUE(Call(&RepositoryManager::Unload, "cls").ok());
  absl::StatusOr<std::shared_ptr<ServedModel>> gone = models_.Find("cls");
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(gone.status().message().find("model 'cls' has no version ready"), std::string::npos) << gone.status();
  models_.WaitUntilReleased();
  EXPECT_EQ(Entry("cls", 1).state, VersionState::kUnavailable);
  EXPECT_TRUE(manager_->RequiredReady()) << "unloaded on purpose: no longer required";

  ASSERT_TRUE(Call(&RepositoryManager::Load, "cls").ok());
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);
  EXPECT_EQ(listener_.loads, (std::vector<std::string>{"cls/1 ok", "cls/1 ok"}));

  const absl::Status bad_name = Call(&RepositoryManager::Load, std::string("cls\0x", 5));
  EXPECT_EQ(bad_name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_name.message().find("'cls\\x00x' is not a model name"), std::string::npos) << bad_name;
  for (const VersionStatus& v : manager_->Index()) EXPECT_EQ(v.name, "cls") << "nothing listed for it";

  const absl::Status unknown = Call(&RepositoryManager::Load, "nope");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.message().find("has no model 'nope'"), std::string::npos) << unknown;
  EXPECT_EQ(Call(&RepositoryManager::Unload, "nope").code(), absl::StatusCode::kNotFound);
}

TEST_F(RepositoryManagerTest, ExplicitModeLoadsStartupModelsAndFailsOnAMissingOne) {
  AddVersion("a", 1);
  AddVersion("b", 1);
  Start(ControlMode::kExplicit, {"b"});
  EXPECT_EQ(ClassifyAnswersFrom("a"), 0);
  EXPECT_EQ(ClassifyAnswersFrom("b"), 1);
  manager_.reset();
  absl::Status started;
  Start(ControlMode::kExplicit, {"*"}, &started);
  EXPECT_TRUE(started.ok()) << started;
  EXPECT_EQ(ClassifyAnswersFrom("a"), 1);
  manager_.reset();
  Start(ControlMode::kExplicit, {"missing"}, &started);
  EXPECT_EQ(started.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(started.message().find("--load-model missing: "), std::string::npos) << started;
}

TEST_F(RepositoryManagerTest, NoneAndPollModesRefuseLoadAndUnloadNamingTheMode) {
  AddVersion("cls", 1);
  Start(ControlMode::kPoll);
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1) << "poll loads what is there at startup";
  absl::Status s = Call(&RepositoryManager::Load, "cls");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("the model control mode is 'poll'"), std::string::npos) << s;
  s = Call(&RepositoryManager::Unload, "cls");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  manager_.reset();
  Start(ControlMode::kNone);
  s = Call(&RepositoryManager::Unload, "cls");
  EXPECT_NE(s.message().find("'none'"), std::string::npos) << s;
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);
}

TEST_F(RepositoryManagerTest, ModelsGivenWithModelFlagCannotBeUnloadedAndShadowTheFolder) {
  std::vector<std::string> warnings;
  ModelRepository pinned;
  pinned.Load({{"cls", kCls}}, BatcherOptions{}, {}, nullptr, &warnings);
  AddVersion("cls", 4);
  RepositoryManager manager(&pinned, RepositoryOptions{root_.string(), ControlMode::kExplicit, 3600, {}}, &listener_);
  ASSERT_TRUE(manager.Start().ok());
  std::promise<absl::Status> unloaded, loaded;
  manager.Unload("cls", [&](absl::Status s) { unloaded.set_value(s); });
  absl::Status s = unloaded.get_future().get();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("given with --model"), std::string::npos) << s;
  manager.Load("cls", [&](absl::Status s) { loaded.set_value(s); });
  s = loaded.get_future().get();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pinned.ReadyVersions("cls"), (std::vector<int64_t>{1}));
  pinned.ShutdownAll();
}

TEST_F(RepositoryManagerTest, PollLoadsAVersionOnlyOnceItsFolderStaysUnchangedAndDropsRemovedOnes) {
  AddVersion("cls", 1);
  Start(ControlMode::kPoll);
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);

  // Version 2 arrives file by file: each scan sees something different, so nothing loads.
  const fs::path v2 = root_ / "cls/2";
  fs::create_directories(v2);
  fs::copy_file(fs::path(kOtherCls) / "config.json", v2 / "config.json");
  Poll();
  fs::copy_file(fs::path(kOtherCls) / "preprocessor_config.json", v2 / "preprocessor_config.json");
  Poll();
  fs::copy_file(fs::path(kOtherCls) / "model.safetensors", v2 / "model.safetensors");
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1) << "a folder still changing is not loaded";
  EXPECT_NE(Entry("cls", 2).reason.find("not loaded yet"), std::string::npos) << Entry("cls", 2).reason;
  Poll();  // unchanged for one interval: loads, and under latest 1 version 1 goes
  int labels = 0;
  EXPECT_EQ(ClassifyAnswersFrom("cls", 0, &labels), 2);
  EXPECT_EQ(labels, 7) << "version 2 is the other checkpoint";
  models_.WaitUntilReleased();
  EXPECT_EQ(Entry("cls", 1).state, VersionState::kUnavailable);
  EXPECT_EQ(models_.Find("cls", 1).status().code(), absl::StatusCode::kUnavailable);

  // Version 2 removed: version 1 is selected again, loads once stable, then 2 goes.
  fs::remove_all(v2);
  Poll();
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls", 0, &labels), 1);
  EXPECT_EQ(labels, 5);
  models_.WaitUntilReleased();
  EXPECT_EQ(listener_.UnloadReason("cls/2"), "unloaded: its version folder was removed");
  // The index keeps saying so until the next scan, or none if its memory was released before
  // this scan ended (a busy machine).
  const std::string reason = Entry("cls", 2).reason;
  EXPECT_TRUE(reason == "unloaded: its version folder was removed" || reason == "(not in the index)") << reason;
  Poll();
  EXPECT_EQ(Entry("cls", 2).reason, "(not in the index)") << "its folder is gone";

  // The whole model removed: gone at two scans in a row (not one: a swap by two renames is not a
  // removal), then unloaded, and no longer required for readiness.
  fs::rename(root_ / "cls", root_ / "cls.old");
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1) << "absent at one scan only";
  fs::rename(root_ / "cls.old", root_ / "cls");
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);
  fs::remove_all(root_ / "cls");
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 0);
  EXPECT_TRUE(manager_->RequiredReady());
  EXPECT_EQ(listener_.unloads, (std::vector<std::string>{"cls/1", "cls/2", "cls/1"}));
}

TEST_F(RepositoryManagerTest, AVersionThatChangedWhileItLoadedLoadsAgainOnceStable) {
  AddVersion("cls", 1);
  bool changed = false;
  listener_.on_load = [&] {  // a copy still going on at startup
    if (!std::exchange(changed, true)) std::ofstream(root_ / "cls/1/late-file.json") << "{}";
  };
  Start(ControlMode::kPoll);
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1) << "what loaded serves meanwhile";
  Poll();
  Poll();
  EXPECT_EQ(listener_.loads, (std::vector<std::string>{"cls/1 ok", "cls/1 ok"})) << "loaded again once stable";
  Poll();
  EXPECT_EQ(listener_.loads.size(), 2u) << "and only once";
}

TEST_F(RepositoryManagerTest, PollReloadsAChangedVersionBesideTheServingOne) {
  AddVersion("cls", 1);
  Start(ControlMode::kPoll);
  int labels = 0;
  ASSERT_EQ(ClassifyAnswersFrom("cls", 0, &labels), 1);
  EXPECT_EQ(labels, 5);
  AddVersion("cls", 1, kOtherCls);  // the same version, new contents
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls", 0, &labels), 1);
  EXPECT_EQ(labels, 5) << "not stable yet: the old contents serve";
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls", 0, &labels), 1);
  EXPECT_EQ(labels, 7) << "reloaded";
  EXPECT_EQ(listener_.loads, (std::vector<std::string>{"cls/1 ok", "cls/1 ok"}));
}

TEST_F(RepositoryManagerTest, VersionPoliciesChooseWhatServes) {
  for (int v : {1, 2, 3}) AddVersion("cls", v);
  std::ofstream(root_ / "cls/serving.json") << R"({"version_policy": {"latest": {"num_versions": 2}}})";
  AddVersion("pick", 1);
  AddVersion("pick", 2);
  AddVersion("pick", 3);
  std::ofstream(root_ / "pick/serving.json") << R"({"version_policy": {"specific": {"versions": [1, 3]}}})";
  AddVersion("every", 1);
  AddVersion("every", 2);
  std::ofstream(root_ / "every/serving.json") << R"({"version_policy": {"all": {}}, "max_batch_size": 2})";
  Start(ControlMode::kPoll);
  EXPECT_EQ(models_.ReadyVersions("cls"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(models_.ReadyVersions("pick"), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(models_.ReadyVersions("every"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*models_.Find("every"))->batching().max_batch_size, 2);
  EXPECT_NE(Entry("cls", 1).reason.find("the version policy is latest 2"), std::string::npos) << Entry("cls", 1).reason;
  EXPECT_NE(Entry("pick", 2).reason.find("specific 1, 3"), std::string::npos) << Entry("pick", 2).reason;
  // Requests by version; without one, the highest READY.
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 3);
  EXPECT_EQ(ClassifyAnswersFrom("cls", 2), 2);
  EXPECT_EQ(models_.Find("cls", 1).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(models_.Find("cls", 9).status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(models_.Find("cls", 9).status().message().find("versions ready: 2, 3"), std::string::npos);
}

TEST_F(RepositoryManagerTest, AVersionFolderGoneAtOneScanOnlyStaysLoaded) {
  AddVersion("cls", 1);
  AddVersion("cls", 2);
  std::ofstream(root_ / "cls/serving.json") << R"({"version_policy": {"all": {}}})";
  Start(ControlMode::kPoll);
  ASSERT_EQ(models_.ReadyVersions("cls"), (std::vector<int64_t>{1, 2}));
  fs::rename(root_ / "cls/1", root_ / "cls/.old-1");  // between two renames
  Poll();
  EXPECT_EQ(models_.ReadyVersions("cls"), (std::vector<int64_t>{1, 2})) << "absent at one scan only";
  fs::rename(root_ / "cls/.old-1", root_ / "cls/1");
  Poll();
  fs::remove_all(root_ / "cls/1");
  Poll();
  EXPECT_EQ(models_.ReadyVersions("cls"), (std::vector<int64_t>{1, 2}));
  Poll();
  EXPECT_EQ(models_.ReadyVersions("cls"), (std::vector<int64_t>{2})) << "gone at two scans in a row";
}

TEST_F(RepositoryManagerTest, HostileContentsGetAReasonAndTheServingVersionKeepsAnswering) {
  AddVersion("cls", 1);
  Start(ControlMode::kPoll);
  ASSERT_EQ(ClassifyAnswersFrom("cls"), 1);

  // A truncated model.safetensors as version 2.
  AddVersion("cls", 2);
  const fs::path weights = root_ / "cls/2/model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) / 2);
  Poll();
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);
  EXPECT_EQ(Entry("cls", 2).state, VersionState::kUnavailable);
  EXPECT_NE(Entry("cls", 2).reason.find("load failed: "), std::string::npos) << Entry("cls", 2).reason;
  Poll();  // not retried while its contents stay the same
  EXPECT_EQ(listener_.loads, (std::vector<std::string>{"cls/1 ok", "cls/2 failed"}));
  fs::remove_all(root_ / "cls/2");

  // A version folder that is a symlink out of the repository, and a folder name that is no number.
  const fs::path outside = root_.string() + "-outside";
  fs::create_directories(outside);
  fs::copy(kCls, outside / "v", fs::copy_options::recursive);
  fs::create_directory_symlink(outside / "v", root_ / "cls/7");
  fs::create_directories(root_ / "cls/new-version");
  Poll();
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);
  EXPECT_NE(Entry("cls", 7).reason.find("resolves outside the model repository"), std::string::npos);
  EXPECT_TRUE(listener_.Noted("new-version: not a version number"));
  fs::remove(root_ / "cls/7");
  fs::remove_all(outside);

  // A serving.json that is not JSON.
  std::ofstream(root_ / "cls/serving.json") << "{\"version_policy\": ";
  Poll();
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);
  EXPECT_TRUE(listener_.Noted("serving.json: not a JSON object"));
  fs::remove(root_ / "cls/serving.json");

  // 1,000 empty version folders: latest 1 picks version 1000, which cannot load.
  for (int v = 2; v <= 1000; ++v) fs::create_directories(root_ / "cls" / std::to_string(v));
  Poll();
  Poll();
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);
  EXPECT_NE(Entry("cls", 1000).reason.find("config.json"), std::string::npos) << Entry("cls", 1000).reason;
  EXPECT_EQ(manager_->Index().size(), 1000u);
  EXPECT_TRUE(manager_->RequiredReady());
}

TEST_F(RepositoryManagerTest, StopAnswersQueuedCallsAndLaterOnes) {
  AddVersion("cls", 1);
  // Not started: jobs queue; Stop answers them all (the server stops a manager whose startup
  // failed, with load calls that arrived during its warm-up).
  manager_ = std::make_unique<RepositoryManager>(
      &models_, RepositoryOptions{root_.string(), ControlMode::kExplicit, 3600, {}}, &listener_);
  std::vector<std::future<absl::Status>> answers;
  for (int i = 0; i < 4; ++i) {
    auto done = std::make_shared<std::promise<absl::Status>>();
    answers.push_back(done->get_future());
    manager_->Load("cls", [done](absl::Status s) { done->set_value(s); });
  }
  manager_->Stop();
  for (auto& a : answers) {
    const absl::Status s = a.get();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(s.message(), "the server is shutting down");
  }
  EXPECT_EQ(Call(&RepositoryManager::Unload, "cls").code(), absl::StatusCode::kUnavailable);
  manager_->Stop();  // idempotent
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 0);
}

TEST_F(RepositoryManagerTest, WithoutARepositoryLoadIsRefusedSayingSo) {
  manager_ = std::make_unique<RepositoryManager>(&models_, RepositoryOptions{}, &listener_);
  ASSERT_TRUE(manager_->Start().ok());
  const absl::Status s = Call(&RepositoryManager::Load, "cls");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("this server has no model repository"), std::string::npos) << s;
}

TEST_F(RepositoryManagerTest, SixteenConcurrentCallersLoadingAndUnloadingTheSameModelWhileRequestsRun) {
  AddVersion("cls", 1);
  Start(ControlMode::kExplicit);
  std::atomic<bool> stop{false};
  std::atomic<int> found{0}, computed{0};
  std::vector<std::string> request_failures;
  std::mutex mu;
  std::vector<std::thread> requesters;
  for (int r = 0; r < 4; ++r) {
    requesters.emplace_back([&] {
      while (!stop.load()) {
        absl::StatusOr<std::shared_ptr<ServedModel>> model = models_.Find("cls");
        if (!model.ok()) {  // between an unload and a load: refused before any work
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        ++found;
        // A request that found its version is answered by it, whatever happens meanwhile.
        std::promise<absl::Status> answer;
        const absl::Status queued = (*model)->classify()->Submit(
            {Tensor({1, 3, 32, 32}), 1}, Clock::time_point::max(), nullptr,
            [&](absl::StatusOr<ClassifyOutput> out, const BatchInfo&) { answer.set_value(out.status()); });
        const absl::Status s = queued.ok() ? answer.get_future().get() : queued;
        std::lock_guard<std::mutex> lock(mu);
        if (s.ok()) {
          ++computed;
        } else {
          request_failures.push_back(std::string(s.message()));
        }
      }
    });
  }
  std::vector<std::thread> callers;
  std::vector<absl::Status> answers;
  for (int i = 0; i < 16; ++i) {
    callers.emplace_back([&, i] {
      for (int round = 0; round < 3; ++round) {
        const absl::Status s = Call(i % 2 ? &RepositoryManager::Unload : &RepositoryManager::Load, "cls");
        std::lock_guard<std::mutex> lock(mu);
        answers.push_back(s);
      }
    });
  }
  for (std::thread& t : callers) t.join();
  stop = true;
  for (std::thread& t : requesters) t.join();
  ASSERT_EQ(answers.size(), 48u);
  for (const absl::Status& s : answers) {
    // An unload before any load finds nothing to unload; everything else succeeds.
    EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kNotFound) << s;
  }
  EXPECT_TRUE(request_failures.empty()) << request_failures.size() << " failed, first: " << request_failures.front();
  EXPECT_EQ(found.load(), computed.load());
  ASSERT_TRUE(Call(&RepositoryManager::Load, "cls").ok());
  EXPECT_EQ(ClassifyAnswersFrom("cls"), 1);
  EXPECT_EQ(models_.ReadyVersions("cls"), (std::vector<int64_t>{1}));
}

}  // namespace
}  // namespace beit::serving::repository
