// Fuzzes the splitter of SSH exec command lines (sftp/exec/shell_words.hpp)
// and the checksum lines built from the names it yields. Input: the command
// line as a client sends it.
#include "sftp/exec/shell_words.hpp"

#include "core/check.hpp"
#include "sftp/exec/checksum.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace berth::sftp::exec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  Words w = split_words(line);
  if (!w.error.empty()) {
    BERTH_CHECK(w.words.empty());
    return 0;
  }
  BERTH_CHECK(w.words.size() <= kMaxWords);
  std::size_t bytes = 0;
  for (const auto& word : w.words)
    bytes += word.size();
  BERTH_CHECK(bytes <= line.size()); // quoting only ever removes bytes
  // Quoted again as error messages quote names, the words split back into
  // themselves.
  std::string again;
  for (const auto& word : w.words)
    again += quote_name(word) + " ";
  if (again.size() <= kMaxCommandLine) {
    Words back = split_words(again);
    BERTH_CHECK(back.error.empty());
    BERTH_CHECK(back.words == w.words);
  }
  // One checksum line per name, whatever bytes the name holds.
  for (const auto& word : w.words) {
    const std::string l = checksum_line("00", word);
    BERTH_CHECK(!l.empty() && l.back() == '\n');
    BERTH_CHECK(std::count(l.begin(), l.end(), '\n') == 1);
    BERTH_CHECK(l.find('\r') == std::string::npos);
  }
  return 0;
}
