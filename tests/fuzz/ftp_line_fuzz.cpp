// Fuzzes the FTP control-connection codec (ftp/codec.hpp): LineReader splits
// the input into lines (Telnet commands removed), parse_command splits each line
// into verb and argument, and the command table is searched for the verb.
//
// Input: one byte choosing the line limit and one choosing how the rest is cut
// into feeds, then the bytes of the control connection. The lines must not
// depend on how the bytes were cut.
#include "ftp/codec.hpp"

#include "core/check.hpp"
#include "ftp/commands.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace {

using namespace berth::ftp;

std::vector<Line> drain(LineReader& r) {
  std::vector<Line> out;
  std::size_t pending = r.pending();
  while (auto l = r.next())
    out.push_back(std::move(*l));
  BERTH_CHECK(out.size() == pending && r.pending() == 0);
  return out;
}

void check_command(std::string_view line) {
  Command c = parse_command(line);
  auto space = line.find(' ');
  BERTH_CHECK(c.verb.size() == line.substr(0, space).size());
  for (std::size_t i = 0; i < c.verb.size(); ++i) {
    char in = line[i];
    char want = in >= 'a' && in <= 'z' ? static_cast<char>(in - 'a' + 'A') : in;
    BERTH_CHECK(c.verb[i] == want);
  }
  if (space == std::string_view::npos) {
    BERTH_CHECK(!c.has_arg && c.arg.empty());
  } else {
    BERTH_CHECK(c.arg == line.substr(space + 1));
    BERTH_CHECK(c.has_arg == !c.arg.empty());
  }
  if (const CommandSpec* spec = find_command(c.verb))
    BERTH_CHECK(spec->verb == c.verb);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2)
    return 0;
  // Small limits reach the too-long paths; 4096 is the default of [ftp] max_line.
  std::size_t max_line = data[0] < 128 ? std::size_t{data[0]} + 1 : 4096;
  std::size_t step = std::size_t{data[1]} % 17 + 1;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);

  LineReader whole(max_line);
  whole.feed(bytes);
  auto lines = drain(whole);

  LineReader cut(max_line);
  std::vector<Line> cut_lines;
  for (std::size_t i = 0; i < bytes.size(); i += step) {
    cut.feed(bytes.substr(i, step));
    // Taking lines out between feeds must not change what comes later.
    if (i % 3 == 0)
      for (auto& l : drain(cut))
        cut_lines.push_back(std::move(l));
  }
  for (auto& l : drain(cut))
    cut_lines.push_back(std::move(l));

  BERTH_CHECK(lines.size() == cut_lines.size());
  std::size_t newlines = 0;
  for (char c : bytes)
    newlines += c == '\n' ? 1 : 0;
  BERTH_CHECK(lines.size() <= newlines);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const Line& l = lines[i];
    BERTH_CHECK(l.too_long == cut_lines[i].too_long && l.text == cut_lines[i].text);
    BERTH_CHECK(!l.too_long || l.text.empty());
    BERTH_CHECK(l.text.size() <= max_line);
    BERTH_CHECK(l.text.find('\n') == std::string::npos);
    if (!l.too_long)
      check_command(l.text);
  }
  return 0;
}
