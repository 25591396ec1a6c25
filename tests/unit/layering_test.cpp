// Enforces the layer rules of STYLE.md on the source tree: driver/protocol uses
// the standard library only, and nothing in driver/ includes daemon/.
#include "test_support.hpp"

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct include_line {
    std::string file;
    std::string header;
};

std::vector<include_line> includes_under(const fs::path& dir) {
    static const std::regex include_re(R"(^\s*#\s*include\s*([<"])([^>"]+)[>"])");
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
            std::smatch m;
            if (std::regex_search(line, m, include_re))
                out.push_back({entry.path().string(), m[2].str()});
        }
    }
    return out;
}

// A standard library header: a bare lowercase name such as <string> or <cstdint>.
bool is_standard_header(const std::string& h) {
    static const std::regex std_re(R"(^[a-z_]+$)");
    return std::regex_match(h, std_re);
}

} // namespace

TEST_CASE("driver/protocol includes only the standard library and itself") {
    const fs::path root = fs::path(QAIL_SOURCE_DIR) / "driver" / "protocol";
    const auto includes = includes_under(root);
    REQUIRE(includes.size() > 20); // the scan found the codec
    for (const auto& inc : includes) {
        CAPTURE(inc.file);
        CAPTURE(inc.header);
        CHECK((is_standard_header(inc.header) || inc.header.rfind("qail/protocol/", 0) == 0));
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
