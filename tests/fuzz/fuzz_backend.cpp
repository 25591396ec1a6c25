// Fuzz target: backend messages, framed and decoded, every lazy view iterated.
#include <qail/protocol/message.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qail::protocol;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    limits lim;
    lim.max_message_size = 1 << 16;
    while (!in.empty()) {
        const auto d = decode_backend(in, lim);
        if (!d.complete())
            break;
        std::size_t sink = 0;
        if (const auto* r = std::get_if<data_row>(&d.message))
            for (auto v : r->values)
                sink += v ? v->size() : 0;
        if (const auto* r = std::get_if<row_description>(&d.message))
            for (auto f : r->fields)
                sink += f.name.size();
        if (const auto* a = std::get_if<authentication_request>(&d.message))
            if (const auto* s = std::get_if<authentication_sasl>(a))
                for (auto m : s->mechanisms)
                    sink += m.size();
        if (const auto* n = std::get_if<negotiate_protocol_version>(&d.message))
            for (auto o : n->unrecognized_options)
                sink += o.size();
        // Re-encoding what was decoded must not fail for well-formed input.
        std::string out;
        writer w(out);
        encode(w, d.message);
        (void)sink;
        in.remove_prefix(d.size);
    }
    return 0;
}
