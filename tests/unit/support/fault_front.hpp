#pragma once
// A TCP front for the test radosgw that answers the first `failures`
// connections itself with an S3 error reply (as a busy or failing S3 server
// does: 503 SlowDown, 500 InternalError) and forwards every later connection
// to radosgw byte for byte. radosgw cannot be made to fail on demand; this
// puts real failing replies on a real socket in front of it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace berth::test {

class FaultFront {
public:
  /// `upstream` is "http://127.0.0.1:PORT".
  FaultFront(const std::string& upstream, int failures, int status, std::string code)
      : failures_(failures), status_(status), code_(std::move(code)) {
    const auto colon = upstream.rfind(':');
    upstream_port_ = static_cast<std::uint16_t>(std::stoi(upstream.substr(colon + 1)));
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(0);
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener_, 64) != 0)
      throw std::runtime_error("fault front: cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  FaultFront(const FaultFront&) = delete;
  FaultFront& operator=(const FaultFront&) = delete;

  ~FaultFront() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    ::close(listener_);
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_)
        ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_)
      t.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Connections answered with the error reply.
  int refused() const { return refused_; }
  /// Connections forwarded to radosgw.
  int forwarded() const { return forwarded_; }

private:
  static sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0 || stopping_) {
        if (fd >= 0)
          ::close(fd);
        return;
      }
      std::lock_guard lock(mutex_);
      open_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    if (seen_.fetch_add(1) < failures_) {
      ++refused_;
      refuse(fd);
    } else {
      ++forwarded_;
      forward(fd);
    }
    forget(fd);
  }

  /// Reads the request (headers and a Content-Length body), answers with the
  /// error and closes.
  void refuse(int fd) {
    std::string in;
    char buf[16384];
    std::size_t head_end = std::string::npos;
    while (head_end == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        return;
      in.append(buf, static_cast<std::size_t>(n));
      head_end = in.find("\r\n\r\n");
    }
    std::size_t body = 0;
    std::string lower = in.substr(0, head_end);
    for (auto& ch : lower)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const bool expects_continue = lower.find("expect: 100-continue") != std::string::npos;
    if (auto at = lower.find("content-length:"); at != std::string::npos && !expects_continue)
      body = std::stoull(lower.substr(at + 15));
    while (in.size() - head_end - 4 < body) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        return;
      in.append(buf, static_cast<std::size_t>(n));
    }
    const std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code_ +
                            "</Code><Message>injected by the test</Message>"
                            "<RequestId>fault-front</RequestId></Error>";
    const std::string reply = "HTTP/1.1 " + std::to_string(status_) +
                              " Injected\r\nContent-Type: application/xml\r\n"
                              "Connection: close\r\nContent-Length: " +
                              std::to_string(xml.size()) + "\r\n\r\n" + xml;
    send_all(fd, reply.data(), reply.size());
    ::shutdown(fd, SHUT_WR);
  }

  void forward(int fd) {
    const int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(upstream_port_);
    if (up < 0 || ::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (up >= 0)
        ::close(up);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      open_.push_back(up);
    }
    std::thread back([fd, up] { pump(up, fd); });
    pump(fd, up);
    back.join();
    forget(up);
  }

  /// Copies `from` to `to` until `from` ends, then ends `to`'s sending side.
  static void pump(int from, int to) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(from, buf, sizeof buf, 0);
      if (n <= 0 || !send_all(to, buf, static_cast<std::size_t>(n)))
        break;
    }
    ::shutdown(to, SHUT_WR);
  }

  static bool send_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0)
        return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  void forget(int fd) {
    std::lock_guard lock(mutex_);
    std::erase(open_, fd);
    ::close(fd);
  }

  const int failures_;
  const int status_;
  const std::string code_;
  std::uint16_t upstream_port_ = 0;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> seen_{0};
  std::atomic<int> refused_{0};
  std::atomic<int> forwarded_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
};

} // namespace berth::test
