/* LD_PRELOAD shim for test_daemon_privilege_failures.py (security checklist S13): makes
 * one identity call fail with EPERM, only in a process whose title (what Gantry's
 * display-name=%{GROUP} sets, read back from /proc/self/cmdline) names the group
 * "fail-CALL": the daemon group fail-setuid gets EPERM from setuid(), and so on. Apache's
 * parent and children, and every other group, call the real functions. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int targeted(const char* call) {
  char title[1024];
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, title, sizeof title - 1);
  close(fd);
  if (n <= 0) return 0;
  for (ssize_t i = 0; i < n; ++i)
    if (title[i] == '\0') title[i] = ' ';
  title[n] = '\0';
  char wanted[64];
  snprintf(wanted, sizeof wanted, "(wsgi:fail-%s)", call);
  return strstr(title, wanted) != NULL;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

int setgroups(size_t size, const gid_t* list) {
  if (targeted("setgroups")) return errno = EPERM, -1;
  return REAL("setgroups", int (*)(size_t, const gid_t*))(size, list);
}

int setgid(gid_t gid) {
  if (targeted("setgid")) return errno = EPERM, -1;
  return REAL("setgid", int (*)(gid_t))(gid);
}

int setuid(uid_t uid) {
  if (targeted("setuid")) return errno = EPERM, -1;
  return REAL("setuid", int (*)(uid_t))(uid);
}

int chdir(const char* path) {
  if (targeted("chdir")) return errno = EACCES, -1;
  return REAL("chdir", int (*)(const char*))(path);
}
