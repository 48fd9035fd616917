// Standalone Asio and Asio SSL compiled once for the whole program
// (ASIO_SEPARATE_COMPILATION is set on every target through berth::asio).
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
