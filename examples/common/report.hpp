// Result tables as the reports print them: one row per configuration, measured columns plus the
// ratios to the first row (the original model), written as Markdown, CSV, JSON and an SVG chart
// of small multiples (one bar chart per chosen column) that a browser opens.
//
// Ratios, exactly as the reports define them (DESIGN.md):
//   size_reduction = 1 - size / size_orig;  speedup = latency_orig / latency;
//   retention = metric / metric_orig   (accuracy), change = metric / metric_orig - 1 (perplexity)
#pragma once

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <quant/error.hpp>

namespace quant::examples {

struct column {
    std::string key;     // CSV/JSON name, e.g. "model_size_mb"
    std::string title;   // chart title, e.g. "Model size (MB)"
    int precision = 4;   // digits after the point in Markdown
    double reference = std::nan("");  // drawn as a dashed line in the chart (e.g. 1 = as fast as dense)
};

struct report {
    std::string title;
    std::vector<column> columns;  // in order
    struct row {
        std::string name;
        std::map<std::string, double> values;  // missing = not applicable (NaN in the table)
    };
    std::vector<row> rows;

    double get(const row& r, const std::string& k) const {
        const auto it = r.values.find(k);
        return it == r.values.end() ? std::nan("") : it->second;
    }

    // Adds derived columns from the first row: key_out = f(value, value of the original).
    void derive(const std::string& key_in, const column& out, double (*f)(double v, double orig)) {
        quant::detail::check(!rows.empty(), "report: no rows to derive from");
        const double orig = get(rows.front(), key_in);
        columns.push_back(out);
        for (std::size_t i = 1; i < rows.size(); ++i) rows[i].values[out.key] = f(get(rows[i], key_in), orig);
    }

    void markdown(std::ostream& os) const {
        os << "| configuration |";
        for (const auto& c : columns) os << ' ' << c.key << " |";
        os << "\n|---|";
        for (std::size_t i = 0; i < columns.size(); ++i) os << "---:|";
        os << '\n';
        for (const auto& r : rows) {
            os << "| " << r.name << " |";
            for (const auto& c : columns) {
                const double v = get(r, c.key);
                if (std::isnan(v)) os << " NaN |";
                else os << ' ' << std::fixed << std::setprecision(c.precision) << v << " |";
            }
            os << '\n';
        }
    }

    void csv(std::ostream& os) const {
        os << "configuration";
        for (const auto& c : columns) os << ',' << c.key;
        os << '\n';
        for (const auto& r : rows) {
            os << '"' << r.name << '"';
            for (const auto& c : columns) {
                const double v = get(r, c.key);
                os << ',';
                if (!std::isnan(v)) os << std::setprecision(9) << v;
            }
            os << '\n';
        }
    }

    nlohmann::json json() const {
        nlohmann::json j;
        j["title"] = title;
        for (const auto& r : rows) {
            nlohmann::json o;
            o["configuration"] = r.name;
            for (const auto& c : columns) {
                const double v = get(r, c.key);
                o[c.key] = std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
            }
            j["rows"].push_back(o);
        }
        return j;
    }

    // One horizontal bar chart per key, side by side, every configuration a bar with its value.
    std::string svg(const std::vector<std::string>& keys) const {
        std::size_t longest = 0;
        for (const auto& r : rows) longest = std::max(longest, r.name.size());
        const int panel_w = 330, bar_h = 22, gap = 6, top = 56;
        const int label_w = std::max(150, 7 * int(longest) + 24);  // ~7 px per character at 12 px
        const int H = top + int(rows.size()) * (bar_h + gap) + 40, W = int(keys.size()) * panel_w + label_w + 20;
        const char* colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"};
        std::ostringstream s;
        s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
          << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n"
          << "<text x='10' y='22' font-size='16' font-weight='bold'>" << escape(title) << "</text>\n";
        for (std::size_t i = 0; i < rows.size(); ++i)
            s << "<text x='10' y='" << top + int(i) * (bar_h + gap) + 15 << "'>" << escape(rows[i].name) << "</text>\n";
        for (std::size_t p = 0; p < keys.size(); ++p) {
            const auto it = std::find_if(columns.begin(), columns.end(), [&](const column& c) { return c.key == keys[p]; });
            quant::detail::check(it != columns.end(), "report: no column ", keys[p]);
            double mx = 0;
            for (const auto& r : rows) mx = std::max(mx, std::isnan(get(r, keys[p])) ? 0.0 : get(r, keys[p]));
            if (!std::isnan(it->reference)) mx = std::max(mx, it->reference);
            const int x0 = label_w + int(p) * panel_w, bw = panel_w - 90;
            s << "<text x='" << x0 << "' y='44' font-weight='bold'>" << escape(it->title) << "</text>\n";
            if (!std::isnan(it->reference) && mx > 0) {
                const int xr = x0 + int(std::lround(it->reference / mx * bw));
                s << "<line x1='" << xr << "' y1='" << top - 4 << "' x2='" << xr << "' y2='" << H - 30
                  << "' stroke='black' stroke-dasharray='4,3'/>\n<text x='" << xr + 3 << "' y='" << H - 18
                  << "' font-size='11'>" << std::setprecision(4) << it->reference << "</text>\n";
            }
            for (std::size_t i = 0; i < rows.size(); ++i) {
                const double v = get(rows[i], keys[p]);
                const int y = top + int(i) * (bar_h + gap);
                const int w = (std::isnan(v) || mx <= 0) ? 0 : int(std::lround(v / mx * bw));
                s << "<rect x='" << x0 << "' y='" << y << "' width='" << w << "' height='" << bar_h << "' fill='"
                  << colors[i % 8] << "'/>\n<text x='" << x0 + w + 4 << "' y='" << y + 15 << "'>";
                if (std::isnan(v)) s << "n/a";
                else s << std::setprecision(4) << v;
                s << "</text>\n";
            }
        }
        s << "</svg>\n";
        return s.str();
    }

    // <dir>/<stem>.md, .csv, .json, .svg
    void write(const std::string& dir, const std::string& stem, const std::vector<std::string>& chart_keys) const {
        auto open = [&](const std::string& ext) {
            std::ofstream f(dir + "/" + stem + ext);
            quant::detail::check(bool(f), "report: cannot write ", dir, "/", stem, ext);
            return f;
        };
        auto md = open(".md");
        md << "## " << title << "\n\n";
        markdown(md);
        auto c = open(".csv");
        csv(c);
        auto j = open(".json");
        j << json().dump(2) << '\n';
        auto g = open(".svg");
        g << svg(chart_keys);
    }

private:
    static std::string escape(const std::string& t) {
        std::string o;
        for (char ch : t) {
            if (ch == '<') o += "&lt;";
            else if (ch == '>') o += "&gt;";
            else if (ch == '&') o += "&amp;";
            else o += ch;
        }
        return o;
    }
};

inline double size_reduction(double v, double orig) { return 1.0 - v / orig; }
inline double speedup(double v, double orig) { return orig / v; }
inline double retention(double v, double orig) { return v / orig; }
inline double relative_change(double v, double orig) { return v / orig - 1.0; }

}  // namespace quant::examples
