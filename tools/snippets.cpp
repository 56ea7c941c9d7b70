// Keeps the code blocks of the docs equal to regions of compiled examples.
//
// In a Markdown file, a block
//     <!-- snippet: examples/01_minimal.cpp#train -->
//     ```cpp
//     ...
//     ```
//     <!-- end snippet -->
// holds the lines of examples/01_minimal.cpp between "// [example-begin train]" and
// "// [example-end train]", dedented. `snippets check ROOT FILE...` fails (exit 1) naming every
// stale block; `snippets update ROOT FILE...` rewrites them. Files are written atomically.
#include <asgd/detail/files.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string region(const std::filesystem::path& root, const std::string& ref) {
  const auto hash = ref.find('#');
  if (hash == std::string::npos) throw std::runtime_error("snippet reference '" + ref + "' has no #name");
  const std::string file = ref.substr(0, hash), name = ref.substr(hash + 1);
  const std::string src = read(root / file);
  const std::string begin = "// [example-begin " + name + "]\n", end = "// [example-end " + name + "]";
  const auto b = src.find(begin);
  if (b == std::string::npos) throw std::runtime_error(file + " has no '" + begin.substr(0, begin.size() - 1) + "'");
  const auto start = b + begin.size();
  auto e = src.find(end, start);
  if (e == std::string::npos) throw std::runtime_error(file + " has no '" + end + "'");
  e = src.rfind('\n', e) + 1;  // start of the end marker's line
  // Split into lines, dedent by the smallest indentation of a non-empty line.
  std::vector<std::string> lines;
  std::istringstream in(src.substr(start, e - start));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::size_t indent = std::string::npos;
  for (const auto& l : lines) {
    const auto first = l.find_first_not_of(' ');
    if (first != std::string::npos && first < indent) indent = first;
  }
  std::string out;
  for (const auto& l : lines) out += (l.size() > indent ? l.substr(indent) : std::string()) + "\n";
  return out;
}

// Returns the file's text with every snippet block refreshed.
std::string refresh(const std::filesystem::path& root, const std::string& text, const std::string& doc) {
  const std::string open = "<!-- snippet: ", close = "<!-- end snippet -->";
  std::string out;
  std::size_t at = 0;
  for (;;) {
    const auto s = text.find(open, at);
    if (s == std::string::npos) break;
    const auto marker_end = text.find("-->", s);
    const auto e = text.find(close, s);
    if (marker_end == std::string::npos || e == std::string::npos) {
      throw std::runtime_error(doc + ": snippet at offset " + std::to_string(s) + " has no '" + close + "'");
    }
    std::string ref = text.substr(s + open.size(), marker_end - s - open.size());
    while (!ref.empty() && ref.back() == ' ') ref.pop_back();
    out += text.substr(at, marker_end + 3 - at);
    out += "\n```cpp\n" + region(root, ref) + "```\n";
    at = e;
  }
  return out + text.substr(at);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (std::string(argv[1]) != "check" && std::string(argv[1]) != "update")) {
    std::fprintf(stderr, "usage: snippets check|update ROOT FILE...\n");
    return 2;
  }
  const bool update = std::string(argv[1]) == "update";
  const std::filesystem::path root = argv[2];
  int stale = 0;
  try {
    for (int i = 3; i < argc; ++i) {
      const std::filesystem::path doc = root / argv[i];
      const std::string text = read(doc);
      const std::string fresh = refresh(root, text, argv[i]);
      if (fresh == text) continue;
      ++stale;
      if (update) {
        asgd::detail::write_file_atomically(doc, fresh);
        std::printf("updated %s\n", argv[i]);
      } else {
        std::fprintf(stderr, "%s: a code block differs from its example; run `cmake --build <build> --target docs`\n",
                     argv[i]);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "snippets: %s\n", e.what());
    return 2;
  }
  return update || stale == 0 ? 0 : 1;
}
