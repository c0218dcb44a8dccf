#include "train/data/csv.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "core/error.h"

namespace edgeopt::train {

size_t CsvTable::column_index(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  std::string all;
  for (const auto& h : header) all += (all.empty() ? "" : ", ") + h;
  throw_error(ErrorCode::kNotFound, "file '" + path + "' has no column '" + name + "' (columns: " + all + ")");
}

bool CsvTable::has_column(const std::string& name) const {
  for (const auto& h : header)
    if (h == name) return true;
  return false;
}

std::string CsvTable::where(size_t r, size_t c) const {
  return path + ":" + std::to_string(line.at(r)) + ":" + std::to_string(c + 1);
}

std::optional<double> parse_number(const std::string& field) {
  size_t b = field.find_first_not_of(" \t");
  if (b == std::string::npos) return std::nullopt;
  size_t e = field.find_last_not_of(" \t");
  std::string s = field.substr(b, e - b + 1);
  const char* p = s.c_str();
  char* end = nullptr;
  double v = std::strtod(p, &end);
  if (end == p || *end != '\0') return std::nullopt;
  return v;
}

std::vector<double> CsvTable::numeric_column(size_t c, bool allow_empty) const {
  std::vector<double> out(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::string& f = rows[r][c];
    if (allow_empty && f.find_first_not_of(" \t") == std::string::npos) {
      out[r] = std::nan("");
      continue;
    }
    std::optional<double> v = parse_number(f);
    if (!v)
      throw_error(ErrorCode::kInvalidArgument, where(r, c) + ": column '" + header[c] + "': cannot parse '" + f +
                                                   "' as a number");
    out[r] = *v;
  }
  return out;
}

bool CsvTable::is_numeric_column(size_t c) const {
  // A column is numeric when most of its non-empty cells are numbers: a stray bad cell in a numeric
  // column is then reported by numeric_column (file:line:column) instead of silently dropping it.
  size_t numbers = 0, others = 0;
  for (const auto& row : rows) {
    if (row[c].find_first_not_of(" \t") == std::string::npos) continue;
    if (parse_number(row[c])) ++numbers;
    else ++others;
  }
  return numbers > 0 && numbers > others;
}

CsvTable parse_csv(const std::string& text, const std::string& path) {
  CsvTable t;
  t.path = path;
  size_t i = 0;
  const size_t n = text.size();
  if (n >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF)
    i = 3;
  int64_t line_no = 1;
  bool have_header = false;
  while (i < n) {
    // One record; a quoted field may span lines.
    const int64_t record_line = line_no;
    std::vector<std::string> fields;
    std::string field;
    bool in_quotes = false, field_was_quoted = false, record_done = false;
    while (i < n && !record_done) {
      char ch = text[i];
      if (in_quotes) {
        if (ch == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field += '"';
            i += 2;
          } else {
            in_quotes = false;
            ++i;
          }
        } else {
          if (ch == '\n') ++line_no;
          field += ch;
          ++i;
        }
        continue;
      }
      if (ch == '"' && field.empty() && !field_was_quoted) {
        in_quotes = field_was_quoted = true;
        ++i;
      } else if (ch == ',') {
        fields.push_back(std::move(field));
        field.clear();
        field_was_quoted = false;
        ++i;
      } else if (ch == '\r' && i + 1 < n && text[i + 1] == '\n') {
        i += 2;
        ++line_no;
        record_done = true;
      } else if (ch == '\n') {
        ++i;
        ++line_no;
        record_done = true;
      } else {
        field += ch;
        ++i;
      }
    }
    if (in_quotes)
      throw_error(ErrorCode::kInvalidArgument, path + ":" + std::to_string(record_line) + ": unterminated quoted field");
    fields.push_back(std::move(field));
    if (fields.size() == 1 && fields[0].empty() && !field_was_quoted) continue;  // blank line
    if (!have_header) {
      std::unordered_set<std::string> seen;
      for (size_t c = 0; c < fields.size(); ++c)
        if (!seen.insert(fields[c]).second)
          throw_error(ErrorCode::kInvalidArgument, path + ":" + std::to_string(record_line) + ":" +
                                                       std::to_string(c + 1) + ": duplicate column name '" +
                                                       fields[c] + "' in the header");
      t.header = std::move(fields);
      have_header = true;
      continue;
    }
    if (fields.size() != t.header.size())
      throw_error(ErrorCode::kInvalidArgument, path + ":" + std::to_string(record_line) + ": row has " +
                                                   std::to_string(fields.size()) + " fields, but the header has " +
                                                   std::to_string(t.header.size()));
    t.rows.push_back(std::move(fields));
    t.line.push_back(record_line);
  }
  if (!have_header) throw_error(ErrorCode::kInvalidArgument, "file '" + path + "' is empty (no header row)");
  return t;
}

CsvTable read_csv(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(ErrorCode::kNotFound, "cannot open CSV file '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_csv(ss.str(), path);
}

}  // namespace edgeopt::train
