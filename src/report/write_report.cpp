#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "report/report.h"

namespace edgeopt::report {
namespace {

namespace fs = std::filesystem;

// Writes to "<name>.tmp.<pid>" beside the target, flushes, then renames over it: a reader sees the
// old file or the new one, never a partial one (rename is atomic within a directory on POSIX).
void write_atomic(const fs::path& path, const std::string& text) {
  static std::atomic<uint64_t> counter{0};  // distinct names for concurrent writers in one process
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw_error(ErrorCode::kUnavailable, "report: cannot create '" + tmp.string() + "': " + std::strerror(errno));
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.flush();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw_error(ErrorCode::kUnavailable, "report: cannot write '" + tmp.string() + "'");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw_error(ErrorCode::kUnavailable, "report: cannot rename '" + tmp.string() + "' to '" + path.string() + "': " +
                                             ec.message());
  }
}

}  // namespace

void write_report(const fs::path& dir, const nlohmann::json& report) {
  // Render first: a bad field leaves the directory untouched.
  const std::string md = render_markdown(report);
  const std::string html = render_html(report);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw_error(ErrorCode::kUnavailable, "report: cannot create directory '" + dir.string() + "': " +
                                             (ec ? ec.message() : std::string("not a directory")));
  write_atomic(dir / "report.json", report.dump(2) + "\n");
  write_atomic(dir / "report.md", md);
  write_atomic(dir / "report.html", html);
}

}  // namespace edgeopt::report
