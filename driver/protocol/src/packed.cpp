// Validation of the repeated fields behind the lazy views of packed.hpp.
#include <qail/protocol/packed.hpp>

namespace qail::protocol {

value_list value_list::read(reader& r, std::size_t count) noexcept {
    const std::size_t begin = r.position();
    byte_view ignored;
    for (std::size_t i = 0; i < count && !r.error(); ++i)
        (void)r.value(ignored);
    if (r.error())
        return {};
    // Re-slice the validated span from the reader's underlying body.
    return value_list{r.span_since(begin), count};
}

cstring_list cstring_list::read(reader& r, std::size_t count) noexcept {
    const std::size_t begin = r.position();
    for (std::size_t i = 0; i < count && !r.error(); ++i)
        (void)r.cstr();
    if (r.error())
        return {};
    return cstring_list{r.span_since(begin), count};
}

cstring_list cstring_list::read_until_empty(reader& r) noexcept {
    const std::size_t begin = r.position();
    std::size_t count = 0;
    std::size_t end = begin;
    for (;;) {
        const std::string_view s = r.cstr();
        if (r.error())
            return {};
        if (s.empty())
            break;
        ++count;
        end = r.position();
    }
    return cstring_list{r.span_since(begin).substr(0, end - begin), count};
}

} // namespace qail::protocol
