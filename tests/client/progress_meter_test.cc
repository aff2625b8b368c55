#include "client/progress_meter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "absl/time/clock.h"

namespace beit::client {
namespace {

TEST(FormatProgress, LinesShowCountsRateEtaAndErrors) {
  EXPECT_EQ(FormatProgress({120, 3, 300, absl::Seconds(4)}, ProgressStyle::kLines, 0),
            "progress: 120/300 (40.0%), 30.0 images/s, ETA 6s, 3 errors");
  EXPECT_EQ(FormatProgress({0, 0, 300, absl::Seconds(1)}, ProgressStyle::kLines, 0),
            "progress: 0/300 (0.0%), 0.0 images/s, ETA ?, 0 errors");
  EXPECT_EQ(FormatProgress({300, 1, 300, absl::Seconds(10)}, ProgressStyle::kLines, 0),
            "progress: 300/300 (100.0%), 30.0 images/s, ETA 0s, 1 error");
  EXPECT_EQ(FormatProgress({10, 0, 20000, absl::Seconds(1)}, ProgressStyle::kLines, 0),
            "progress: 10/20000 (0.1%), 10.0 images/s, ETA 33m19s, 0 errors");
}

TEST(FormatProgress, TheBarFillsWithTheShareDoneAndFitsTheWidth) {
  const std::string half = FormatProgress({50, 0, 100, absl::Seconds(5)}, ProgressStyle::kBar, 80);
  EXPECT_EQ(half, "[###################-------------------] 50/100  50% 10.0 img/s ETA 5s 0 errors");
  for (int width : {30, 50, 80, 200}) {
    const std::string line = FormatProgress({7, 1, 100, absl::Seconds(1)}, ProgressStyle::kBar, width);
    EXPECT_LE(static_cast<int>(line.size()), width) << line;
    EXPECT_NE(line.find("7/100"), std::string::npos) << line;
  }
  // Too narrow for a bar: the numbers alone, cut to the width.
  const std::string narrow = FormatProgress({7, 1, 100, absl::Seconds(1)}, ProgressStyle::kBar, 20);
  EXPECT_EQ(narrow.rfind("7/100", 0), 0u) << narrow;
  EXPECT_EQ(narrow.size(), 20u) << narrow;
}

TEST(ParseProgressStyle, AutoIsABarOnlyOnATerminal) {
  ProgressStyle style;
  FILE* file = std::tmpfile();
  ASSERT_TRUE(ParseProgressStyle("auto", file, &style));
  EXPECT_EQ(style, ProgressStyle::kLines);
  ASSERT_TRUE(ParseProgressStyle("bar", file, &style));
  EXPECT_EQ(style, ProgressStyle::kBar);
  EXPECT_FALSE(ParseProgressStyle("fancy", file, &style));
  std::fclose(file);
}

// The meter writes through its own FILE*; the test reads the file by name.
class ProgressMeterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/progress_meter_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    file_ = std::fopen(path_.c_str(), "w");
    ASSERT_NE(file_, nullptr);
  }
  void TearDown() override {
    if (file_ != nullptr) std::fclose(file_);
    std::remove(path_.c_str());
  }
  std::string Text() const {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Waits (at most 30 s, for slow sanitizer runs) until the output holds `what`.
  bool Eventually(const std::string& what) const {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (Text().find(what) == std::string::npos) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }
  std::string path_;
  FILE* file_ = nullptr;
};

TEST_F(ProgressMeterTest, LinesArePeriodicAndTheLastOneIsFinal) {
  {
    ProgressMeter meter(file_, ProgressStyle::kLines, 4, absl::Milliseconds(20));
    meter.Record(true);
    meter.Record(false);
    EXPECT_TRUE(Eventually("progress: 2/4 (50.0%)")) << "a periodic line before the end: " << Text();
    meter.Record(true);
    meter.Record(true);
  }  // the destructor finishes it
  const std::string text = Text();
  EXPECT_NE(text.rfind("progress: 4/4 (100.0%)"), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\r'), std::string::npos) << "no carriage returns off a terminal";
}

TEST_F(ProgressMeterTest, TheBarRedrawsInPlace) {
  {
    ProgressMeter meter(file_, ProgressStyle::kBar, 2, absl::Seconds(10));
    meter.Record(true);
    EXPECT_TRUE(Eventually("1/2")) << "a redraw before the end: " << Text();
    meter.Record(true);
    meter.Finish();
    meter.Finish();  // once is enough
  }
  const std::string text = Text();
  EXPECT_GE(std::count(text.begin(), text.end(), '\r'), 2) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("2/2 100%"), std::string::npos) << text;
}

}  // namespace
}  // namespace beit::client
