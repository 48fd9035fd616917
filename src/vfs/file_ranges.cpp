#include "vfs/file_ranges.hpp"

#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <memory>

namespace berth::vfs {
namespace {

// Bytes read, hashed or copied between two turns of the event loop: a
// fraction of a millisecond of SHA-512 or a memcpy.
constexpr std::size_t kChunk = 256 * 1024;

const EVP_MD* md_of(Digest d) {
  switch (d) {
  case Digest::md5:
    return EVP_md5();
  case Digest::sha1:
    return EVP_sha1();
  case Digest::sha256:
    return EVP_sha256();
  case Digest::sha512:
    return EVP_sha512();
  case Digest::crc32:
    break; // not an EVP digest: see Hasher
  }
  return EVP_sha256();
}

// Lets the loop's other ready work run before this coroutine goes on.
core::Task<void> yield() {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, asio::use_awaitable);
}

} // namespace

Hasher::Hasher(Digest d) : digest_(d) {
  if (digest_ != Digest::crc32)
    ctx_ = EVP_MD_CTX_new();
  start();
}

Hasher::~Hasher() {
  EVP_MD_CTX_free(ctx_);
}

void Hasher::start() {
  if (digest_ == Digest::crc32)
    crc_ = ::crc32(0L, Z_NULL, 0);
  else
    EVP_DigestInit_ex(ctx_, md_of(digest_), nullptr);
}

void Hasher::update(const void* data, std::size_t n) {
  if (digest_ != Digest::crc32) {
    EVP_DigestUpdate(ctx_, data, n);
    return;
  }
  // zlib takes uInt lengths.
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const std::size_t piece = std::min<std::size_t>(n, 1U << 30);
    crc_ = ::crc32(crc_, p, static_cast<uInt>(piece));
    p += piece;
    n -= piece;
  }
}

std::string Hasher::finish() {
  if (digest_ == Digest::crc32) {
    const char out[4] = {static_cast<char>(crc_ >> 24), static_cast<char>(crc_ >> 16),
                         static_cast<char>(crc_ >> 8), static_cast<char>(crc_)};
    return std::string(out, 4);
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx_, out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::size_t digest_size(Digest d) {
  if (d == Digest::crc32)
    return 4;
  return static_cast<std::size_t>(EVP_MD_get_size(md_of(d)));
}

core::Task<core::Result<std::optional<std::vector<std::string>>>>
hash_range(File& file, Digest digest, std::uint64_t offset, std::uint64_t length,
           std::uint64_t block, std::size_t max_digests) {
  std::vector<std::string> digests;
  Hasher hasher(digest);
  std::vector<std::byte> buf(kChunk);
  std::uint64_t pos = offset;
  std::uint64_t left = length;
  std::uint64_t in_block = 0;
  auto flush = [&] {
    digests.push_back(hasher.finish());
    in_block = 0;
  };
  while (left > 0) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    if (block != 0)
      want = static_cast<std::size_t>(std::min<std::uint64_t>(want, block - in_block));
    auto n = co_await file.read_at(pos, std::span(buf.data(), want));
    if (!n)
      co_return core::unexpected(n.error());
    if (*n == 0)
      break;
    if (block != 0 && in_block == 0 && digests.size() >= max_digests)
      co_return std::optional<std::vector<std::string>>();
    hasher.update(buf.data(), *n);
    pos += *n;
    left -= *n;
    in_block += *n;
    if (block != 0 && in_block == block) {
      flush();
      hasher.start();
    }
    co_await yield();
  }
  if (block == 0 || in_block > 0 || digests.empty())
    flush();
  co_return std::optional<std::vector<std::string>>(std::move(digests));
}

core::Task<core::Result<std::uint64_t>> copy_range(File& from, std::uint64_t from_offset, File& to,
                                                   std::uint64_t to_offset, std::uint64_t length) {
  std::vector<std::byte> buf(kChunk);
  std::uint64_t copied = 0;
  while (copied < length) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length - copied, buf.size()));
    auto n = co_await from.read_at(from_offset + copied, std::span(buf.data(), want));
    if (!n)
      co_return core::unexpected(n.error());
    if (*n == 0)
      break;
    auto w = co_await to.write_at(to_offset + copied, std::span(buf.data(), *n));
    if (!w)
      co_return core::unexpected(w.error());
    copied += *n;
    co_await yield();
  }
  co_return copied;
}

} // namespace berth::vfs
