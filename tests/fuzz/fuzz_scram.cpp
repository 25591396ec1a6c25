// Fuzz target: the SCRAM server reading hostile client messages, and the SCRAM client
// reading hostile server messages.
#include <qail/protocol/scram.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace qail::protocol;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto split = in.find('\n');
    const std::string_view first = in.substr(0, split);
    const std::string_view second =
        split == std::string_view::npos ? std::string_view{} : in.substr(split + 1);

    static const scram_verifier verifier =
        make_scram_verifier("pencil", std::vector<std::uint8_t>(16, 1), 2);
    scram_server server(verifier, scram_nonce_bytes{});
    if (server.handle_client_first(first).ok())
        (void)server.handle_client_final(second);

    scram_client_options opts;
    opts.max_iterations = 16; // keep the fuzzer fast: PBKDF2 cost is not what is tested
    scram_client client("pencil", scram_nonce_bytes{}, opts);
    (void)client.client_first_message();
    if (client.handle_server_first(first).ok())
        (void)client.verify_server_final(second);
    (void)parse_scram_verifier(in);
    return 0;
}
