// report_render REPORT.json OUT_DIR: writes OUT_DIR/report.{json,md,html} with edgeopt::report, for
// the headless-Chromium test (tests/report/report_chromium_test.py). Exit 1 with one line on error.
#include <cstdio>
#include <exception>
#include <fstream>

#include "report/report.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: report_render REPORT.json OUT_DIR\n");
    return 2;
  }
  try {
    std::ifstream f(argv[1]);
    if (!f) {
      std::fprintf(stderr, "report_render: cannot open '%s'\n", argv[1]);
      return 1;
    }
    edgeopt::report::write_report(argv[2], nlohmann::json::parse(f));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "report_render: %s\n", e.what());
    return 1;
  }
  return 0;
}
