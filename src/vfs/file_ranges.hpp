#pragma once
// Work over a byte range of open files that protocols offer as one command:
// hashing (FTP HASH, SFTP check-file) and copying (SFTP copy-data). Both
// can touch gigabytes for a few bytes of request, so each is bounded per
// command and gives its event loop back between chunks.

#include "core/result.hpp"
#include "core/task.hpp"
#include "vfs/filesystem.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct evp_md_ctx_st; // OpenSSL's EVP_MD_CTX, kept out of this header

namespace berth::vfs {

/// The most bytes one command hashes: about 2 to 10 s of one core. A client
/// hashes a larger file in parts (FTP RANG, check-file's offset and length).
inline constexpr std::uint64_t kMaxHashBytes = std::uint64_t{4} << 30;
/// The most bytes one command copies (SFTP copy-data).
inline constexpr std::uint64_t kMaxCopyBytes = std::uint64_t{64} << 30;

/// crc32 is zlib's CRC-32 (the XCRC verb), given as 4 bytes, most significant first.
enum class Digest { md5, sha1, sha256, sha512, crc32 };

/// The digest's length in bytes.
std::size_t digest_size(Digest d);

/// One digest in progress over bytes given in pieces: an OpenSSL digest, or
/// zlib's CRC-32.
class Hasher {
public:
  explicit Hasher(Digest d);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  /// Starts over (after finish(), for the next block).
  void start();
  void update(const void* data, std::size_t n);
  /// The digest, digest_size() raw bytes; start() before hashing again.
  std::string finish();

private:
  Digest digest_;
  evp_md_ctx_st* ctx_ = nullptr; ///< OpenSSL's EVP_MD_CTX; null for crc32.
  unsigned long crc_ = 0;
};

/// Hashes `length` bytes of `file` from `offset` (fewer if the file ends
/// first): one digest per `block` bytes (the last one may be shorter), or
/// one for the whole range when `block` is 0. nullopt when the range holds
/// more than `max_digests` blocks (found before the one past them is read).
/// Reads with File::read_at and lets the event loop's other work run after
/// every chunk, so that a long hash does not hold up the loop's other
/// sessions. Errors: the file's read errors.
core::Task<core::Result<std::optional<std::vector<std::string>>>>
hash_range(File& file, Digest digest, std::uint64_t offset, std::uint64_t length,
           std::uint64_t block, std::size_t max_digests);

/// Copies `length` bytes of `from` at `from_offset` to `to` at `to_offset`
/// (fewer if `from` ends first) and returns how many were copied. Lets the
/// event loop's other work run after every chunk. Errors: the files' read
/// and write errors.
core::Task<core::Result<std::uint64_t>> copy_range(File& from, std::uint64_t from_offset, File& to,
                                                   std::uint64_t to_offset, std::uint64_t length);

} // namespace berth::vfs
