/*
 * tls.h — the one place a TLS client session is bound to the host it dials
 * (the KBS client, src/kbs/client.c; the extender's node lister,
 * src/sched/kube_nodes.c).
 */
#ifndef SAI_UTIL_TLS_H
#define SAI_UTIL_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>

/* A new SSL from ctx for HOST: SNI when HOST is a name (never for an IP
 * literal), and, when check_name, the certificate must name HOST (its DNS
 * name or IP address) on top of ctx's chain verification. NULL when
 * OpenSSL cannot allocate. */
SSL *sai_tls_client_ssl(SSL_CTX *ctx, const char *host, bool host_is_ip, bool check_name);

#endif
