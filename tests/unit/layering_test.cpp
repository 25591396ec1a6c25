// Enforces the layer rules of STYLE.md on the source tree: driver/protocol uses
// the standard library only, and nothing in driver/ includes daemon/.
#include "test_support.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct include_line {
    std::string file;
    std::string header;
};

// The header named by an #include line, or nullopt for any other line.
std::optional<std::string> included_header(const std::string& line) {
    std::size_t i = line.find_first_not_of(" \t");
    if (i == std::string::npos || line[i] != '#')
        return std::nullopt;
    i = line.find_first_not_of(" \t", i + 1);
    if (i == std::string::npos || line.compare(i, 7, "include") != 0)
        return std::nullopt;
    i = line.find_first_of("<\"", i + 7);
    if (i == std::string::npos)
        return std::nullopt;
    const char close = line[i] == '<' ? '>' : '"';
    const std::size_t end = line.find(close, i + 1);
    if (end == std::string::npos)
        return std::nullopt;
    return line.substr(i + 1, end - i - 1);
}

std::vector<include_line> includes_under(const fs::path& dir) {
    std::vector<include_line> out;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (!entry.is_regular_file())
            continue;
        const auto ext = entry.path().extension();
        if (ext != ".hpp" && ext != ".cpp" && ext != ".h")
            continue;
        std::ifstream in(entry.path());
        std::string line;
        while (std::getline(in, line)) {
            if (auto header = included_header(line))
                out.push_back({entry.path().string(), *header});
        }
    }
    return out;
}

// A standard library header: a bare lowercase name such as <string> or <cstdint>.
bool is_standard_header(const std::string& h) {
    return !h.empty() && std::all_of(h.begin(), h.end(),
                                     [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

// The compiler's own headers for CPU instructions (sha256.cpp's SHA extensions): they
// declare builtins and link nothing.
bool is_compiler_intrinsics_header(const std::string& h) {
    return h == "immintrin.h" || h == "cpuid.h";
}

} // namespace

TEST_CASE("driver/protocol includes only the standard library and itself") {
    const fs::path root = fs::path(QAIL_SOURCE_DIR) / "driver" / "protocol";
    const auto includes = includes_under(root);
    REQUIRE(includes.size() > 20); // the scan found the codec
    for (const auto& inc : includes) {
        CAPTURE(inc.file);
        CAPTURE(inc.header);
        CHECK((is_standard_header(inc.header) || is_compiler_intrinsics_header(inc.header) ||
               inc.header.rfind("qail/protocol/", 0) == 0));
    }
}

TEST_CASE("nothing in driver/ includes daemon/") {
    const fs::path root = fs::path(QAIL_SOURCE_DIR) / "driver";
    for (const auto& inc : includes_under(root)) {
        CAPTURE(inc.file);
        CAPTURE(inc.header);
        CHECK(inc.header.find("daemon/") == std::string::npos);
        CHECK(inc.header.rfind("qail/daemon", 0) != 0);
    }
}
