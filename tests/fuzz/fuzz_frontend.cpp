// Fuzz target: frontend messages (what the proxy reads from untrusted clients).
#include <qail/protocol/message.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qail::protocol;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    limits lim;
    lim.max_message_size = 1 << 16;
    while (!in.empty()) {
        const auto d = decode_frontend(in, lim);
        if (!d.complete())
            break;
        std::size_t sink = 0;
        if (const auto* b = std::get_if<bind>(&d.message)) {
            for (auto v : b->parameters)
                sink += v ? v->size() : 0;
            for (auto f : b->parameter_formats)
                sink += static_cast<std::size_t>(f & 1);
        }
        if (const auto* p = std::get_if<parse>(&d.message))
            for (auto t : p->parameter_types)
                sink += static_cast<std::size_t>(t & 1);
        if (const auto* a = std::get_if<authentication_response>(&d.message)) {
            sasl_initial_response s;
            password_message pw;
            (void)decode(a->body, s);
            (void)decode(a->body, pw);
        }
        (void)sink;
        in.remove_prefix(d.size);
    }
    return 0;
}
