// Relay framing: whole small messages, large ones in pieces, split at every offset.
#include "test_support.hpp"

#include <qail/proxy/relay_scanner.hpp>

#include <random>
#include <string>
#include <vector>

namespace {

using qail::proxy::relay_scanner;
using qail::proxy::scan_step;

std::string msg(char type, std::string_view body) {
    std::string m(1, type);
    const auto len = static_cast<std::uint32_t>(body.size() + 4);
    for (int shift = 24; shift >= 0; shift -= 8)
        m.push_back(static_cast<char>((len >> shift) & 0xFFU));
    m.append(body);
    return m;
}

struct seen {
    char type;
    std::string bytes; // reassembled
};

// Feeds `stream` in chunks at the given cut points, reassembling what the scanner hands
// over, the way a relay loop consumes its buffer.
std::vector<seen> relay(relay_scanner& sc, const std::string& stream,
                        const std::vector<std::size_t>& cuts) {
    std::vector<seen> out;
    std::string buf;
    std::size_t pos = 0;
    std::size_t next_cut = 0;
    bool in_piece = false;
    while (true) {
        const std::size_t upto = next_cut < cuts.size() ? cuts[next_cut++] : stream.size();
        buf.append(stream.substr(pos, upto - pos));
        pos = upto;
        for (;;) {
            const auto s = sc.next(buf);
            if (s.what == scan_step::kind::need_more)
                break;
            REQUIRE(s.what != scan_step::kind::bad_length);
            if (s.what == scan_step::kind::message) {
                out.push_back({s.type, buf.substr(0, s.size)});
            } else {
                if (s.first || !in_piece)
                    out.push_back({s.type, {}});
                out.back().bytes.append(buf.substr(0, s.size));
                in_piece = !s.last;
            }
            buf.erase(0, s.size);
        }
        if (pos == stream.size())
            break;
    }
    CHECK(buf.empty());
    return out;
}

} // namespace

TEST_CASE("relay scanner: small messages come whole at every split offset") {
    const std::string a = msg('Z', "I");
    const std::string b = msg('D', std::string(300, 'x'));
    const std::string c = msg('C', std::string("SELECT 1") + '\0');
    const std::string stream = a + b + c;
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        relay_scanner sc(1 << 20, 1024);
        const auto got = relay(sc, stream, {cut});
        REQUIRE(got.size() == 3);
        CHECK(got[0].bytes == a);
        CHECK(got[1].bytes == b);
        CHECK(got[2].bytes == c);
    }
}

TEST_CASE("relay scanner: a large message passes through in pieces, reassembling exactly") {
    const std::string big = msg('D', std::string(5000, 'y'));
    const std::string tail = msg('Z', "T");
    const std::string stream = big + tail;
    for (std::size_t cut = 0; cut <= stream.size(); cut += 7) {
        relay_scanner sc(1 << 20, 1024);
        const auto got = relay(sc, stream, {cut, std::min(stream.size(), cut + 1500)});
        REQUIRE(got.size() == 2);
        CHECK(got[0].type == 'D');
        CHECK(got[0].bytes == big);
        CHECK(got[1].bytes == tail);
    }
}

TEST_CASE("relay scanner: a type that must be whole is buffered whatever its size") {
    relay_scanner sc(1 << 20, 16);
    sc.require_whole('Q');
    const std::string q = msg('Q', std::string(100, 'q') + '\0');
    auto s = sc.next(std::string_view{q}.substr(0, 50));
    CHECK(s.what == scan_step::kind::need_more);
    CHECK(s.size == q.size() - 50);
    s = sc.next(q);
    CHECK(s.what == scan_step::kind::message);
    CHECK(s.size == q.size());
}

TEST_CASE("relay scanner: lengths below 4 or over the limit are bad_length, without wrapping") {
    for (const std::uint32_t len : {0U, 1U, 3U, 0x7FFFFFFFU, 0xFFFFFFFFU, 1025U + 4U}) {
        relay_scanner sc(1024, 64);
        std::string m(1, 'Q');
        for (int shift = 24; shift >= 0; shift -= 8)
            m.push_back(static_cast<char>((len >> shift) & 0xFFU));
        CHECK(sc.next(m).what == scan_step::kind::bad_length);
    }
    relay_scanner ok(1024, 64);
    CHECK(ok.next(msg('Q', std::string(1024, 'a'))).what != scan_step::kind::bad_length);
}

TEST_CASE("relay scanner: random garbage never over-reads and always makes progress") {
    std::mt19937 rng(1234);
    for (int round = 0; round < 2000; ++round) {
        std::string g(rng() % 64, '\0');
        for (char& ch : g)
            ch = static_cast<char>(rng() & 0xFF);
        relay_scanner sc(4096, 32);
        std::string_view v = g;
        for (int i = 0; i < 100 && !v.empty(); ++i) {
            const auto s = sc.next(v);
            if (s.what == scan_step::kind::need_more || s.what == scan_step::kind::bad_length)
                break;
            REQUIRE(s.size > 0);
            REQUIRE(s.size <= v.size());
            v.remove_prefix(s.size);
        }
    }
}
