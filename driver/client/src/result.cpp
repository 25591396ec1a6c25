// Result storage: owned column descriptions and row values in one buffer.
#include <qail/client/result.hpp>

#include <charconv>

namespace qail::client {

std::optional<std::size_t> result_set::column_index(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < columns_.size(); ++i)
        if (columns_[i].name == name)
            return i;
    return std::nullopt;
}

std::uint64_t result_set::rows_affected() const noexcept {
    // The count is the last space-separated word of the tag ("INSERT 0 5", "SELECT 5").
    const auto sp = tag_.rfind(' ');
    if (sp == std::string::npos)
        return 0;
    std::uint64_t n = 0;
    const char* b = tag_.data() + sp + 1;
    const char* e = tag_.data() + tag_.size();
    const auto [p, ec] = std::from_chars(b, e, n);
    return (ec == std::errc{} && p == e) ? n : 0;
}

void result_set::set_columns(const protocol::row_description& rd) {
    columns_.clear();
    columns_.reserve(rd.fields.size());
    for (const protocol::field_description f : rd.fields)
        columns_.push_back(column{std::string(f.name), f.table_oid, f.column_attribute, f.type_oid,
                                  f.type_size, f.type_modifier, f.format});
}

bool result_set::add_row(const protocol::data_row& dr) {
    if (dr.values.size() != columns_.size())
        return false;
    if (columns_.empty()) {
        ++row_count_;
        return true;
    }
    for (const auto v : dr.values) {
        cell c;
        if (v) {
            c.offset = data_.size();
            c.length = static_cast<std::int32_t>(v->size());
            data_.append(*v);
        }
        cells_.push_back(c);
    }
    return true;
}

} // namespace qail::client
