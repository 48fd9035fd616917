#include "ftp/codec.hpp"

#include "core/host_port.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <vector>

namespace berth::ftp {
namespace {

constexpr unsigned char kIac = 255;
constexpr unsigned char kWill = 251;
constexpr unsigned char kDont = 254;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  for (;;) {
    auto j = s.find(sep, i);
    out.push_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos)
      return out;
    i = j + 1;
  }
}

std::optional<unsigned> number(std::string_view s, unsigned max) {
  unsigned v = 0;
  if (s.empty() || s.size() > 5)
    return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v > max)
    return std::nullopt;
  return v;
}

core::Unexpected invalid() {
  return core::unexpected(std::make_error_code(std::errc::invalid_argument));
}

} // namespace

void LineReader::feed(std::string_view bytes) {
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    switch (telnet_) {
    case Telnet::iac:
      if (c == kIac) {
        telnet_ = Telnet::data;
        break; // escaped 0xFF: fall through to store it below
      }
      telnet_ = (c >= kWill && c <= kDont) ? Telnet::option : Telnet::data;
      continue;
    case Telnet::option:
      telnet_ = Telnet::data;
      continue;
    case Telnet::data:
      if (c == kIac) {
        telnet_ = Telnet::iac;
        continue;
      }
      break;
    }
    if (c == '\n') {
      if (overflow_) {
        lines_.push_back(Line{{}, true});
      } else {
        if (!current_.empty() && current_.back() == '\r')
          current_.pop_back();
        if (current_.size() > max_line_)
          lines_.push_back(Line{{}, true});
        else
          lines_.push_back(Line{std::move(current_), false});
      }
      current_.clear();
      overflow_ = false;
      continue;
    }
    if (overflow_)
      continue;
    if (current_.size() >= max_line_ + 1) { // +1: room for the CR before LF
      overflow_ = true;
      current_.clear();
      current_.shrink_to_fit();
      continue;
    }
    current_.push_back(ch);
  }
}

std::optional<Line> LineReader::next() {
  if (lines_.empty())
    return std::nullopt;
  Line l = std::move(lines_.front());
  lines_.pop_front();
  return l;
}

Command parse_command(std::string_view line) {
  Command c;
  auto space = line.find(' ');
  std::string_view verb = line.substr(0, space);
  c.verb.reserve(verb.size());
  for (char ch : verb)
    c.verb.push_back(ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 'a' + 'A') : ch);
  if (space != std::string_view::npos) {
    c.arg = std::string(line.substr(space + 1));
    c.has_arg = !c.arg.empty();
  }
  return c;
}

std::string loggable_command(std::string_view line) {
  // SECURITY: the password never reaches a log. Leading bytes that are not
  // letters are skipped first, so " PASS x" or "\xffPASS x" (which dispatch
  // answers with 500) are caught too.
  std::size_t start = 0;
  auto is_letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  while (start < line.size() && !is_letter(line[start]))
    ++start;
  std::string_view word = line.substr(start, 4);
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  if (word.size() == 4 && lower(word[0]) == 'p' && lower(word[1]) == 'a' && lower(word[2]) == 's' &&
      lower(word[3]) == 's')
    return "PASS ****";
  std::string out(line);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  return out;
}

core::Result<DataAddress> parse_port_arg(std::string_view arg) {
  auto parts = split(arg, ',');
  if (parts.size() != 6)
    return invalid();
  unsigned v[6];
  for (std::size_t i = 0; i < 6; ++i) {
    auto n = number(parts[i], 255);
    if (!n)
      return invalid();
    v[i] = *n;
  }
  DataAddress a;
  a.ip = fmt::format("{}.{}.{}.{}", v[0], v[1], v[2], v[3]);
  a.port = static_cast<std::uint16_t>(v[4] * 256 + v[5]);
  return a;
}

core::Result<DataAddress> parse_eprt_arg(std::string_view arg) {
  if (arg.size() < 7)
    return invalid();
  char d = arg.front();
  if (d < 33 || d > 126 || arg.back() != d)
    return invalid();
  auto parts = split(arg.substr(1, arg.size() - 2), d);
  if (parts.size() != 3)
    return invalid();
  DataAddress a;
  if (parts[0] == "1") {
    a.v6 = false;
  } else if (parts[0] == "2") {
    a.v6 = true;
  } else {
    return core::unexpected(std::make_error_code(std::errc::protocol_not_supported));
  }
  a.ip = std::string(parts[1]);
  // inet_pton reads a C string: a NUL would end the address early and whatever
  // follows it would be accepted along with it.
  unsigned char buf[16];
  if (a.ip.find('\0') != std::string::npos ||
      inet_pton(a.v6 ? AF_INET6 : AF_INET, a.ip.c_str(), buf) != 1)
    return invalid();
  auto port = number(parts[2], 65535);
  if (!port || *port == 0)
    return invalid();
  a.port = static_cast<std::uint16_t>(*port);
  return a;
}

core::Result<int> parse_mode_z_opts(std::string_view value) {
  std::array<std::string_view, 3> words;
  std::size_t count = 0;
  while (!value.empty()) {
    auto space = value.find(' ');
    std::string_view word = value.substr(0, space);
    value = space == std::string_view::npos ? std::string_view() : value.substr(space + 1);
    if (word.empty())
      continue;
    if (count == words.size())
      return core::unexpected(std::make_error_code(std::errc::invalid_argument));
    words[count++] = word;
  }
  auto is = [](std::string_view w, std::string_view upper) {
    return w.size() == upper.size() &&
           std::equal(w.begin(), w.end(), upper.begin(), [](char a, char b) {
             return std::toupper(static_cast<unsigned char>(a)) == b;
           });
  };
  if (count != 3 || !is(words[0], "Z") || !is(words[1], "LEVEL") || words[2].size() != 1 ||
      words[2][0] < '1' || words[2][0] > '9')
    return core::unexpected(std::make_error_code(std::errc::invalid_argument));
  return words[2][0] - '0';
}

std::string format_pasv(std::string_view ipv4, std::uint16_t port) {
  std::string commas(ipv4);
  for (char& c : commas)
    if (c == '.')
      c = ',';
  return fmt::format("Entering Passive Mode ({},{},{}).", commas, port / 256, port % 256);
}

std::string format_epsv(std::uint16_t port) {
  return fmt::format("Entering Extended Passive Mode (|||{}|)", port);
}

} // namespace berth::ftp
