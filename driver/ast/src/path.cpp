// Rendering tokens for error messages.
#include <qail/ast/detail/path.hpp>

namespace qail::ast::detail {

std::string quoted_token(std::string_view text, std::size_t max) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    const bool cut = text.size() > max;
    if (cut)
        text = text.substr(0, max);
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            out += "\\u00";
            out += hex[u >> 4];
            out += hex[u & 0xf];
        } else {
            out += c;
        }
    }
    out += '"';
    if (cut)
        out += "...";
    return out;
}

} // namespace qail::ast::detail
