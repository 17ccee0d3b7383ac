/*
 * tls.c — a TLS client session bound to the host it dials (tls.h).
 */
#include <openssl/x509v3.h>

#include "util/tls.h"

SSL *sai_tls_client_ssl(SSL_CTX *ctx, const char *host, bool host_is_ip, bool check_name)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    if (!host_is_ip && SSL_set_tlsext_host_name(ssl, host) != 1)
        goto fail;
    if (check_name) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        if ((host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
                        : X509_VERIFY_PARAM_set1_host(param, host, 0)) != 1)
            goto fail;
    }
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}
