#include "sftp/exec/shell_words.hpp"

namespace berth::sftp::exec {
namespace {

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\n';
}

bool shell_operator(char c) {
  return c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || c == ')' ||
         c == '`';
}

} // namespace

Words split_words(std::string_view line) {
  Words out;
  if (line.size() > kMaxCommandLine) {
    out.error = "command line too long";
    return out;
  }
  std::string word;
  bool in_word = false; // a word has begun (it may be empty: '')
  std::size_t i = 0;
  auto fail = [&out](std::string_view why) {
    out.words.clear();
    out.error = why;
    return out;
  };
  while (i < line.size()) {
    const char c = line[i];
    if (blank(c)) {
      if (in_word) {
        if (out.words.size() == kMaxWords)
          return fail("too many words");
        out.words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
      ++i;
    } else if (c == '\'') {
      const std::size_t end = line.find('\'', i + 1);
      if (end == std::string_view::npos)
        return fail("unterminated quote");
      word.append(line.substr(i + 1, end - i - 1));
      in_word = true;
      i = end + 1;
    } else if (c == '"') {
      ++i;
      for (;;) {
        if (i == line.size())
          return fail("unterminated quote");
        const char d = line[i];
        if (d == '"')
          break;
        if (d == '\\' && i + 1 < line.size()) {
          const char e = line[i + 1];
          if (e == '$' || e == '`' || e == '"' || e == '\\' || e == '\n') {
            if (e != '\n')
              word.push_back(e);
            i += 2;
            continue;
          }
        }
        word.push_back(d);
        ++i;
      }
      in_word = true;
      ++i;
    } else if (c == '\\') {
      if (i + 1 == line.size())
        return fail("backslash at the end of the line");
      if (line[i + 1] != '\n') { // \ newline joins the lines
        word.push_back(line[i + 1]);
        in_word = true;
      }
      i += 2;
    } else if (shell_operator(c)) {
      return fail("shell syntax is not supported");
    } else {
      word.push_back(c);
      in_word = true;
      ++i;
    }
  }
  if (in_word) {
    if (out.words.size() == kMaxWords)
      return fail("too many words");
    out.words.push_back(std::move(word));
  }
  return out;
}

} // namespace berth::sftp::exec
