// Placeholder translation unit until the pool sources land (keeps the target non-empty).
namespace qail::pool::detail {
int placeholder = 0;
} // namespace qail::pool::detail
