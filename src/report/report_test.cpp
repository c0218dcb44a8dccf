#include "report/report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "report/report_data.h"
#include "report/svg.h"

namespace edgeopt::report {
namespace {

using nlohmann::json;

json fixture() {
  std::ifstream f(EDGEOPT_REPORT_FIXTURE);
  EXPECT_TRUE(f.good()) << EDGEOPT_REPORT_FIXTURE;
  return json::parse(f);
}

// The attribute values of every element whose opening tag matches `tag_re` and holds
// data-id="<id>": {attr -> value}.
std::map<std::string, std::string> attrs_of(const std::string& html, const std::string& tag_start) {
  std::map<std::string, std::string> out;
  const size_t at = html.find(tag_start);
  if (at == std::string::npos) return out;
  const size_t open = html.rfind('<', at), close = html.find('>', at);
  const std::string tag = html.substr(open, close - open);
  static const std::regex kAttr("([a-z-]+)=\"([^\"]*)\"");
  for (std::sregex_iterator it(tag.begin(), tag.end(), kAttr), end; it != end; ++it) out[(*it)[1]] = (*it)[2];
  return out;
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

TEST(ReportHtml, FixtureHasTheFourChartsAndTheTables) {
  const std::string html = render_html(fixture());
  for (const char* id : {"id=\"chart-pareto\"", "id=\"chart-before-after\"", "id=\"chart-layers\"",
                         "id=\"chart-platform-latency_ms\"", "id=\"chart-platform-energy_mj_per_inference\"",
                         "id=\"chart-platform-power_w\"", "id=\"chart-platform-memory_mb\"",
                         "id=\"chart-platform-throughput_per_s\"", "id=\"candidates-table\"", "id=\"platforms-table\""})
    EXPECT_NE(html.find(id), std::string::npos) << id;
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<script"), std::string::npos) << "no scripts needed";
  static const std::regex kExternal(R"((src|href)\s*=\s*"(https?:)?//)", std::regex::icase);
  EXPECT_FALSE(std::regex_search(html, kExternal)) << "no external resources";
}

TEST(ReportHtml, EveryCandidateIsAPointWithItsExactJsonNumbers) {
  const json j = fixture();
  const std::string html = render_html(j);
  for (const auto& c : j["candidates"]) {
    const std::string id = c["id"];
    SCOPED_TRACE(id);
    const auto a = attrs_of(html, "data-id=\"" + id + "\" data-status=");
    ASSERT_FALSE(a.empty()) << "no point for " << id;
    EXPECT_EQ(a.at("data-latency-ms"), c["latency_ms"].dump());
    EXPECT_EQ(a.at("data-accuracy"), c["accuracy"].dump());
    EXPECT_EQ(a.at("data-pareto"), c["pareto"].get<bool>() ? "true" : "false");
  }
  const auto best = attrs_of(html, "data-id=\"" + j["best"]["id"].get<std::string>() + "\" data-status=\"best\"");
  ASSERT_FALSE(best.empty());
  EXPECT_EQ(best.at("data-latency-ms"), j["best"]["latency_ms"].dump());
  EXPECT_EQ(best.at("data-accuracy"), j["best"]["accuracy"].dump());
  // The budget line sits at the JSON budget; the Pareto polyline lists the front's ids by latency.
  EXPECT_EQ(attrs_of(html, "class=\"budget-line\"").at("data-value"), j["budgets"]["max_latency_ms"].dump());
  std::string front;
  std::vector<std::pair<double, std::string>> pts;
  for (const auto& c : j["candidates"])
    if (c["pareto"].get<bool>()) pts.emplace_back(c["latency_ms"].get<double>(), c["id"].get<std::string>());
  std::sort(pts.begin(), pts.end());
  for (const auto& [l, id] : pts) front += (front.empty() ? "" : " ") + id;
  EXPECT_EQ(attrs_of(html, "class=\"pareto-front\"").at("data-ids"), front);
}

TEST(ReportHtml, BeforeAfterBarsHoldBaselineBestAndOrt) {
  const json j = fixture();
  const std::string html = render_html(j);
  EXPECT_EQ(attrs_of(html, "data-metric=\"size_bytes\" data-variant=\"baseline\"").at("data-value"),
            j["baseline"]["size_bytes"].dump());
  EXPECT_EQ(attrs_of(html, "data-metric=\"size_bytes\" data-variant=\"best\"").at("data-value"), j["best"]["size_bytes"].dump());
  EXPECT_EQ(attrs_of(html, "data-metric=\"latency_ms\" data-variant=\"best\"").at("data-value"), j["best"]["latency_ms"].dump());
  EXPECT_EQ(attrs_of(html, "data-metric=\"latency_ms\" data-variant=\"ort\"").at("data-value"),
            j["baseline"]["ort_fp32_latency_ms"].dump());
  // The energy of both cards is an estimate here: their bars say so.
  const auto e = attrs_of(html, "data-metric=\"energy_mj_per_inference\" data-variant=\"best\"");
  EXPECT_EQ(e.at("data-source"), "estimate");
  EXPECT_NE(e.at("class").find("estimate"), std::string::npos);
}

TEST(ReportHtml, LayerBarsAndRemovedLayers) {
  const json j = fixture();
  const std::string html = render_html(j);
  for (const auto& l : j["layers"]) {
    const std::string name = l["name"];
    EXPECT_EQ(attrs_of(html, "data-layer=\"" + name + "\" data-variant=\"baseline\"").at("data-value"),
              l["baseline_ms"].dump())
        << name;
    if (l["best_ms"].is_null())
      EXPECT_TRUE(attrs_of(html, "data-layer=\"" + name + "\" data-variant=\"best\"").empty()) << name;
    else
      EXPECT_EQ(attrs_of(html, "data-layer=\"" + name + "\" data-variant=\"best\"").at("data-value"), l["best_ms"].dump());
  }
  EXPECT_NE(html.find("n/a (removed or fused)"), std::string::npos);
}

TEST(ReportHtml, EveryEstimatedPlatformNumberIsLabelled) {
  const json j = fixture();
  const std::string html = render_html(j);
  size_t estimated_latency_rows = 0;
  for (const auto& p : j["platforms"]) {
    const std::string sel = "data-platform=\"" + p["platform"].get<std::string>() + "\" data-variant=\"" +
                            p["variant"].get<std::string>() + "\" data-dtype=\"" + p["dtype"].get<std::string>() +
                            "\" data-metric=\"latency_ms\"";
    const auto a = attrs_of(html, sel);
    ASSERT_FALSE(a.empty()) << sel;
    EXPECT_EQ(a.at("data-value"), p["latency_ms"].dump());
    EXPECT_EQ(a.at("data-source"), p["source"].get<std::string>());
    if (p["source"] == "estimate") ++estimated_latency_rows;
  }
  // One visible "estimate" label per estimated bar in the latency chart.
  const size_t chart_at = html.find("id=\"chart-platform-latency_ms\"");
  const std::string chart = html.substr(chart_at, html.find("</svg>", chart_at) - chart_at);
  EXPECT_EQ(count(chart, ">estimate</tspan>"), estimated_latency_rows);
  // And in the table, every numeric cell of an estimated row carries the badge.
  const size_t table_at = html.find("id=\"platforms-table\"");
  const std::string table = html.substr(table_at, html.find("</table>", table_at) - table_at);
  size_t estimated_cells = 0;
  for (const auto& p : j["platforms"])
    if (p["source"] == "estimate")
      for (const char* k : {"latency_ms", "throughput_per_s", "power_w", "energy_mj_per_inference", "memory_mb"})
        if (!p[k].is_null()) ++estimated_cells;
  size_t estimated_rows = 0;
  for (const auto& p : j["platforms"]) estimated_rows += p["source"] == "estimate";
  EXPECT_EQ(count(table, ">estimate</span>"), estimated_cells + estimated_rows);  // + the source column
}

TEST(ReportHtml, RejectReasonsAreInTheTable) {
  const json j = fixture();
  const std::string html = render_html(j);
  for (const auto& c : j["candidates"])
    for (const auto& reason : c["reject_reasons"])
      EXPECT_NE(html.find(detail::esc(reason.get<std::string>())), std::string::npos) << reason;
}

TEST(ReportHtml, EscapesText) {
  json j = fixture();
  j["candidates"][1]["name"] = "<script>alert('x')</script> & \"q\"";
  j["model"]["name"] = "m<1>";
  const std::string html = render_html(j);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"), std::string::npos);
  EXPECT_NE(html.find("m&lt;1&gt;"), std::string::npos);
}

TEST(ReportHtml, RmseModelsPlotRmse) {
  json j = fixture();
  j["model"]["metric"] = "rmse";
  j["model"]["task"] = "forecast";
  double v = 1.5;
  for (auto& c : j["candidates"]) {
    c["accuracy"] = nullptr;
    c["rmse"] = v;
    v += 0.125;
  }
  j["best"]["accuracy"] = nullptr;
  j["best"]["rmse"] = 1.625;
  j["baseline"]["accuracy"] = nullptr;
  j["baseline"]["rmse"] = 1.5;
  const std::string html = render_html(j);
  EXPECT_NE(html.find("data-metric=\"rmse\""), std::string::npos);
  EXPECT_NE(html.find("RMSE (lower is better)"), std::string::npos);
  EXPECT_EQ(attrs_of(html, "data-id=\"c01\" data-status=").at("data-rmse"), "1.625");
  EXPECT_EQ(html.find("data-accuracy="), std::string::npos);
}

TEST(ReportHtml, MissingOptionalFieldsStillRender) {
  EXPECT_NO_THROW(render_html(json::object()));
  EXPECT_NO_THROW(render_markdown(json::object()));
  json j = fixture();
  j.erase("platforms");
  j.erase("layers");
  j["budgets"]["max_latency_ms"] = nullptr;
  j["baseline"].erase("ort_fp32_latency_ms");
  j["best"].erase("energy_mj_per_inference");
  const std::string html = render_html(j);
  EXPECT_EQ(html.find("class=\"budget-line\""), std::string::npos);
  EXPECT_EQ(html.find("data-variant=\"ort\""), std::string::npos);
  EXPECT_NE(html.find("The report has no per-layer timings."), std::string::npos);
  EXPECT_NE(html.find("id=\"chart-pareto\""), std::string::npos);
}

TEST(ReportHtml, NonFiniteNumbersAreAbsentAsInTheWrittenJson) {
  json j = fixture();
  j["best"]["energy_mj_per_inference"] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(json::parse(j.dump())["best"]["energy_mj_per_inference"], nullptr);
  const std::string html = render_html(j);
  EXPECT_TRUE(attrs_of(html, "data-metric=\"energy_mj_per_inference\" data-variant=\"best\"").empty());
  EXPECT_FALSE(std::regex_search(html, std::regex(R"([>" ]-?nan[ <"%])", std::regex::icase))) << "no NaN printed";
}

TEST(ReportHtml, WrongTypesNameTheField) {
  json j = fixture();
  j["candidates"][3]["latency_ms"] = "fast";
  try {
    render_html(j);
    FAIL() << "expected InvalidArgument";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("report.candidates[3].latency_ms: expected a number, got string"),
              std::string::npos)
        << e.what();
  }
  json k = fixture();
  k["platforms"] = json::object();
  EXPECT_THROW(render_markdown(k), Error);
  json m = fixture();
  m["model"]["metric"] = "f1";
  EXPECT_THROW(render_html(m), Error);
  EXPECT_THROW(render_html(json::array()), Error);
}

TEST(ReportMarkdown, FixtureTables) {
  const json j = fixture();
  const std::string md = render_markdown(j);
  EXPECT_EQ(md.rfind("# edgeopt optimize: vision_cnn on host", 0), 0u);
  for (const char* h : {"## Budgets", "## Baseline vs best", "## Candidates", "## Per platform", "## Per layer", "## Target"})
    EXPECT_NE(md.find(h), std::string::npos) << h;
  for (const auto& c : j["candidates"]) EXPECT_NE(md.find("| " + c["id"].get<std::string>() + " |"), std::string::npos);
  EXPECT_NE(md.find("latency 0.104 ms > budget 0.1 ms"), std::string::npos);
  EXPECT_NE(md.find("| raspberry-pi-4 | best | int8 |"), std::string::npos);
  EXPECT_NE(md.find("(estimate)"), std::string::npos);
  EXPECT_NE(md.find("4.55x faster than the baseline"), std::string::npos) << "0.141 / 0.031";
  EXPECT_NE(md.find("3.19x faster than ONNX Runtime fp32"), std::string::npos) << "0.099 / 0.031";
  EXPECT_NE(md.find("87.1% smaller"), std::string::npos) << "1 - 219540 / 1704212";
}

TEST(ReportMarkdown, PipesInNamesDoNotBreakRows) {
  json j = fixture();
  j["candidates"][0]["name"] = "a|b";
  const std::string md = render_markdown(j);
  EXPECT_NE(md.find("a\\|b"), std::string::npos);
}

class WriteReport : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("edgeopt_report_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(WriteReport, WritesThreeFilesAtomically) {
  const json j = fixture();
  write_report(dir_ / "nested", j);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "nested")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"report.html", "report.json", "report.md"})) << "no temporary files left";
  std::ifstream f(dir_ / "nested" / "report.json");
  EXPECT_EQ(json::parse(f), j);
  std::ifstream h(dir_ / "nested" / "report.html");
  std::stringstream ss;
  ss << h.rdbuf();
  EXPECT_EQ(ss.str(), render_html(j));
  // Overwriting works too.
  write_report(dir_ / "nested", j);
}

TEST_F(WriteReport, BadReportWritesNothing) {
  json j = fixture();
  j["best"]["size_bytes"] = "big";
  EXPECT_THROW(write_report(dir_, j), Error);
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

TEST_F(WriteReport, UnwritableDirectoryNamesThePath) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  try {
    write_report(dir_ / "file" / "sub", fixture());
    FAIL() << "expected Unavailable";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find((dir_ / "file" / "sub").string()), std::string::npos) << e.what();
  }
}

TEST(Svg, TicksAndScales) {
  using namespace detail;
  const auto unit = nice_ticks(0, 1, 5);
  ASSERT_EQ(unit.size(), 6u);
  for (size_t i = 0; i < unit.size(); ++i) EXPECT_NEAR(unit[i], 0.2 * static_cast<double>(i), 1e-12);
  const auto t = nice_ticks(0.9, 0.92, 5);
  ASSERT_FALSE(t.empty());
  EXPECT_GE(t.front(), 0.9 - 1e-12);
  EXPECT_LE(t.back(), 0.92 + 1e-12);
  EXPECT_EQ(log_ticks(0.01, 10), (std::vector<double>{0.01, 0.1, 1, 10}));
  EXPECT_EQ(log_ticks(1, 20), (std::vector<double>{1, 2, 5, 10, 20}));
  Scale lin{0, 10, 100, 200, false};
  EXPECT_DOUBLE_EQ(lin(5), 150);
  Scale lg{1, 100, 0, 100, true};
  EXPECT_DOUBLE_EQ(lg(10), 50);
  EXPECT_TRUE(wants_log(0.01, 10));
  EXPECT_FALSE(wants_log(1, 10));
  EXPECT_EQ(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  EXPECT_EQ(fmt_sig(0.031, 3), "0.0310");
  EXPECT_EQ(fmt_sig(1234.6, 3), "1235");
  EXPECT_EQ(fmt_metric(Num{true, 0.911, "0.911"}, false), "91.10%");
}

}  // namespace
}  // namespace edgeopt::report
