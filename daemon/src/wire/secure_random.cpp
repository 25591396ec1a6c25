// Per-thread buffered draws from OpenSSL's generator (see the header).
#include <qail/proxy/secure_random.hpp>

#include <array>
#include <cstring>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdexcept>

namespace qail::proxy {

namespace {

constexpr std::size_t buffer_size = 512;

struct random_buffer {
    std::array<std::uint8_t, buffer_size> bytes{};
    std::size_t next = buffer_size; // bytes[next..] are unused; all used at first

    random_buffer() = default;
    random_buffer(const random_buffer&) = delete;
    random_buffer& operator=(const random_buffer&) = delete;
    ~random_buffer() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

void draw(std::uint8_t* out, std::size_t n) {
    if (RAND_bytes(out, static_cast<int>(n)) != 1)
        throw std::runtime_error("the system random number generator failed");
}

} // namespace

void secure_random(std::span<std::uint8_t> out) {
    if (out.empty())
        return;
    if (out.size() > buffer_size / 4) { // large: straight from the generator
        draw(out.data(), out.size());
        return;
    }
    thread_local random_buffer buf;
    if (buffer_size - buf.next < out.size()) {
        draw(buf.bytes.data(), buffer_size);
        buf.next = 0;
    }
    std::uint8_t* from = buf.bytes.data() + buf.next;
    std::memcpy(out.data(), from, out.size());
    OPENSSL_cleanse(from, out.size());
    buf.next += out.size();
}

} // namespace qail::proxy
