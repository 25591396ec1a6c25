// Standard base64 encoding and strict decoding.
#include <qail/protocol/base64.hpp>

#include <array>

namespace qail::protocol {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::uint8_t invalid_sextet = 0xff;

/// Maps each byte to its 6-bit value, or invalid_sextet for bytes outside the alphabet
/// (including '=', which the decoder handles separately).
constexpr std::array<std::uint8_t, 256> decode_table = [] {
    std::array<std::uint8_t, 256> table{};
    table.fill(invalid_sextet);
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    }
    return table;
}();

[[nodiscard]] std::uint8_t sextet(char c) noexcept {
    return decode_table[static_cast<unsigned char>(c)];
}

} // namespace

std::string base64_encode(std::span<const std::uint8_t> data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; data.size() - i >= 3; i += 3) {
        const std::uint32_t group = (std::uint32_t{data[i]} << 16) |
                                    (std::uint32_t{data[i + 1]} << 8) | std::uint32_t{data[i + 2]};
        out.push_back(alphabet[(group >> 18) & 0x3fU]);
        out.push_back(alphabet[(group >> 12) & 0x3fU]);
        out.push_back(alphabet[(group >> 6) & 0x3fU]);
        out.push_back(alphabet[group & 0x3fU]);
    }
    const std::size_t rest = data.size() - i;
    if (rest == 1) {
        const std::uint32_t group = std::uint32_t{data[i]} << 16;
        out.push_back(alphabet[(group >> 18) & 0x3fU]);
        out.push_back(alphabet[(group >> 12) & 0x3fU]);
        out.append("==");
    } else if (rest == 2) {
        const std::uint32_t group =
            (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
        out.push_back(alphabet[(group >> 18) & 0x3fU]);
        out.push_back(alphabet[(group >> 12) & 0x3fU]);
        out.push_back(alphabet[(group >> 6) & 0x3fU]);
        out.push_back('=');
    }
    return out;
}

std::string base64_encode(std::string_view data) {
    return base64_encode(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::size_t padding = 0;
    if (!text.empty() && text.back() == '=') {
        padding = text[text.size() - 2] == '=' ? 2 : 1;
    }
    std::vector<std::uint8_t> out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        // Only the final quantum may carry padding; everywhere else '=' is just an
        // invalid character, which sextet() reports.
        const std::size_t pad_here = last ? padding : 0;
        std::uint32_t group = 0;
        for (std::size_t j = 0; j < 4 - pad_here; ++j) {
            const std::uint8_t value = sextet(text[i + j]);
            if (value == invalid_sextet) {
                return std::nullopt;
            }
            group = (group << 6) | value;
        }
        group <<= 6 * pad_here;
        out.push_back(static_cast<std::uint8_t>(group >> 16));
        if (pad_here == 2) {
            if ((group & 0xffffU) != 0) {
                return std::nullopt; // non-zero bits under the padding: non-canonical
            }
            break;
        }
        out.push_back(static_cast<std::uint8_t>(group >> 8));
        if (pad_here == 1) {
            if ((group & 0xffU) != 0) {
                return std::nullopt;
            }
            break;
        }
        out.push_back(static_cast<std::uint8_t>(group));
    }
    return out;
}

} // namespace qail::protocol
