#include "auth/authorized_keys.hpp"

#include "core/cidr.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

namespace berth::auth {
namespace {

constexpr std::array<std::string_view, 7> kKeyTypes = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
};

bool is_key_type(std::string_view t) {
  return std::find(kKeyTypes.begin(), kKeyTypes.end(), t) != kKeyTypes.end();
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

void skip_space(std::string_view& s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
}

std::string_view next_word(std::string_view& s) {
  skip_space(s);
  std::size_t n = 0;
  while (n < s.size() && !is_space(s[n]))
    ++n;
  std::string_view w = s.substr(0, n);
  s.remove_prefix(n);
  return w;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One option: a name, and for name="value" the unquoted value (\" stands for ").
struct Option {
  std::string name;
  std::optional<std::string> value;
};

// Reads the options field up to the first unquoted blank. nullopt on bad quoting.
std::optional<std::vector<Option>> parse_options(std::string_view& s) {
  std::vector<Option> out;
  for (;;) {
    Option o;
    while (!s.empty() && s.front() != '=' && s.front() != ',' && !is_space(s.front())) {
      o.name.push_back(s.front());
      s.remove_prefix(1);
    }
    if (o.name.empty())
      return std::nullopt;
    if (!s.empty() && s.front() == '=') {
      s.remove_prefix(1);
      if (s.empty() || s.front() != '"')
        return std::nullopt;
      s.remove_prefix(1);
      std::string v;
      for (;;) {
        if (s.empty())
          return std::nullopt; // unterminated
        char c = s.front();
        s.remove_prefix(1);
        if (c == '"')
          break;
        if (c == '\\' && !s.empty() && s.front() == '"') {
          v.push_back('"');
          s.remove_prefix(1);
          continue;
        }
        v.push_back(c);
      }
      o.value = std::move(v);
    }
    out.push_back(std::move(o));
    if (!s.empty() && s.front() == ',') {
      s.remove_prefix(1);
      continue;
    }
    if (s.empty() || is_space(s.front()))
      return out;
    return std::nullopt;
  }
}

// YYYYMMDD[HHMM[SS]][Z]: local time, or UTC with Z (sshd's expiry-time).
std::optional<std::chrono::system_clock::time_point> parse_expiry(std::string_view v) {
  bool utc = !v.empty() && (v.back() == 'Z' || v.back() == 'z');
  if (utc)
    v.remove_suffix(1);
  if ((v.size() != 8 && v.size() != 12 && v.size() != 14) ||
      !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  auto num = [&](std::size_t at, std::size_t len) {
    int n = 0;
    for (std::size_t i = at; i < at + len; ++i)
      n = n * 10 + (v[i] - '0');
    return n;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  if (v.size() >= 12) {
    tm.tm_hour = num(8, 2);
    tm.tm_min = num(10, 2);
  }
  if (v.size() == 14)
    tm.tm_sec = num(12, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  tm.tm_isdst = -1;
  std::time_t t = utc ? ::timegm(&tm) : std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1))
    return std::nullopt;
  // system_clock counts nanoseconds in 64 bits, 1677 to 2262, and converting a
  // year outside that overflowed. sshd's time_t reaches further: an expiry
  // after 2262 never comes, one before 1677 has passed.
  constexpr auto kLimit =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max());
  if (t > kLimit.count())
    return std::chrono::system_clock::time_point::max();
  if (t < -kLimit.count())
    return std::chrono::system_clock::time_point::min();
  return std::chrono::system_clock::from_time_t(t);
}

// Wildcard match of `text` against `pat` (`*`, `?`), as sshd's match_pattern.
bool wildcard(std::string_view text, std::string_view pat) {
  std::size_t t = 0, p = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pat.size() && (pat[p] == '?' || pat[p] == text[t])) {
      ++t;
      ++p;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*')
    ++p;
  return p == pat.size();
}

} // namespace

bool is_sftp_command(std::string_view cmd) {
  std::string_view c = cmd;
  std::string_view prog = next_word(c);
  return prog == "internal-sftp" || prog.ends_with("/sftp-server") || prog == "sftp-server";
}

std::optional<AuthorizedKey> parse_authorized_key(std::string_view line) {
  std::string_view s = line;
  skip_space(s);
  if (s.empty() || s.front() == '#')
    return std::nullopt;
  AuthorizedKey key;
  std::vector<Option> options;
  std::string_view probe = s;
  if (!is_key_type(next_word(probe))) {
    auto parsed = parse_options(s);
    if (!parsed)
      return std::nullopt;
    options = std::move(*parsed);
  }
  key.type = std::string(next_word(s));
  key.blob = std::string(next_word(s));
  if (!is_key_type(key.type) || key.blob.empty())
    return std::nullopt;
  for (auto& o : options) {
    const std::string& n = o.name;
    if (iequals(n, "from") && o.value) {
      key.from = std::move(*o.value);
    } else if (iequals(n, "expiry-time") && o.value) {
      key.expires = parse_expiry(*o.value);
      if (!key.expires)
        return std::nullopt;
    } else if (iequals(n, "command") && o.value) {
      if (!is_sftp_command(*o.value))
        key.refusal = "forced command other than sftp";
    } else if (iequals(n, "cert-authority") && !o.value) {
      key.cert_authority = true;
    } else if (iequals(n, "principals") && o.value) {
      key.principals = std::move(*o.value);
    } else if (iequals(n, "verify-required")) {
      key.refusal = "verify-required is not supported";
    } else if (iequals(n, "restrict") || iequals(n, "no-pty") || iequals(n, "pty") ||
               iequals(n, "no-port-forwarding") || iequals(n, "port-forwarding") ||
               iequals(n, "no-agent-forwarding") || iequals(n, "agent-forwarding") ||
               iequals(n, "no-x11-forwarding") || iequals(n, "x11-forwarding") ||
               iequals(n, "no-user-rc") || iequals(n, "user-rc") ||
               iequals(n, "no-touch-required") || (iequals(n, "permitopen") && o.value) ||
               (iequals(n, "permitlisten") && o.value) || (iequals(n, "environment") && o.value) ||
               (iequals(n, "tunnel") && o.value)) {
      // SFTP sessions have no pty, forwarding, agent, X11, rc or environment:
      // these options restrict nothing berth would grant.
    } else {
      return std::nullopt; // sshd refuses a line with an unknown option
    }
  }
  if (key.principals && !key.cert_authority)
    return std::nullopt; // sshd: principals= only on a cert-authority line
  return key;
}

bool from_allows(std::string_view patterns, const asio::ip::address& client_in) {
  asio::ip::address client = client_in;
  if (client.is_v6() && client.to_v6().is_v4_mapped())
    client = asio::ip::make_address_v4(asio::ip::v4_mapped, client.to_v6());
  const std::string text = client.to_string();
  bool allowed = false;
  while (!patterns.empty()) {
    auto comma = patterns.find(',');
    std::string_view p = patterns.substr(0, comma);
    patterns = comma == std::string_view::npos ? std::string_view() : patterns.substr(comma + 1);
    bool negated = !p.empty() && p.front() == '!';
    if (negated)
      p.remove_prefix(1);
    if (p.empty())
      continue;
    bool match =
        p.find('/') != std::string_view::npos ? core::in_cidr(client, p) : wildcard(text, p);
    if (match && negated)
      return false; // SECURITY: a negated match denies, whatever else matches
    allowed = allowed || match;
  }
  return allowed;
}

std::string line_refusal(const AuthorizedKey& key, const asio::ip::address& client,
                         std::chrono::system_clock::time_point now) {
  if (!key.refusal.empty())
    return key.refusal;
  if (key.from && !from_allows(*key.from, client))
    return "client address not in from=\"" + *key.from + "\"";
  if (key.expires && now >= *key.expires)
    return "key expired (expiry-time)";
  return {};
}

KeyDecision check_authorized_keys(const std::vector<std::string>& lines, std::string_view type,
                                  std::string_view blob, const asio::ip::address& client,
                                  std::chrono::system_clock::time_point now) {
  KeyDecision d;
  for (const auto& line : lines) {
    auto key = parse_authorized_key(line);
    if (!key || key->cert_authority || key->type != type || key->blob != blob)
      continue;
    d.reason = line_refusal(*key, client, now);
    if (d.reason.empty())
      return KeyDecision{true, {}};
    // Another line may list the same key with other options: keep looking.
  }
  return d;
}

} // namespace berth::auth
