#include "csv_table.h"

#include <cstdio>
#include <fstream>

#include "hilsim/util/error.h"

namespace hilsim::cli {

std::string csv_quote(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

CsvTable& CsvTable::row() {
  rows_.emplace_back();
  return *this;
}

CsvTable& CsvTable::cell(const std::string& v) {
  if (rows_.empty()) rows_.emplace_back();
  rows_.back().push_back(csv_quote(v));
  return *this;
}

CsvTable& CsvTable::cell(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);  // enough digits to read back what was measured
  return cell(std::string(b));
}

CsvTable& CsvTable::cell(long long v) { return cell(std::to_string(v)); }

std::string CsvTable::text() const {
  std::string t;
  for (size_t i = 0; i < header_.size(); ++i) t += (i ? "," : "") + csv_quote(header_[i]);
  t += "\n";
  for (const auto& r : rows_) {
    for (size_t i = 0; i < r.size(); ++i) t += (i ? "," : "") + r[i];
    t += "\n";
  }
  return t;
}

void CsvTable::write(const std::string& path, const std::string& flag) const {
  for (size_t i = 0; i < rows_.size(); ++i)
    if (rows_[i].size() != header_.size())
      throw Error(flag + " " + path, "row " + std::to_string(i + 1) + " has " + std::to_string(rows_[i].size()) +
                                         " cells for " + std::to_string(header_.size()) + " columns");
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error(flag + " " + path, "cannot be written");
  f << text();
  if (!f) throw Error(flag + " " + path, "write failed");
}

}  // namespace hilsim::cli
