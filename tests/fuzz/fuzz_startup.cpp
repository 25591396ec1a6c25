// Fuzz target: startup-phase packets (StartupMessage, SSLRequest, CancelRequest).
#include <qail/protocol/startup.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qail::protocol;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto d = decode_startup(in);
    if (!d.complete())
        return 0;
    if (const auto* m = std::get_if<startup_message>(&d.message)) {
        std::size_t sink = 0;
        for (const auto p : m->params)
            sink += p.name.size() + p.value.size();
        (void)m->params.find("user");
        (void)sink;
    }
    return 0;
}
