// Fuzzes MODE Z's decompressor (net/deflate.hpp) on client bytes: whatever
// the input, a step never writes past its output buffer, an error is
// core::Errc::bad_data and ends the stream, and nothing follows a stream's
// end. Then the input round-trips through the compressor at the level the
// first byte picks.
//
// Input: one byte choosing the output room a step (1-256 bytes) and the
// level, then the bytes of the data connection.
#include "net/deflate.hpp"

#include "core/check.hpp"
#include "core/errc.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace berth;

void inflate_bytes(const std::uint8_t* data, std::size_t size, std::size_t room) {
  auto z = net::ZStream::make(net::ZStream::Kind::inflate);
  BERTH_CHECK(z.has_value());
  std::vector<char> out(room);
  asio::const_buffer in(data, size);
  std::size_t total = 0;
  // Bounded: each step takes input or gives output, and a stream inflates at
  // most 1032:1; stop early past 16 MiB out.
  while (total < (16u << 20)) {
    auto step = z->run(in, asio::buffer(out));
    if (!step) {
      BERTH_CHECK(step.error() == core::Errc::bad_data);
      return;
    }
    BERTH_CHECK(step->produced <= room && step->consumed <= in.size());
    in += step->consumed;
    total += step->produced;
    if (step->ended) {
      BERTH_CHECK(in.size() == 0); // trailing bytes are an error, not ignored
      return;
    }
    if (step->consumed == 0 && step->produced == 0)
      return; // needs more input
  }
}

void round_trip(const std::uint8_t* data, std::size_t size, int level) {
  auto d = net::ZStream::make(net::ZStream::Kind::deflate, level);
  BERTH_CHECK(d.has_value());
  std::string packed;
  char buf[512];
  asio::const_buffer in(data, size);
  for (;;) {
    auto step = d->run(in, asio::buffer(buf), true);
    BERTH_CHECK(step.has_value());
    in += step->consumed;
    packed.append(buf, step->produced);
    if (step->ended)
      break;
  }
  auto i = net::ZStream::make(net::ZStream::Kind::inflate);
  std::string back;
  asio::const_buffer p = asio::buffer(packed);
  while (!i->ended()) {
    auto step = i->run(p, asio::buffer(buf));
    BERTH_CHECK(step.has_value());
    BERTH_CHECK(step->consumed > 0 || step->produced > 0 || step->ended);
    p += step->consumed;
    back.append(buf, step->produced);
  }
  BERTH_CHECK(back == std::string(reinterpret_cast<const char*>(data), size));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  const std::size_t room = std::size_t{data[0]} + 1;
  const int level = data[0] % 9 + 1;
  inflate_bytes(data + 1, size - 1, room);
  round_trip(data + 1, size - 1, level);
  return 0;
}
