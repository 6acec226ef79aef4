#ifndef GANTRY_MODULE_GANTRY_HOOKS_H
#define GANTRY_MODULE_GANTRY_HOOKS_H
/* The C++ entry points behind mod_gantry.c's thin C hooks. Each one catches every
 * exception: nothing C++ ever unwinds into Apache. */
#include <httpd.h>
#include <http_config.h>

#ifdef __cplusplus
extern "C" {
#endif

extern module wsgi_module;

extern command_rec gantry_commands[];

void* gantry_create_dir_config(apr_pool_t* p, char* dir);
void* gantry_merge_dir_config(apr_pool_t* p, void* base, void* add);
void* gantry_create_server_config(apr_pool_t* p, server_rec* s);
void* gantry_merge_server_config(apr_pool_t* p, void* base, void* add);

/* Daemon mode only (module/daemon_hooks.cpp). */
int gantry_check_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s);
int gantry_monitor(apr_pool_t* p, server_rec* s);

/* apache2 -t -D DUMP_WSGI_DIRECTIVES (module/directive_catalog.cpp). */
void gantry_test_config(apr_pool_t* pconf, server_rec* s);

int gantry_post_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s);
void gantry_child_init(apr_pool_t* pchild, server_rec* s);
int gantry_translate_name(request_rec* r);
int gantry_handler(request_rec* r);
/* SetHandler gantry-status (module/status_handler.cpp). */
int gantry_status_handler(request_rec* r);

/* WSGIAccessScript / WSGIAuthUserScript / WSGIAuthGroupScript (module/auth_providers.cpp):
 * the "wsgi" authn provider, the "wsgi-group" authz provider and the access checker. */
void gantry_register_auth_hooks(apr_pool_t* p);

#ifdef __cplusplus
}
#endif

#endif
