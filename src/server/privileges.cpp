#include "server/privileges.hpp"

#include <fmt/format.h>

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace berth::server {
namespace {

// Right after the failed call: nothing in between may change errno.
[[noreturn]] void fail(const char* what) {
  const int e = errno;
  throw std::runtime_error(fmt::format("dropping privileges: {}: {}", what, std::strerror(e)));
}

// capget/capset through the raw system calls (no libcap): version 3, two
// 32-bit words per set.
struct CapSets {
  std::uint64_t effective = 0;
  std::uint64_t permitted = 0;
  std::uint64_t inheritable = 0;
};

CapSets get_caps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  CapSets c;
  if (::syscall(SYS_capget, &header, data) != 0)
    return c;
  auto join = [](std::uint32_t lo, std::uint32_t hi) {
    return std::uint64_t{lo} | (std::uint64_t{hi} << 32);
  };
  c.effective = join(data[0].effective, data[1].effective);
  c.permitted = join(data[0].permitted, data[1].permitted);
  c.inheritable = join(data[0].inheritable, data[1].inheritable);
  return c;
}

void set_caps(const CapSets& c) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<std::uint32_t>(c.effective >> (32 * i));
    data[i].permitted = static_cast<std::uint32_t>(c.permitted >> (32 * i));
    data[i].inheritable = static_cast<std::uint32_t>(c.inheritable >> (32 * i));
  }
  if (::syscall(SYS_capset, &header, data) != 0)
    fail("capset");
}

bool data_port_needs_privilege(std::uint16_t port) {
  return port != 0 && port < 1024;
}

std::string source_of(const core::Config& cfg) {
  return cfg.source.empty() ? std::string("(embedded default)") : cfg.source.string();
}

} // namespace

std::uint64_t capabilities_to_keep(const core::Config& cfg) {
  const bool ftp = !cfg.ftp.listen.empty();
  const bool ftps = !cfg.ftps.listen.empty();
  bool low = (ftp && data_port_needs_privilege(cfg.ftp.active_data_port)) ||
             (ftps && data_port_needs_privilege(cfg.ftps.active_data_port)) ||
             ((ftp || ftps) && cfg.ftp.passive_ports.low < 1024);
  return low ? kNetBindService : 0;
}

IdentityPlan plan_identity(const core::Config& cfg, std::uint32_t euid, std::uint32_t egid) {
  if (!cfg.server.run_as)
    return euid == 0 ? IdentityPlan::keep_root : IdentityPlan::keep;
  const core::RunAs& who = *cfg.server.run_as;
  if (euid == 0)
    return who.uid == 0 ? IdentityPlan::keep : IdentityPlan::drop; // user = "root": as asked
  if (euid == who.uid && egid == who.gid)
    return IdentityPlan::keep;
  throw std::runtime_error(fmt::format(
      "{}: server.user: berth runs as uid {} gid {}, not as root, and can not become \"{}\" "
      "(uid {} gid {}): start it as root, or remove server.user",
      source_of(cfg), euid, egid, who.user, who.uid, who.gid));
}

std::vector<std::string> hand_over(const std::vector<std::filesystem::path>& paths,
                                   const core::RunAs& who) {
  std::vector<std::string> failed;
  for (const auto& p : paths)
    if (::lchown(p.c_str(), who.uid, who.gid) != 0)
      failed.push_back(
          fmt::format("{}: can not hand it to {}: {}", p.string(), who.user, std::strerror(errno)));
  return failed;
}

void drop_privileges(const core::RunAs& who, std::uint64_t keep) {
  // Keep the permitted set across setuid (this thread only; others lose all).
  if (keep != 0 && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    fail("PR_SET_KEEPCAPS");
  // The bounding set caps what any later exec could gain. Changing it needs
  // CAP_SETPCAP, which some containers withhold: then no_new_privs alone
  // keeps exec from granting anything.
  for (int cap = 0; cap < 64; ++cap) {
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
      break; // past the kernel's last capability
    if ((keep & (std::uint64_t{1} << cap)) == 0)
      (void)::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  // Supplementary groups: the user's own (as login(1) gives), never root's.
  std::vector<gid_t> groups(64);
  int n = static_cast<int>(groups.size());
  if (::getgrouplist(who.user.c_str(), who.gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(who.user.c_str(), who.gid, groups.data(), &n) < 0)
      n = 0;
  }
  groups.resize(static_cast<std::size_t>(std::max(n, 0)));
  if (groups.empty())
    groups.push_back(who.gid);
  // glibc applies setgroups, setgid and setuid to every thread of the process.
  if (::setgroups(groups.size(), groups.data()) != 0)
    fail("setgroups");
  if (::setgid(who.gid) != 0)
    fail("setgid");
  if (::setuid(who.uid) != 0)
    fail("setuid");
  CapSets caps;
  caps.permitted = keep;
  caps.effective = keep;
  set_caps(caps);
  (void)::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    fail("PR_SET_NO_NEW_PRIVS");

  // SECURITY: prove the drop is for good before serving anyone.
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0)
    fail("getresuid");
  if (ruid != who.uid || euid != who.uid || suid != who.uid || rgid != who.gid || egid != who.gid ||
      sgid != who.gid)
    throw std::runtime_error("dropping privileges: the ids did not all change");
  if (::setuid(0) == 0 || ::seteuid(0) == 0 || ::setgid(0) == 0)
    throw std::runtime_error("dropping privileges: root could be regained");
  CapSets now = get_caps();
  if ((now.permitted & ~keep) != 0 || (now.effective & ~keep) != 0 || now.inheritable != 0)
    throw std::runtime_error("dropping privileges: capabilities are left");
}

std::uint64_t effective_capabilities() {
  return get_caps().effective;
}

} // namespace berth::server
