#include "svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace hilsim::cli::svg {

namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string fmt(double v) {
  char b[32];
  if (v != 0 && (std::fabs(v) < 0.01 || std::fabs(v) >= 1e5)) std::snprintf(b, sizeof b, "%.2g", v);
  else std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

std::string open(const std::string& id, const std::string& title, double w, double h) {
  return "<figure><figcaption>" + escape(title) + "</figcaption><svg id=\"" + escape(id) +
         "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(w) + "\" height=\"" + num(h) + "\" viewBox=\"0 0 " +
         num(w) + " " + num(h) + "\" role=\"img\" aria-label=\"" + escape(title) + "\">\n";
}

std::string text(double x, double y, const std::string& s, const std::string& anchor = "start", int size = 11) {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\">" + escape(s) + "</text>\n";
}

std::string empty_note(double w, double y, const std::string& why) {
  return text(w / 2, y, why, "middle", 13);
}

// Nice round ticks over [lo, hi].
std::vector<double> ticks(double lo, double hi, int n = 5) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(v);
  return t;
}

}  // namespace

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string hbar_chart(const std::string& id, const std::string& title, const std::vector<std::string>& labels,
                       const std::vector<Series>& series, const std::string& value_label) {
  const double left = 230, right = 70, top = 30, row = 6.0 + 9.0 * std::max<size_t>(1, series.size()), w = 860;
  const double h = top + row * labels.size() + 40, plot_w = w - left - right;
  double vmax = 0;
  for (const auto& s : series)
    for (double v : s.values) vmax = std::max(vmax, v);
  std::string o = open(id, title, w, std::max(h, 90.0));
  if (labels.empty() || !(vmax > 0)) return o + empty_note(w, 60, "no data") + "</svg></figure>\n";
  for (double t : ticks(0, vmax)) {
    const double x = left + plot_w * t / vmax;
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(top) + "\" x2=\"" + num(x) + "\" y2=\"" + num(h - 35) +
         "\" stroke=\"#ddd\"/>\n" + text(x, h - 22, fmt(t), "middle", 10);
  }
  o += text(left + plot_w / 2, h - 6, value_label, "middle");
  double lx = left;  // legend entries side by side, each as wide as its name
  for (const auto& se : series) {
    o += "<rect x=\"" + num(lx) + "\" y=\"8\" width=\"10\" height=\"10\" fill=\"" + se.color + "\"/>" +
         text(lx + 14, 17, se.name);
    lx += 30 + 6.0 * se.name.size();
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    const double y0 = top + row * i;
    o += text(left - 6, y0 + row / 2 + 4, labels[i].size() > 36 ? labels[i].substr(0, 35) + "…" : labels[i], "end", 10);
    for (size_t s = 0; s < series.size(); ++s) {
      if (i >= series[s].values.size() || series[s].values[i] < 0) continue;
      const double v = series[s].values[i], bw = plot_w * v / vmax;
      o += "<rect class=\"mark\" x=\"" + num(left) + "\" y=\"" + num(y0 + 3 + 9.0 * s) + "\" width=\"" +
           num(std::max(bw, 0.5)) + "\" height=\"8\" fill=\"" + series[s].color + "\"><title>" + escape(labels[i]) +
           " " + escape(series[s].name) + ": " + fmt(v) + " " + escape(value_label) + "</title></rect>\n";
    }
  }
  return o + "</svg></figure>\n";
}

std::string scatter(const std::string& id, const std::string& title, const std::vector<Point>& points,
                    const ScatterOptions& so) {
  const double w = 560, h = points.empty() ? 80 : 420, left = 70, right = 20, top = 20, bottom = 50;
  std::string o = open(id, title, w, h);
  std::vector<Point> all = points;
  all.insert(all.end(), so.marked.begin(), so.marked.end());
  auto tx = [&](double v) { return so.log_axes ? std::log10(std::max(v, 1e-9)) : v; };
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& p : all) {
    if (so.log_axes && (p.x <= 0 || p.y <= 0)) continue;
    x0 = std::min(x0, tx(p.x)), x1 = std::max(x1, tx(p.x)), y0 = std::min(y0, tx(p.y)), y1 = std::max(y1, tx(p.y));
  }
  if (points.empty() || x0 > x1) return o + empty_note(w, h / 2, "no data") + "</svg></figure>\n";
  if (so.diagonal) x0 = y0 = std::min(x0, y0), x1 = y1 = std::max(x1, y1);
  const double px = (x1 - x0) * 0.05 + 1e-9, py = (y1 - y0) * 0.05 + 1e-9;
  x0 -= px, x1 += px, y0 -= py, y1 += py;
  const double pw = w - left - right, ph = h - top - bottom;
  auto X = [&](double v) { return left + pw * (tx(v) - x0) / (x1 - x0); };
  auto Y = [&](double v) { return top + ph * (1 - (tx(v) - y0) / (y1 - y0)); };
  auto axis_label = [&](double t) { return so.log_axes ? fmt(std::pow(10.0, t)) : fmt(t); };
  for (double t : ticks(x0, x1)) {
    const double x = left + pw * (t - x0) / (x1 - x0);
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(top) + "\" x2=\"" + num(x) + "\" y2=\"" + num(top + ph) +
         "\" stroke=\"#eee\"/>" + text(x, top + ph + 14, axis_label(t), "middle", 10);
  }
  for (double t : ticks(y0, y1)) {
    const double y = top + ph * (1 - (t - y0) / (y1 - y0));
    o += "<line x1=\"" + num(left) + "\" y1=\"" + num(y) + "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(y) +
         "\" stroke=\"#eee\"/>" + text(left - 4, y + 3, axis_label(t), "end", 10);
  }
  o += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\" stroke=\"#888\"/>\n";
  o += text(left + pw / 2, h - 12, so.x_label + (so.log_axes ? " (log)" : ""), "middle");
  o += "<text x=\"14\" y=\"" + num(top + ph / 2) + "\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 14 " +
       num(top + ph / 2) + ")\">" + escape(so.y_label + (so.log_axes ? " (log)" : "")) + "</text>\n";
  if (so.diagonal)
    o += "<line x1=\"" + num(left) + "\" y1=\"" + num(top + ph) + "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(top) +
         "\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n";
  if (so.connect && points.size() > 1) {
    o += "<polyline class=\"mark\" fill=\"none\" stroke=\"#3b6fb6\" stroke-width=\"1.5\" points=\"";
    for (const auto& p : points) o += num(X(p.x)) + "," + num(Y(p.y)) + " ";
    o += "\"/>\n";
  }
  for (const auto& p : points) {
    if (so.log_axes && (p.x <= 0 || p.y <= 0)) continue;
    o += "<circle class=\"mark\" cx=\"" + num(X(p.x)) + "\" cy=\"" + num(Y(p.y)) +
         "\" r=\"3\" fill=\"#3b6fb6\" fill-opacity=\"0.7\"><title>" + escape(p.label) + "</title></circle>\n";
  }
  for (const auto& p : so.marked) {
    o += "<circle class=\"mark chosen\" cx=\"" + num(X(p.x)) + "\" cy=\"" + num(Y(p.y)) +
         "\" r=\"6\" fill=\"#d62728\"><title>" + escape(p.label) + "</title></circle>\n" +
         text(X(p.x) + 8, Y(p.y) - 8, p.label);
  }
  return o + "</svg></figure>\n";
}

std::string timeline(const std::string& id, const std::string& title, const std::vector<std::string>& lanes,
                     const std::vector<Span>& spans) {
  const double w = 860, left = 90, right = 20, lane_h = 26, top = 10;
  const double h = top + lane_h * std::max<size_t>(1, lanes.size()) + 40, pw = w - left - right;
  std::string o = open(id, title, w, h);
  double t1 = 0;
  for (const auto& s : spans) t1 = std::max(t1, s.end);
  if (spans.empty() || !(t1 > 0)) return o + empty_note(w, h / 2, "no data") + "</svg></figure>\n";
  std::map<std::string, size_t> lane_of;
  for (size_t i = 0; i < lanes.size(); ++i) lane_of[lanes[i]] = i;
  for (double t : ticks(0, t1)) {
    const double x = left + pw * t / t1;
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(top) + "\" x2=\"" + num(x) + "\" y2=\"" +
         num(top + lane_h * lanes.size()) + "\" stroke=\"#eee\"/>" +
         text(x, top + lane_h * lanes.size() + 14, fmt(t), "middle", 10);
  }
  o += text(left + pw / 2, h - 6, "ms (simulated schedule)", "middle");
  for (size_t i = 0; i < lanes.size(); ++i) o += text(left - 6, top + lane_h * i + lane_h / 2 + 4, lanes[i], "end");
  for (const auto& s : spans) {
    auto it = lane_of.find(s.lane);
    if (it == lane_of.end()) continue;
    const double x = left + pw * s.start / t1, bw = std::max(pw * (s.end - s.start) / t1, 0.5);
    o += "<rect class=\"mark\" x=\"" + num(x) + "\" y=\"" + num(top + lane_h * it->second + 3) + "\" width=\"" +
         num(bw) + "\" height=\"" + num(lane_h - 6) + "\" fill=\"" + s.color +
         "\" stroke=\"#fff\" stroke-width=\"0.3\"><title>" + escape(s.label) + ": " + fmt(s.start) + "-" + fmt(s.end) +
         " ms</title></rect>\n";
  }
  return o + "</svg></figure>\n";
}

std::string stacked_bars(const std::string& id, const std::string& title, const std::vector<Stack>& stacks) {
  const double w = 860, left = 150, right = 160, bar_h = 22, gap = 30, top = 10;
  const double h = top + (bar_h + gap) * std::max<size_t>(1, stacks.size()) + 10, pw = w - left - right;
  std::string o = open(id, title, w, h);
  if (stacks.empty()) return o + empty_note(w, h / 2, "no data") + "</svg></figure>\n";
  for (size_t i = 0; i < stacks.size(); ++i) {
    const double y = top + (bar_h + gap) * i;
    double total = 0;
    for (const auto& p : stacks[i].parts) total += std::max(0.0, p.value);
    o += text(left - 6, y + bar_h / 2 + 4, stacks[i].label, "end");
    o += text(left + pw + 6, y + bar_h / 2 + 4, fmt(total) + " " + stacks[i].unit);
    double x = left;
    for (const auto& p : stacks[i].parts) {
      if (!(total > 0) || p.value <= 0) continue;
      const double bw = pw * p.value / total;
      o += "<rect class=\"mark\" x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(bw) + "\" height=\"" +
           num(bar_h) + "\" fill=\"" + p.color + "\"><title>" + escape(p.name) + ": " + fmt(p.value) + " " +
           escape(stacks[i].unit) + "</title></rect>\n";
      if (bw > 60) o += text(x + 4, y + bar_h + 12, p.name + " " + fmt(100 * p.value / total) + "%", "start", 10);
      x += bw;
    }
  }
  return o + "</svg></figure>\n";
}

}  // namespace hilsim::cli::svg
