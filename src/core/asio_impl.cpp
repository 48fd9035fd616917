// Standalone Asio compiled once for the whole program (ASIO_SEPARATE_COMPILATION
// is set on every target through berth::asio). In core, the lowest layer that
// uses it (core::CidrList, core::WorkerPool); asio::ssl is compiled in net/.
#include <asio/impl/src.hpp>
