// CsvTable: a whole CSV file in memory, with the line number of every row, so that every parse
// error can name file:line:column, the column's name and the offending text.
//
//   CsvTable t = read_csv("seattle-weather.csv");
//   size_t c = t.column_index("temp_max");          // throws, listing the columns, when absent
//   std::vector<double> v = t.numeric_column(c);    // throws "file:17:3: column 'temp_max' ..."
//
// Dialect: comma separated, first row is the header, RFC 4180 quotes ("a,b", "" for a quote),
// LF or CRLF line ends, blank lines skipped, a UTF-8 byte order mark ignored.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgeopt::train {

struct CsvTable {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // every row has header.size() fields
  std::vector<int64_t> line;                   // 1-based line of each row in the file

  size_t num_rows() const { return rows.size(); }
  // Throws NotFound "file 'x.csv' has no column 'foo' (columns: a, b, c)".
  size_t column_index(const std::string& name) const;
  bool has_column(const std::string& name) const;
  // "file:line:col" for row r (0-based) and column c (0-based); columns print 1-based.
  std::string where(size_t r, size_t c) const;
  // Parses every field of column c as a number; empty fields are an error unless allow_empty,
  // in which case they are returned as NaN. Throws InvalidArgument naming file:line:col, the
  // column and the text.
  std::vector<double> numeric_column(size_t c, bool allow_empty = false) const;
  // True when every non-empty field parses as a number (and at least one is non-empty).
  bool is_numeric_column(size_t c) const;
};

// Reads a CSV file. Throws NotFound when the file cannot be opened, InvalidArgument for an empty
// file, duplicate header names, an unterminated quote or a row whose field count differs from the
// header's (naming file:line and both counts).
CsvTable read_csv(const std::string& path);
// Same, from text already in memory; `path` is used in error messages.
CsvTable parse_csv(const std::string& text, const std::string& path);

// Strict number parse: the whole field (surrounding spaces allowed) must be a finite or
// "nan"/"inf" value; returns nullopt otherwise.
std::optional<double> parse_number(const std::string& field);

}  // namespace edgeopt::train
