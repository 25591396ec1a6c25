// Garbage in, errors out: truncations at every byte offset, byte flips and random edits of
// every QAIL.md example never crash the parser (run under ASan/UBSan in CI), and whatever
// still parses compiles or is refused cleanly and round-trips through the exact shape.
#include "ast/json_samples.hpp"
#include "test_support.hpp"

#include <qail/ast/compile.hpp>
#include <qail/ast/json.hpp>

#include <cstdint>
#include <random>
#include <string>

namespace qail::ast {
namespace {

const parse_options trusted{json_limits{}, trust::trusted};

/// Parses `text` in both trust modes and checks the invariants of whatever comes out.
void feed(const std::string& text, std::size_t& parsed) {
    for (const parse_options& o : {trusted, parse_options{}}) {
        auto r = parse_json(text, o);
        if (!r) {
            CHECK_FALSE(r.error().message().empty());
            CHECK(r.error().code != errc::ok);
            continue;
        }
        ++parsed;
        auto c = compile(*r);
        if (!c)
            CHECK_FALSE(c.error().message().empty());
        const std::string exact = to_json(*r);
        auto back = parse_json(exact, trusted);
        REQUIRE_MESSAGE(back.has_value(), exact);
        CHECK(*back == *r);
    }
}

} // namespace

TEST_CASE("ast json mutation: every truncation of every example is handled") {
    std::size_t parsed = 0;
    for (const auto& doc : test::all_documents())
        for (std::size_t n = 0; n <= doc.size(); ++n)
            feed(doc.substr(0, n), parsed);
    CHECK(parsed > 0); // the whole documents parse
}

TEST_CASE("ast json mutation: single-byte substitutions at every offset") {
    static constexpr char replacements[] = {'"', '{', '}',  '[', ']', ',',  ':',   '0',
                                            '-', 'e', '\\', ' ', 'x', '\0', '\x7f'};
    std::size_t parsed = 0;
    for (const auto& doc : test::all_documents()) {
        for (std::size_t i = 0; i < doc.size(); ++i) {
            for (const char c : replacements) {
                std::string m = doc;
                m[i] = c;
                feed(m, parsed);
            }
            std::string flipped = doc;
            flipped[i] = static_cast<char>(static_cast<unsigned char>(flipped[i]) ^ 0x80U);
            feed(flipped, parsed);
        }
    }
    CHECK(parsed > 0);
}

TEST_CASE("ast json mutation: random multi-byte edits with a fixed seed") {
    std::mt19937 rng(20240501);
    const auto docs = test::all_documents();
    std::size_t parsed = 0;
    for (int round = 0; round < 4000; ++round) {
        std::string m = docs[rng() % docs.size()];
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits && !m.empty(); ++e) {
            const std::size_t at = rng() % m.size();
            switch (rng() % 4) {
            case 0:
                m[at] = static_cast<char>(rng() % 256);
                break;
            case 1:
                m.erase(at, 1 + rng() % 8);
                break;
            case 2:
                m.insert(at, m.substr(rng() % m.size(), 1 + rng() % 16));
                break;
            default:
                m.insert(at, 1, "{}[]\",:0\\"[rng() % 9]);
                break;
            }
        }
        feed(m, parsed);
    }
    CHECK(parsed > 0);
}

} // namespace qail::ast
