// Asio SSL compiled once for the whole program (see core/asio_impl.cpp).
#include <asio/ssl/impl/src.hpp>
