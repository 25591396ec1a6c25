// The pool's error_category: names and messages of pool_errc.
#include <qail/pool/error.hpp>

#include <string>

namespace qail::pool {
namespace {

class category final : public boost::system::error_category {
public:
    // A fixed id makes every copy of this category compare equal (across shared objects).
    category() noexcept : boost::system::error_category(0x71a1'7001'0000'0001ULL) {}
    const char* name() const noexcept override { return "qail.pool"; }
    std::string message(int ev) const override {
        switch (static_cast<pool_errc>(ev)) {
        case pool_errc::acquire_timeout:
            return "timed out waiting for a connection from the pool";
        case pool_errc::pool_closed:
            return "the pool is closed";
        case pool_errc::connect_failed:
            return "the pool could not open a connection";
        }
        return "unknown pool error " + std::to_string(ev);
    }
};

} // namespace

const boost::system::error_category& pool_category() noexcept {
    static const category instance;
    return instance;
}

} // namespace qail::pool
