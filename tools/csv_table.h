// Per-op tables as CSV (`run --csv`, `predict --csv`), the shape benchmark_model's op profiling gives a
// spreadsheet or pandas: one header row, one row per op, RFC 4180 quoting.
#pragma once

#include <string>
#include <vector>

namespace hilsim::cli {

class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> header) : header_(std::move(header)) {}
  // Each call starts a row; cell() fills it left to right.
  CsvTable& row();
  CsvTable& cell(const std::string& v);
  CsvTable& cell(double v);
  CsvTable& cell(long long v);
  CsvTable& cell(int v) { return cell(static_cast<long long>(v)); }
  CsvTable& cell(long v) { return cell(static_cast<long long>(v)); }
  CsvTable& cell(bool v) { return cell(std::string(v ? "true" : "false")); }
  std::string text() const;
  // Throws Error naming `flag` and the path when it cannot be written, or when a row's width is not the header's.
  void write(const std::string& path, const std::string& flag) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::string csv_quote(const std::string& v);

}  // namespace hilsim::cli
