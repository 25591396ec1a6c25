// Boost.JSON compiled into this library (its header-only mode): Debian's
// libboost1.81-all-dev does not ship libboost_json, so nothing else needs installing.
// Link qail_ast rather than compiling boost/json/src.hpp a second time.
#include <boost/json/src.hpp>
