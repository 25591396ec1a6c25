// Entry point of the integration-test executable (needs the pg-cluster harness running).
#define DOCTEST_CONFIG_IMPLEMENT
#include "../unit/test_main.hpp"
