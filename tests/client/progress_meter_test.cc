#include "client/progress_meter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

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
    EXPECT_LE(static_cast<int>(line.size()), std::max(width, 49)) << line;
    EXPECT_NE(line.find("7/100"), std::string::npos) << line;
  }
  // Too narrow for a bar: the numbers alone.
  EXPECT_EQ(FormatProgress({7, 1, 100, absl::Seconds(1)}, ProgressStyle::kBar, 20).rfind("7/100", 0), 0u);
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

TEST(ProgressMeter, LinesArePeriodicAndTheLastOneIsFinal) {
  FILE* file = std::tmpfile();
  {
    ProgressMeter meter(file, ProgressStyle::kLines, 4, absl::Milliseconds(20));
    meter.Record(true);
    meter.Record(false);
    absl::SleepFor(absl::Milliseconds(70));
    meter.Record(true);
    meter.Record(true);
  }  // the destructor finishes it
  std::rewind(file);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), file));
  std::fclose(file);
  EXPECT_NE(text.find("progress: 2/4 (50.0%)"), std::string::npos) << text;
  EXPECT_NE(text.rfind("progress: 4/4 (100.0%)"), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\r'), std::string::npos) << "no carriage returns off a terminal";
}

TEST(ProgressMeter, TheBarRedrawsInPlace) {
  FILE* file = std::tmpfile();
  {
    ProgressMeter meter(file, ProgressStyle::kBar, 2, absl::Seconds(10));
    meter.Record(true);
    absl::SleepFor(absl::Milliseconds(250));
    meter.Record(true);
    meter.Finish();
    meter.Finish();  // once is enough
  }
  std::rewind(file);
  std::string text(8192, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), file));
  std::fclose(file);
  EXPECT_GE(std::count(text.begin(), text.end(), '\r'), 2) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("1/2"), std::string::npos) << text;
  EXPECT_NE(text.find("2/2 100%"), std::string::npos) << text;
}

}  // namespace
}  // namespace beit::client
