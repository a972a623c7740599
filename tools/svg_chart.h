// Small SVG charts written by hand for `hilsim report`: no scripts, no fonts or assets from elsewhere,
// so the page opens offline. Every data mark carries class="mark" (what a test counts); axes, grid
// and labels do not.
#pragma once

#include <string>
#include <vector>

namespace hilsim::cli::svg {

std::string escape(const std::string& s);  // for text and attributes

struct Series {
  std::string name, color;
  std::vector<double> values;  // one per label; < 0 = none
};
// Horizontal bars, one row per label, one bar per series in each row.
std::string hbar_chart(const std::string& id, const std::string& title, const std::vector<std::string>& labels,
                       const std::vector<Series>& series, const std::string& value_label);

struct Point {
  double x = 0, y = 0;
  std::string label;  // tooltip
};
struct ScatterOptions {
  std::string x_label, y_label;
  bool log_axes = false;  // both axes log10 (latencies over decades)
  bool diagonal = false;  // y = x
  bool connect = false;   // a line through the points in order (a front)
  std::vector<Point> marked;  // drawn larger, in red, labelled
};
std::string scatter(const std::string& id, const std::string& title, const std::vector<Point>& points,
                    const ScatterOptions& o);

struct Span {
  std::string lane, label, color;
  double start = 0, end = 0;
};
// One lane per unit, spans over time (ms).
std::string timeline(const std::string& id, const std::string& title, const std::vector<std::string>& lanes,
                     const std::vector<Span>& spans);

struct Part {
  std::string name, color;
  double value = 0;
};
struct Stack {
  std::string label, unit;  // unit printed after the total, e.g. "MiB"
  std::vector<Part> parts;
};
// One horizontal 100% bar per stack, split into its parts, with the totals written.
std::string stacked_bars(const std::string& id, const std::string& title, const std::vector<Stack>& stacks);

}  // namespace hilsim::cli::svg
