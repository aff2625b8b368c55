// beit-client on many images against a real beit-server with the bundled Fashion-MNIST models:
// 300 test images as PNG files in a folder tree (a folder per class) plus three corrupt files.
// Every file appears once in the results, errors are recorded and the run goes on, --resume adds
// nothing the second time, Ctrl-C stops cleanly and --resume finishes, the progress bar appears
// on a pseudo-terminal (plain lines on a pipe), embed writes a matrix with an index, segment and
// explain write their PNGs.
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstring>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/image/image_decoder.h"
#include "tests/server/fashion_mnist_sample.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kImages = 300;
constexpr int kCorrupt = 3;
const std::string kModels = BEIT_TRAINED_MODELS_DIR;
// The folder names carry the true class, as a user's labelled folders would.
const char* const kClassFolders[] = {"t-shirt-top", "trouser", "pullover", "dress", "coat",
                                     "sandal",      "shirt",   "sneaker",  "bag",   "ankle-boot"};

struct ClientRun {
  int exit_code = -1;
  std::string out, err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<json> Records(const std::string& path) {
  std::vector<json> records;
  std::istringstream in(ReadAll(path));
  for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));
  return records;
}

class BeitClientBulkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Per process: ctest runs each test case in its own process, two at a time.
    root_ = new std::string(::testing::TempDir() + "beit_client_bulk_test." + std::to_string(getpid()));
    fs::remove_all(*root_);
    try {
      const FashionMnistSample sample = LoadFashionMnistTestSample(kImages, 33);
      for (int i = 0; i < kImages; ++i) {
        const fs::path path = fs::path(*root_) / "images" / kClassFolders[sample.labels[i]] / ("test" + std::to_string(i * 33) + ".png");
        fs::create_directories(path.parent_path());
        std::ofstream(path, std::ios::binary) << FashionMnistPng(sample.images[i]);
      }
      const std::string png = FashionMnistPng(sample.images[0]);
      fs::create_directories(fs::path(*root_) / "images" / "corrupt");
      std::ofstream(*root_ + "/images/corrupt/truncated.png", std::ios::binary) << png.substr(0, png.size() / 2);
      std::ofstream(*root_ + "/images/corrupt/not-an-image.jpg") << "hello, I am text\n";
      std::ofstream(*root_ + "/images/corrupt/empty.png");
      std::ofstream(*root_ + "/images/README.txt") << "not an image name: not an input\n";
    } catch (const std::exception& e) {
      start_error_ = new std::string(e.what());
      return;
    }
    server_ = new ServerProcess();
    std::string error;
    if (!server_->Start({"--model", "cls=" + kModels + "/fashion-mnist-cls", "--model", "seg=" + kModels + "/fashion-mnist-seg"},
                        &error)) {
      start_error_ = new std::string(error);
    }
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      server_->WaitForExit(30);
    }
    delete server_;
    fs::remove_all(*root_);
    delete root_;
    delete start_error_;
  }
  void SetUp() override {
    if (start_error_ != nullptr) GTEST_FAIL() << *start_error_;
    work_ = *root_ + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(work_);
    fs::create_directories(work_);
  }

  // The command line of beit-client with `args`, run in the test's work folder.
  std::vector<std::string> Command(const std::string& args) const {
    std::vector<std::string> argv = {BEIT_CLIENT_BINARY, "--server", "127.0.0.1:" + std::to_string(server_->port())};
    std::istringstream in(args);
    for (std::string word; in >> word;) argv.push_back(word);
    return argv;
  }

  // Starts beit-client with stdout and stderr going to files in the work folder; with
  // `max_file_bytes`, no file it writes may grow past that (a full disk, as RLIMIT_FSIZE).
  pid_t Spawn(const std::string& args, rlim_t max_file_bytes = 0) const {
    const std::vector<std::string> argv = Command(args);
    const pid_t pid = fork();
    if (pid == 0) {
      if (chdir(work_.c_str()) != 0) _exit(127);
      if (max_file_bytes > 0) {
        signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG, as on a full disk
        const rlimit limit{max_file_bytes, max_file_bytes};
        if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(127);
      }
      freopen("client.out", "w", stdout);
      freopen("client.err", "w", stderr);
      std::vector<char*> raw;
      for (const std::string& a : argv) raw.push_back(const_cast<char*>(a.c_str()));
      raw.push_back(nullptr);
      execv(raw[0], raw.data());
      _exit(127);
    }
    return pid;
  }
  ClientRun Wait(pid_t pid) const {
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadAll(work_ + "/client.out"), ReadAll(work_ + "/client.err")};
  }
  ClientRun Client(const std::string& args) const { return Wait(Spawn(args)); }
  std::string Images() const { return *root_ + "/images"; }
  std::string Work(const std::string& name) const { return work_ + "/" + name; }

  static std::string* root_;
  static std::string* start_error_;
  static ServerProcess* server_;
  std::string work_;
};
std::string* BeitClientBulkTest::root_ = nullptr;
std::string* BeitClientBulkTest::start_error_ = nullptr;
ServerProcess* BeitClientBulkTest::server_ = nullptr;

TEST_F(BeitClientBulkTest, AFolderGivesOneRecordPerFileErrorsRecordedAndResumeAddsNothing) {
  const ClientRun run = Client("classify --model cls " + Images() + " --output results.jsonl --concurrency 4");
  EXPECT_EQ(run.exit_code, 1) << "some files failed\n" << run.err;
  const std::vector<json> records = Records(Work("results.jsonl"));
  ASSERT_EQ(records.size(), size_t{kImages + kCorrupt});
  std::set<std::string> paths;
  int correct = 0, answered = 0;
  for (const json& r : records) {
    const std::string path = r["path"];
    EXPECT_TRUE(paths.insert(path).second) << "twice: " << path;
    EXPECT_GE(r["ms"].get<double>(), 0.0);
    if (path.find("/corrupt/") != std::string::npos) {
      EXPECT_EQ(r["ok"], false) << r;
      EXPECT_EQ(r["error"]["code"], "INVALID_ARGUMENT") << r;
      EXPECT_FALSE(r["error"]["message"].get<std::string>().empty());
      continue;
    }
    ASSERT_EQ(r["ok"], true) << r;
    ++answered;
    // The folder is the true class; the label is the top prediction's.
    const std::string folder = fs::path(path).parent_path().filename();
    std::string label = r["label"];
    for (char& c : label) c = c == '/' || c == ' ' ? '-' : static_cast<char>(std::tolower(c));
    correct += label == folder;
    EXPECT_EQ(r["predictions"][0]["label"], r["label"]);
  }
  EXPECT_EQ(answered, kImages);
  EXPECT_GT(correct, kImages * 85 / 100) << "the bundled classifier gets ~90% of Fashion-MNIST right";
  // On a pipe: plain progress lines, and the summary.
  EXPECT_NE(run.err.find("progress: 303/303 (100.0%)"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find('\r'), std::string::npos);
  EXPECT_NE(run.err.find("303 files: 300 ok, 3 failed; results in results.jsonl"), std::string::npos) << run.err;
  const json summary = json::parse(run.out);
  EXPECT_EQ(summary["ok"], kImages);
  EXPECT_EQ(summary["failed"], kCorrupt);
  EXPECT_EQ(summary["interrupted"], false);

  // Without --resume the finished results are not overwritten; with it nothing is added.
  const std::string before = ReadAll(Work("results.jsonl"));
  ClientRun again = Client("classify --model cls " + Images() + " --output results.jsonl");
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("exists: pass --resume"), std::string::npos) << again.err;
  again = Client("classify --model cls " + Images() + " --output results.jsonl --resume");
  EXPECT_EQ(again.exit_code, 1) << "the output still records failures\n" << again.err;
  EXPECT_EQ(ReadAll(Work("results.jsonl")), before);
  EXPECT_NE(again.err.find("303 of 303 files already recorded"), std::string::npos) << again.err;
  EXPECT_EQ(json::parse(again.out)["this_run"]["ok"], 0);
  // --retry-failed runs only the failed files again (still failing: they are corrupt).
  again = Client("classify --model cls " + Images() + " --output results.jsonl --resume --retry-failed");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(json::parse(again.out)["this_run"]["failed"], kCorrupt);
  EXPECT_EQ(Records(Work("results.jsonl")).size(), size_t{kImages + 2 * kCorrupt});
}

TEST_F(BeitClientBulkTest, CsvFromAListAndAGlobWithAMissingFile) {
  {
    std::ofstream list(Work("list.txt"));
    list << "# the coats, and a file that is not there\n" << Images() << "/coat\n" << Images() << "/no-such.png\n";
  }
  const ClientRun run = Client("classify --model cls @list.txt " + Images() + "/bag/*.png --output results.csv --progress none");
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_EQ(run.err.find("progress"), std::string::npos) << "--progress none";
  std::istringstream in(ReadAll(Work("results.csv")));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "path,ok,ms,error,label,index,score");
  int rows = 0, coats = 0, bags = 0, missing = 0;
  while (std::getline(in, line)) {
    ++rows;
    if (line.find("/no-such.png,false,") != std::string::npos) {
      ++missing;
      EXPECT_NE(line.find("NOT_FOUND: "), std::string::npos) << line;
      EXPECT_NE(line.find("cannot read"), std::string::npos) << line;
    }
    coats += line.find("/coat/") != std::string::npos && line.find(",true,") != std::string::npos;
    bags += line.find("/bag/") != std::string::npos && line.find(",true,") != std::string::npos;
  }
  EXPECT_EQ(missing, 1);
  EXPECT_GT(coats, 10);
  EXPECT_GT(bags, 10);
  EXPECT_EQ(rows, coats + bags + missing);
}

TEST_F(BeitClientBulkTest, EmbedWritesAMatrixWhoseRowsAreTheIndexedFilesEmbeddings) {
  const ClientRun run = Client("embed --model cls " + Images() + "/trouser " + Images() + "/corrupt --output e.jsonl");
  EXPECT_EQ(run.exit_code, 1) << run.err;
  const std::vector<json> records = Records(Work("e.jsonl"));
  std::vector<std::string> index;
  {
    std::ifstream in(Work("e.index.txt"));
    for (std::string line; std::getline(in, line);) index.push_back(line);
  }
  int answered = 0;
  for (const json& r : records) {
    if (r["ok"] != true) continue;
    ++answered;
    EXPECT_FALSE(r.contains("embedding")) << "the vectors live in the .npy";
    EXPECT_EQ(r["dim"], 64);
    ASSERT_LT(r["row"].get<size_t>(), index.size());
    EXPECT_EQ(index[r["row"].get<size_t>()], r["path"]);
  }
  EXPECT_EQ(static_cast<size_t>(answered), index.size());
  EXPECT_EQ(records.size(), index.size() + kCorrupt);
  // Row 0 is the single-image answer for its file: the same bits where batched answers are
  // bit-identical (AVX-512 tiers), within float rounding at the AVX2 tiers (README, CPUs).
  const ClientRun one = Client("embed --model cls --image " + index[0]);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const std::vector<float> expected = json::parse(one.out)["embedding"];
  const std::string npy = ReadAll(Work("e.npy"));
  ASSERT_EQ(npy.size(), 128 + index.size() * 64 * sizeof(float));
  EXPECT_NE(npy.find("'shape': (" + std::to_string(index.size()) + ", 64)"), std::string::npos);
  std::vector<float> row0(64);
  std::memcpy(row0.data(), npy.data() + 128, 64 * sizeof(float));
  ASSERT_EQ(row0.size(), expected.size());
  float largest = 0;
  for (float v : expected) largest = std::max(largest, std::abs(v));
  for (size_t i = 0; i < row0.size(); ++i) EXPECT_NEAR(row0[i], expected[i], 1e-5f * largest) << i;

  // Killed between a file's row and its record: the resumed run answers that file again, and it
  // keeps its one row.
  std::vector<json> kept;
  json dropped;
  for (const json& r : records) {
    if (dropped.is_null() && r["ok"] == true) {
      dropped = r;
    } else {
      kept.push_back(r);
    }
  }
  {
    std::ofstream out(Work("e.jsonl"), std::ios::trunc);
    for (const json& r : kept) out << r.dump() << "\n";
  }
  const std::string index_before = ReadAll(Work("e.index.txt"));
  const ClientRun resumed = Client("embed --model cls " + Images() + "/trouser " + Images() + "/corrupt --output e.jsonl --resume");
  EXPECT_EQ(resumed.exit_code, 1) << resumed.err;
  EXPECT_EQ(json::parse(resumed.out)["this_run"]["ok"], 1) << resumed.out;
  EXPECT_EQ(ReadAll(Work("e.index.txt")), index_before);
  EXPECT_EQ(ReadAll(Work("e.npy")).size(), npy.size());
  const json again = Records(Work("e.jsonl")).back();
  EXPECT_EQ(again["path"], dropped["path"]);
  EXPECT_EQ(again["row"], dropped["row"]);

  // The matrix removed, the records and index kept: neither a new run nor a resume renumbers rows.
  fs::remove(Work("e.npy"));
  ClientRun refused = Client("embed --model cls " + Images() + "/trouser --output e.jsonl");
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("e.jsonl exists: pass --resume"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(Work("e.npy"))) << "nothing created by a refused run";
  refused = Client("embed --model cls " + Images() + "/trouser --output e.jsonl --resume");
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("records rows of e.npy, which is missing"), std::string::npos) << refused.err;
  EXPECT_EQ(ReadAll(Work("e.index.txt")), index_before);
}

TEST_F(BeitClientBulkTest, AFullDiskStopsAnEmbedRunAndResumeFinishesIt) {
  // Room for the .npy's header and three 64-float rows, and a quarter of a fourth.
  const std::string args = "embed --model cls " + Images() + "/trouser --output e.jsonl --concurrency 1 --progress none";
  const ClientRun full = Wait(Spawn(args, 128 + 3 * 256 + 64));
  EXPECT_EQ(full.exit_code, 1) << full.err;
  EXPECT_NE(full.err.find("stopped: "), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("e.npy: write failed"), std::string::npos) << full.err;
  // The file whose row could not be written is not recorded, so --resume does it again.
  const std::vector<json> partial = Records(Work("e.jsonl"));
  EXPECT_EQ(partial.size(), 3u);
  for (const json& r : partial) EXPECT_EQ(r["ok"], true) << r;

  const ClientRun resumed = Client(args + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::vector<json> records = Records(Work("e.jsonl"));
  std::vector<std::string> index;
  {
    std::ifstream in(Work("e.index.txt"));
    for (std::string line; std::getline(in, line);) index.push_back(line);
  }
  EXPECT_GT(records.size(), 10u);
  ASSERT_EQ(records.size(), index.size());
  std::set<size_t> rows;
  for (const json& r : records) {
    ASSERT_EQ(r["ok"], true) << r;
    const size_t row = r["row"];
    ASSERT_LT(row, index.size());
    EXPECT_EQ(index[row], r["path"]);
    EXPECT_TRUE(rows.insert(row).second) << "row " << row << " twice";
  }
  EXPECT_EQ(ReadAll(Work("e.npy")).size(), 128 + index.size() * 64 * sizeof(float));
}

TEST_F(BeitClientBulkTest, SegmentAndExplainWriteAPngPerFileUnderOutputDir) {
  ClientRun run = Client("segment --model seg " + Images() + "/sandal --output s.jsonl --output-dir labels");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  for (const json& r : Records(Work("s.jsonl"))) {
    const std::string png = r["png"];
    // Below --output-dir, the input's path made relative, plus ".png".
    EXPECT_EQ(png, (fs::path("labels") / fs::path(r["path"].get<std::string>()).lexically_normal().relative_path()).string() + ".png");
    const Image8 map = DecodeImageFile(Work(png));
    EXPECT_EQ(map.height, 28);
    EXPECT_EQ(map.width, 28);
  }
  run = Client("explain --model cls " + Images() + "/dress --output x.csv --output-dir maps --size 56x84");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  int pngs = 0;
  for (const auto& entry : fs::recursive_directory_iterator(Work("maps"))) {
    if (!entry.is_regular_file()) continue;
    const Image8 overlay = DecodeImageFile(entry.path());
    EXPECT_EQ(overlay.height, 28) << "the overlay is on the image; --size sizes the map";
    EXPECT_EQ(overlay.channels, 3);
    ++pngs;
  }
  EXPECT_GT(pngs, 10);
  // Usage errors come before any file is run.
  run = Client("explain --model cls " + Images() + " --output y.jsonl --png one.png");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("PNGs go to --output-dir"), std::string::npos) << run.err;
  run = Client("explain --model cls " + Images() + " --output y.jsonl --output-dir m --method nope");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_FALSE(fs::exists(Work("y.jsonl")));
  // An output that cannot be written is a failure (1), not a usage error.
  run = Client("classify --model cls " + Images() + "/bag --output no-such-dir/r.jsonl");
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("no-such-dir/r.jsonl: cannot open for writing"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("Usage:"), std::string::npos) << run.err;
}

TEST_F(BeitClientBulkTest, CtrlCStopsCleanlyWithWhatIsDoneWrittenAndResumeFinishes) {
  // Large label maps make each call slow enough to interrupt.
  const std::string args = "segment --model seg " + Images() + " --output r.jsonl --output-dir out --size 1024x1024 --concurrency 2";
  const pid_t pid = Spawn(args);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto lines = [&] {
    const std::string text = ReadAll(Work("r.jsonl"));
    return std::count(text.begin(), text.end(), '\n');
  };
  while (lines() < 20 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto recorded_before_stop = lines();
  kill(pid, SIGINT);
  const ClientRun stopped = Wait(pid);
  ASSERT_GE(recorded_before_stop, 20) << "the run recorded too few files in 60 s to test stopping it:\n" << stopped.err;
  EXPECT_EQ(stopped.exit_code, 130) << stopped.err;
  EXPECT_NE(stopped.err.find("interrupted: 303 files: "), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("not started (--resume continues)"), std::string::npos) << stopped.err;
  const std::vector<json> partial = Records(Work("r.jsonl"));  // every line complete JSON
  EXPECT_GE(partial.size(), 20u);
  EXPECT_LT(partial.size(), size_t{kImages}) << "stopped early";
  EXPECT_EQ(json::parse(stopped.out)["interrupted"], true);

  const ClientRun resumed = Client(args + " --resume");
  EXPECT_EQ(resumed.exit_code, 1) << resumed.err;  // the corrupt files
  const std::vector<json> all = Records(Work("r.jsonl"));
  ASSERT_EQ(all.size(), size_t{kImages + kCorrupt});
  std::set<std::string> paths;
  for (const json& r : all) EXPECT_TRUE(paths.insert(r["path"]).second) << r["path"];
  const json this_run = json::parse(resumed.out)["this_run"];
  EXPECT_EQ(this_run["ok"].get<size_t>() + this_run["failed"].get<size_t>(), all.size() - partial.size());
}

TEST_F(BeitClientBulkTest, OnAPseudoTerminalTheProgressIsABarRedrawnInPlace) {
  const std::vector<std::string> argv = Command("classify --model cls " + Images() + " --output r.jsonl --concurrency 2");
  int master = -1;
  winsize size{};
  size.ws_col = 100;
  size.ws_row = 30;
  const pid_t pid = forkpty(&master, nullptr, nullptr, &size);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (chdir(work_.c_str()) != 0) _exit(127);
    std::vector<char*> raw;
    for (const std::string& a : argv) raw.push_back(const_cast<char*>(a.c_str()));
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  std::string terminal;
  char buffer[4096];
  for (ssize_t n; (n = read(master, buffer, sizeof buffer)) > 0;) terminal.append(buffer, n);  // EIO once it exits
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 1) << terminal;
  EXPECT_NE(terminal.find("\r["), std::string::npos) << terminal;
  EXPECT_NE(terminal.find("] 303/303 100%"), std::string::npos) << terminal;
  EXPECT_NE(terminal.find("img/s ETA"), std::string::npos) << terminal;
  EXPECT_NE(terminal.find("3 errors"), std::string::npos) << terminal;
  EXPECT_EQ(terminal.find("progress: "), std::string::npos) << "no plain lines on a terminal";
  // The bar's line fits the terminal's 100 columns.
  const size_t last_bar = terminal.rfind("\r[");
  EXPECT_LE(terminal.find('\n', last_bar) - last_bar - 1, 100u) << terminal.substr(last_bar, 200);
  EXPECT_EQ(Records(Work("r.jsonl")).size(), size_t{kImages + kCorrupt});
}

}  // namespace
}  // namespace beit::testing
