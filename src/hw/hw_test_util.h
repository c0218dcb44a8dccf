// A scratch directory tree for the hw tests (fake sysfs/procfs files), removed on destruction.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace edgeopt::hw::testing {

class TempTree {
 public:
  explicit TempTree(const std::string& tag) {
    root_ = std::filesystem::temp_directory_path() /
            ("edgeopt_hw_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~TempTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::filesystem::path& root() const { return root_; }
  // Writes `text` to root/rel, creating parent directories.
  void write(const std::string& rel, const std::string& text) const {
    const auto p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::filesystem::path root_;
};

}  // namespace edgeopt::hw::testing
