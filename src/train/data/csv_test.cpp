#include "train/data/csv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/error.h"
#include "train/data/test_files.h"

namespace edgeopt::train {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Csv, ParsesQuotesCrlfBlankLinesAndBom) {
  CsvTable t = parse_csv("\xEF\xBB\xBF" "a,b,c\r\n1,\"x,y\",3\r\n\r\n4,\"say \"\"hi\"\"\",6\n", "mem.csv");
  ASSERT_EQ(t.header, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(t.num_rows(), 2u);
  EXPECT_EQ(t.rows[0][1], "x,y");
  EXPECT_EQ(t.rows[1][1], "say \"hi\"");
  EXPECT_EQ(t.line[0], 2);
  EXPECT_EQ(t.line[1], 4);
  EXPECT_EQ(t.numeric_column(2), (std::vector<double>{3, 6}));
}

TEST(Csv, QuotedNewlineKeepsLineNumbers) {
  CsvTable t = parse_csv("a,b\n\"multi\nline\",1\n2,x\n", "m.csv");
  EXPECT_EQ(t.rows[0][0], "multi\nline");
  EXPECT_EQ(t.line[1], 4);
  EXPECT_NE(error_of([&] { t.numeric_column(1); }).find("m.csv:4:2: column 'b': cannot parse 'x'"), std::string::npos);
}

TEST(Csv, BadRowNamesFileLineAndCounts) {
  const std::string e = error_of([] { parse_csv("a,b\n1,2\n3\n", "bad.csv"); });
  EXPECT_NE(e.find("bad.csv:3: row has 1 fields, but the header has 2"), std::string::npos) << e;
}

TEST(Csv, BadNumberMessage) {
  CsvTable t = parse_csv("date,temp\n2020-01-01,1.5\n2020-01-02,abc\n", "w.csv");
  const std::string e = error_of([&] { t.numeric_column(1); });
  EXPECT_NE(e.find("w.csv:3:2: column 'temp': cannot parse 'abc' as a number"), std::string::npos) << e;
}

TEST(Csv, EmptyFieldIsAnErrorUnlessAllowed) {
  CsvTable t = parse_csv("a,b\n1,\n2,3\n", "e.csv");
  EXPECT_THROW(t.numeric_column(1), Error);
  std::vector<double> v = t.numeric_column(1, /*allow_empty=*/true);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 3);
}

TEST(Csv, UnknownColumnListsTheAvailableOnes) {
  CsvTable t = parse_csv("alpha,beta\n1,2\n", "c.csv");
  const std::string e = error_of([&] { t.column_index("gamma"); });
  EXPECT_NE(e.find("file 'c.csv' has no column 'gamma' (columns: alpha, beta)"), std::string::npos) << e;
  try {
    t.column_index("gamma");
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kNotFound);
  }
}

TEST(Csv, StructuralErrors) {
  EXPECT_THROW(parse_csv("", "empty.csv"), Error);
  EXPECT_THROW(parse_csv("a,a\n1,2\n", "dup.csv"), Error);
  EXPECT_THROW(parse_csv("a,b\n\"open,2\n", "q.csv"), Error);
  testing::TempDir dir("csv");
  try {
    read_csv(dir.file("missing.csv"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("missing.csv"), std::string::npos);
  }
}

TEST(Csv, ParseNumberIsStrict) {
  EXPECT_EQ(*parse_number(" 1.5 "), 1.5);
  EXPECT_EQ(*parse_number("-2e3"), -2000);
  EXPECT_FALSE(parse_number("1.5x"));
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("12,5"));
}

}  // namespace
}  // namespace edgeopt::train
