// Random garbage and random mutations of valid messages: decoders must report
// an error or a value, never crash or read outside the input (the ASan build checks).
#include "codec_samples.hpp"
#include "test_support.hpp"

#include <qail/protocol/message.hpp>

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace qail::protocol {
namespace {

// Copies `in` into an exactly-sized heap block so any over-read hits ASan's redzone.
std::unique_ptr<char[]> exact_copy(const std::string& in) {
    auto p = std::make_unique<char[]>(in.size() + (in.empty() ? 1 : 0));
    std::copy(in.begin(), in.end(), p.get());
    return p;
}

template <class Decoded>
void check_consistent(const Decoded& d, std::size_t input_size) {
    if (d.complete()) {
        CHECK(d.size <= input_size);
        CHECK(d.size > 0);
    } else if (d.needs_more()) {
        CHECK(d.need > 0);
    }
}

// Iterates every lazy view a decoded message exposes, forcing all reads.
struct touch_all {
    std::size_t n = 0;
    template <class T>
    void operator()(const T& m) {
        if constexpr (requires { m.values; })
            for (auto v : m.values)
                n += v ? v->size() : 1;
        if constexpr (requires { m.parameters; })
            for (auto v : m.parameters)
                n += v ? v->size() : 1;
        if constexpr (requires { m.fields.begin(); })
            for (auto f : m.fields)
                n += f.name.size();
        if constexpr (requires { m.parameter_types; })
            for (auto v : m.parameter_types)
                n += static_cast<std::size_t>(v & 1);
        if constexpr (requires { m.unrecognized_options; })
            for (auto v : m.unrecognized_options)
                n += v.size();
        if constexpr (requires { m.params; })
            for (auto p : m.params)
                n += p.name.size() + p.value.size();
    }
};

void decode_everything(const std::string& bytes) {
    const auto buf = exact_copy(bytes);
    const byte_view in{buf.get(), bytes.size()};
    limits lim;
    lim.max_message_size = 1 << 16;
    const auto f = decode_frontend(in, lim);
    check_consistent(f, in.size());
    if (f.complete())
        std::visit(touch_all{}, f.message);
    const auto b = decode_backend(in, lim);
    check_consistent(b, in.size());
    if (b.complete()) {
        touch_all t;
        std::visit(t, b.message);
        if (const auto* a = std::get_if<authentication_request>(&b.message))
            if (const auto* s = std::get_if<authentication_sasl>(a))
                for (auto m : s->mechanisms)
                    t.n += m.size();
    }
    const auto s = decode_startup(in, lim);
    check_consistent(s, in.size());
    if (s.complete())
        std::visit(touch_all{}, s.message);
    // The 'p' family decoders on arbitrary bodies.
    const byte_view body = in.size() > 5 ? in.substr(5) : in;
    password_message pm;
    sasl_initial_response si;
    (void)decode(body, pm);
    (void)decode(body, si);
}

} // namespace

TEST_CASE("random garbage never crashes a decoder") {
    std::mt19937_64 rng(20261124);
    std::uniform_int_distribution<int> len_dist(0, 64);
    std::uniform_int_distribution<int> byte_dist(0, 255);
    const std::string types = "RKvSZTDCIEN123tnsGHWdcAVQPBDEHSCfFXp";
    for (int i = 0; i < 20000; ++i) {
        std::string s(static_cast<std::size_t>(len_dist(rng)), '\0');
        for (auto& c : s)
            c = static_cast<char>(byte_dist(rng));
        // Half of the inputs get a plausible header so bodies get decoded too.
        if (i % 2 == 0 && s.size() >= 5) {
            s[0] = types[static_cast<std::size_t>(byte_dist(rng)) % types.size()];
            const auto body = static_cast<std::uint32_t>(s.size() - 1);
            s[1] = 0;
            s[2] = 0;
            s[3] = static_cast<char>((body >> 8U) & 0xFFU);
            s[4] = static_cast<char>(body & 0xFFU);
        }
        decode_everything(s);
    }
}

TEST_CASE("random mutations of valid messages never crash a decoder") {
    std::vector<test::sample> all = test::frontend_samples();
    for (auto& s : test::backend_samples())
        all.push_back(s);
    for (auto& s : test::startup_samples())
        all.push_back(s);
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<int> byte_dist(0, 255);
    for (const auto& s : all) {
        CAPTURE(s.name);
        for (int i = 0; i < 400; ++i) {
            std::string m = s.bytes;
            const int edits = 1 + i % 4;
            for (int e = 0; e < edits; ++e) {
                const std::size_t pos = static_cast<std::size_t>(rng() % m.size());
                switch (rng() % 3) {
                case 0:
                    m[pos] = static_cast<char>(byte_dist(rng));
                    break;
                case 1:
                    m.erase(pos, 1);
                    break;
                default:
                    m.insert(pos, 1, static_cast<char>(byte_dist(rng)));
                    break;
                }
                if (m.empty())
                    m.push_back('\0');
            }
            decode_everything(m);
        }
    }
}

} // namespace qail::protocol
