// Lazy views over the repeated fields of a message body (format codes, OIDs,
// values, strings). Decoders validate the bytes once; iteration then needs no
// checks and allocates nothing.
#pragma once

#include <qail/protocol/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string_view>

namespace qail::protocol {

/// A run of `count` big-endian integers of type Int (int16_t or int32_t).
template <class Int>
class int_array {
public:
    int_array() = default;
    /// `raw` must hold exactly count * sizeof(Int) bytes (decoders guarantee it).
    int_array(byte_view raw, std::size_t count) noexcept : raw_(raw), count_(count) {}

    class iterator {
    public:
        using value_type = Int;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(const char* p) noexcept : p_(p) {}
        Int operator*() const noexcept {
            if constexpr (sizeof(Int) == 2)
                return load_i16(p_);
            else
                return load_i32(p_);
        }
        iterator& operator++() noexcept {
            p_ += sizeof(Int);
            return *this;
        }
        iterator operator++(int) noexcept {
            auto t = *this;
            ++*this;
            return t;
        }
        bool operator==(const iterator&) const = default;

    private:
        const char* p_ = nullptr;
    };

    [[nodiscard]] iterator begin() const noexcept { return iterator{raw_.data()}; }
    [[nodiscard]] iterator end() const noexcept {
        return iterator{raw_.data() + count_ * sizeof(Int)};
    }
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    [[nodiscard]] Int operator[](std::size_t i) const noexcept {
        return *iterator{raw_.data() + i * sizeof(Int)};
    }
    [[nodiscard]] byte_view raw() const noexcept { return raw_; }
    bool operator==(const int_array& o) const noexcept {
        return count_ == o.count_ && raw_ == o.raw_;
    }

private:
    byte_view raw_;
    std::size_t count_ = 0;
};

using int16_array = int_array<std::int16_t>;
using int32_array = int_array<std::int32_t>;

/// A run of `count` length-prefixed values (Int32 length, -1 = NULL, bytes),
/// as in DataRow, Bind and FunctionCall. Iteration yields optional bytes.
class value_list {
public:
    value_list() = default;
    value_list(byte_view raw, std::size_t count) noexcept : raw_(raw), count_(count) {}

    class iterator {
    public:
        using value_type = std::optional<byte_view>;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(const char* p) noexcept : p_(p) {}
        value_type operator*() const noexcept {
            const std::int32_t len = load_i32(p_);
            if (len < 0)
                return std::nullopt;
            return byte_view{p_ + 4, static_cast<std::size_t>(len)};
        }
        iterator& operator++() noexcept {
            const std::int32_t len = load_i32(p_);
            p_ += 4 + (len < 0 ? 0 : static_cast<std::size_t>(len));
            return *this;
        }
        iterator operator++(int) noexcept {
            auto t = *this;
            ++*this;
            return t;
        }
        bool operator==(const iterator&) const = default;

    private:
        const char* p_ = nullptr;
    };

    [[nodiscard]] iterator begin() const noexcept { return iterator{raw_.data()}; }
    [[nodiscard]] iterator end() const noexcept { return iterator{raw_.data() + raw_.size()}; }
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    [[nodiscard]] byte_view raw() const noexcept { return raw_; }
    bool operator==(const value_list& o) const noexcept {
        return count_ == o.count_ && raw_ == o.raw_;
    }

    /// Validates `count` values at the reader's position and returns the view.
    static value_list read(reader& r, std::size_t count) noexcept;

private:
    byte_view raw_;
    std::size_t count_ = 0;
};

/// A run of `count` NUL-terminated strings (SASL mechanism names,
/// NegotiateProtocolVersion option names).
class cstring_list {
public:
    cstring_list() = default;
    cstring_list(byte_view raw, std::size_t count) noexcept : raw_(raw), count_(count) {}

    class iterator {
    public:
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(const char* p) noexcept : p_(p) {}
        value_type operator*() const noexcept { return std::string_view{p_}; }
        iterator& operator++() noexcept {
            p_ += std::string_view{p_}.size() + 1;
            return *this;
        }
        iterator operator++(int) noexcept {
            auto t = *this;
            ++*this;
            return t;
        }
        bool operator==(const iterator&) const = default;

    private:
        const char* p_ = nullptr;
    };

    [[nodiscard]] iterator begin() const noexcept { return iterator{raw_.data()}; }
    [[nodiscard]] iterator end() const noexcept { return iterator{raw_.data() + raw_.size()}; }
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    [[nodiscard]] byte_view raw() const noexcept { return raw_; }
    [[nodiscard]] bool contains(std::string_view s) const noexcept {
        for (auto v : *this)
            if (v == s)
                return true;
        return false;
    }
    bool operator==(const cstring_list& o) const noexcept {
        return count_ == o.count_ && raw_ == o.raw_;
    }

    /// Validates `count` strings at the reader's position.
    static cstring_list read(reader& r, std::size_t count) noexcept;
    /// Validates strings up to (and consuming) an empty-string terminator; the
    /// view excludes the terminator.
    static cstring_list read_until_empty(reader& r) noexcept;

private:
    byte_view raw_;
    std::size_t count_ = 0;
};

/// Writes `count` then each element of an integer range as Int16/Int32.
template <class Int, class Range>
void put_int_array(writer& w, const Range& r) {
    std::size_t n = 0;
    for ([[maybe_unused]] auto v : r)
        ++n;
    w.put_count16(n);
    for (auto v : r) {
        if constexpr (sizeof(Int) == 2)
            w.put_i16(static_cast<std::int16_t>(v));
        else
            w.put_i32(static_cast<std::int32_t>(v));
    }
}

/// Writes an Int16 count then each value of a range of optional<byte_view>.
template <class Range>
void put_value_list(writer& w, const Range& r) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& v : r)
        ++n;
    w.put_count16(n);
    for (const auto& v : r)
        w.put_value(std::optional<byte_view>{v});
}

} // namespace qail::protocol
