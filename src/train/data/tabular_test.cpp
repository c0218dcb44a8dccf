#include "train/data/tabular.h"

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

std::string weather_csv() {
  std::string s = "a,b,kind\n";
  const char* kinds[] = {"sun", "rain", "fog"};
  for (int i = 0; i < 30; ++i) s += std::to_string(i) + "," + std::to_string(2 * i) + "," + kinds[i % 3] + "\n";
  return s;
}

TEST(Tabular, MapsCategoricalLabelsKeepsNamesAndStandardizes) {
  testing::TempDir dir("tab");
  TabularOptions o;
  o.label = "kind";
  o.seed = 3;
  DataSplits d = load_csv_tabular(dir.write("t.csv", weather_csv()), o);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"fog", "rain", "sun"}));
  EXPECT_EQ(d.num_classes, 3);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.test.size(), 6);
  EXPECT_EQ(d.val.size(), 2);  // round(24 * 0.1)
  EXPECT_EQ(d.train.size(), 22);
  EXPECT_EQ(d.train.x.shape(), (Shape{22, 2}));
  // Each row's label matches its feature a (row i has kind i % 3).
  for (const Dataset* s : {&d.train, &d.val, &d.test})
    for (int64_t i = 0; i < s->size(); ++i) {
      const double a = s->x.data<float>()[2 * i] * d.feature_std[0] + d.feature_mean[0];
      const int row = static_cast<int>(std::lround(a));
      const int64_t want = row % 3 == 0 ? 2 : row % 3 == 1 ? 1 : 0;
      EXPECT_EQ(s->y.data<int64_t>()[i], want);
    }
  double mean = 0;
  for (int64_t i = 0; i < 22; ++i) mean += d.train.x.data<float>()[2 * i];
  EXPECT_NEAR(mean / 22, 0, 1e-5);
  // The split depends on the seed only.
  EXPECT_EQ(load_csv_tabular(dir.file("t.csv"), o).test.y.to_i64_vector(), d.test.y.to_i64_vector());
}

TEST(Tabular, NumericLabelsSortNumericallyAndRegression) {
  CsvTable t = parse_csv("x,y\n1,10\n2,9\n3,10\n4,2\n5,9\n6,2\n", "n.csv");
  TabularOptions o;
  o.label = "y";
  o.test_fraction = 0.34;
  DataSplits d = load_tabular_table(t, o);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"2", "9", "10"}));
  o.task = "regression";
  DataSplits r = load_tabular_table(t, o);
  EXPECT_EQ(r.train.y.dtype(), DType::kF32);
  EXPECT_EQ(r.target_names, (std::vector<std::string>{"y"}));
}

TEST(Tabular, Errors) {
  testing::TempDir dir("tab_err");
  const std::string p = dir.write("t.csv", weather_csv());
  TabularOptions o;
  o.label = "class";
  std::string e = error_of([&] { load_csv_tabular(p, o); });
  EXPECT_NE(e.find("has no label column 'class' (columns: a, b, kind)"), std::string::npos) << e;
  o.label = "kind";
  o.features = {"a", "zzz"};
  e = error_of([&] { load_csv_tabular(p, o); });
  EXPECT_NE(e.find("no column 'zzz' (columns: a, b, kind)"), std::string::npos) << e;
  const std::string bad = dir.write("bad.csv", "a,b,kind\n1,2,x\n3,oops,y\n4,5,x\n6,7,y\n");
  o.features = {"a", "b"};
  e = error_of([&] { load_csv_tabular(bad, o); });
  EXPECT_NE(e.find("bad.csv:3:2: column 'b': cannot parse 'oops' as a number"), std::string::npos) << e;
  o.label = "";
  EXPECT_THROW(load_csv_tabular(p, o), Error);
}

}  // namespace
}  // namespace edgeopt::train
