/* mod_gantry's identity as Apache sees it. The module structure is called wsgi_module and
 * its name field is "mod_wsgi.c", so LoadModule lines and <IfModule mod_wsgi.c> /
 * <IfModule wsgi_module> sections written for mod_wsgi keep working unchanged. This is the
 * only symbol the shared object exports. Everything else is C++, reached through the thin
 * hooks below (see gantry_hooks.h). */
#include <httpd.h>
#include <http_config.h>
#include <http_request.h>

#include <mpm_common.h> /* ap_hook_monitor */

#include "gantry_hooks.h"

/* Daemon mode: check_config resolves WSGIDaemonProcess accounts for `apachectl -t`;
 * monitor is the parent's periodic tick for the daemon supervisor. */
static int check_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) {
  return gantry_check_config(pconf, plog, ptemp, s);
}

static int monitor(apr_pool_t* p, server_rec* s) { return gantry_monitor(p, s); }

static int post_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) {
  return gantry_post_config(pconf, plog, ptemp, s);
}

static void child_init(apr_pool_t* pchild, server_rec* s) { gantry_child_init(pchild, s); }

static void test_config(apr_pool_t* pconf, server_rec* s) { gantry_test_config(pconf, s); }

static int translate_name(request_rec* r) { return gantry_translate_name(r); }

static int handler(request_rec* r) { return gantry_handler(r); }

static int status_handler(request_rec* r) { return gantry_status_handler(r); }

static void register_hooks(apr_pool_t* p) {
  /* Like mod_wsgi: Alias is consulted first (so "Alias /static/ ..." next to
   * "WSGIScriptAlias / app.wsgi" serves static files), and script aliases come before
   * per-user and mass-vhost mapping. */
  static const char* const before_us[] = {"mod_alias.c", NULL};
  static const char* const after_us[] = {"mod_userdir.c", "mod_vhost_alias.c", NULL};
  (void)p;
  ap_hook_check_config(check_config, NULL, NULL, APR_HOOK_MIDDLE);
  ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
  ap_hook_test_config(test_config, NULL, NULL, APR_HOOK_MIDDLE);
  ap_hook_monitor(monitor, NULL, NULL, APR_HOOK_MIDDLE);
  ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
  ap_hook_translate_name(translate_name, before_us, after_us, APR_HOOK_MIDDLE);
  ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
  ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE); /* SetHandler gantry-status */
  gantry_register_auth_hooks(p);
}

__attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA wsgi_module = {
    MODULE_MAGIC_NUMBER_MAJOR,
    MODULE_MAGIC_NUMBER_MINOR,
    -1,
    "mod_wsgi.c", /* the name mod_wsgi configs test for in <IfModule> */
    NULL,
    NULL,
    MODULE_MAGIC_COOKIE,
    NULL, /* rewrite args spot */
    gantry_create_dir_config,
    gantry_merge_dir_config,
    gantry_create_server_config,
    gantry_merge_server_config,
    gantry_commands,
    register_hooks,
    AP_MODULE_FLAG_NONE,
};
