
/*
 * Copyright (C) tokenroute authors
 *
 * Provider TLS.  A location with "tokenroute on" sends provider keys
 * through nginx's proxy, which by default does not verify the server's
 * certificate: an impostor at the provider's address would get the keys.
 * conf.d/tokenroute_tls.conf turns verification on for the http block;
 * here the configuration is refused where it is off, unless
 * "tokenroute_insecure_provider_tls on" accepts the risk, which is then
 * logged at every configuration load.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_tls.h"


#if (NGX_HTTP_SSL)

/*
 * nginx's proxy module object.  No header declares it, but nginx exports
 * all of its symbols to dynamic modules (it links with -Wl,-E so that
 * modules can use ngx_http_core_module and the like), and the proxy module
 * is in every nginx that can run tokenroute: tokenroute_proxy.conf is
 * proxy_pass.
 */
extern ngx_module_t  ngx_http_proxy_module;

#endif


/*
 * Called from the loc conf merge of every location with "tokenroute on":
 * remembers the location's configurations.  The proxy module's merge may
 * come before or after ours (it depends on the module order), so the
 * check waits for postconfiguration, when every module has merged.
 */

ngx_int_t
ngx_http_tokenroute_tls_note(ngx_conf_t *cf)
{
    void                             ***loc;
    ngx_http_conf_ctx_t               *ctx;
    ngx_http_tokenroute_main_conf_t   *trmcf;

    /* during the merge, cf->ctx holds the location being merged */

    ctx = cf->ctx;
    trmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tokenroute_module);

    loc = ngx_array_push(&trmcf->tls_locations);
    if (loc == NULL) {
        return NGX_ERROR;
    }

    *loc = ctx->loc_conf;

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_tls_check(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
#if (NGX_HTTP_SSL)

    void                            ***locs, **loc_conf;
    ngx_str_t                          name;
    ngx_uint_t                         i;
    ngx_http_upstream_conf_t          *ucf;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_tokenroute_loc_conf_t    *trlcf;

    locs = trmcf->tls_locations.elts;

    for (i = 0; i < trmcf->tls_locations.nelts; i++) {
        loc_conf = locs[i];

        /*
         * ngx_http_proxy_loc_conf_t is private to the proxy module, but
         * its first member is its ngx_http_upstream_conf_t (in every
         * nginx since dynamic modules exist)
         */

        ucf = loc_conf[ngx_http_proxy_module.ctx_index];

        if (ucf->ssl_verify) {
            continue;
        }

        clcf = loc_conf[ngx_http_core_module.ctx_index];
        trlcf = loc_conf[ngx_http_tokenroute_module.ctx_index];

        name = clcf->name;

        if (name.len == 0) {
            ngx_str_set(&name, "(an if or limit_except block)");
        }

        if (!trlcf->insecure_provider_tls) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tokenroute on\" in location \"%V\" would send "
                          "provider keys to servers whose certificates are "
                          "not verified (\"proxy_ssl_verify\" is off): "
                          "include conf.d/tokenroute_tls.conf in the http "
                          "block and leave proxy_ssl_verify on, or set "
                          "\"tokenroute_insecure_provider_tls on\" to "
                          "accept the risk", &name);
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "provider certificates are not verified in location "
                      "\"%V\" (\"tokenroute_insecure_provider_tls on\"): "
                      "provider keys may reach an impostor", &name);
    }

#endif

    return NGX_OK;
}
