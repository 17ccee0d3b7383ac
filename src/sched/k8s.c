/*
 * k8s.c — Kubernetes manifests for a SecureAI deployment (`secureai deploy
 * k8s`): the key broker (Deployment + Service, secrets only referenced by
 * name, never embedded), the kata confidential runtime classes, training
 * worker Jobs (one per TEE kind, with the right TEE requests, runtime
 * classes and NFD node selectors), the scheduler extender (Deployment +
 * Service) and a KubeSchedulerConfiguration whose profile calls the
 * extender. The output is plain YAML written with stdio; tests validate it
 * against the Kubernetes API types (tests/sched/test_k8s_schema.sh).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "secureai/sched.h"

void sai_k8s_defaults(sai_k8s_opts_t *o)
{
    o->ns = "secureai";
    o->image = "ghcr.io/secureai/secureai:0.1.0";
    o->extender_url = NULL;
    o->policy = "security-first";
    o->workers = 2;
    o->epc_mib = 64;
}

static bool safe_token(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '/' || c == ':' || c == '_' || (c >= 'A' && c <= 'Z') || c == '@'))
            return false;
    }
    return true;
}

static const char ns_yaml[] =
    "apiVersion: v1\n"
    "kind: Namespace\n"
    "metadata:\n"
    "  name: %1$s\n"
    "  labels:\n"
    "    app.kubernetes.io/part-of: secureai\n";

static const char kbs_yaml[] =
    "# The key broker. Its TLS key and admin token live in Secrets that the\n"
    "# operator creates out of band; this file only names them. kbs.yaml (the\n"
    "# ConfigMap) points `secureai kbs serve --config` at the mounted files.\n"
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: secureai-kbs-config\n"
    "  namespace: %1$s\n"
    "data:\n"
    "  kbs.yaml: |\n"
    "    tls_cert: /etc/secureai/tls/tls.crt\n"
    "    tls_key: /etc/secureai/tls/tls.key\n"
    "    admin_token_file: /etc/secureai/admin/token\n"
    "---\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: secureai-kbs\n"
    "  namespace: %1$s\n"
    "  labels:\n"
    "    app.kubernetes.io/name: secureai-kbs\n"
    "spec:\n"
    "  replicas: 1\n"
    "  selector:\n"
    "    matchLabels:\n"
    "      app.kubernetes.io/name: secureai-kbs\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        app.kubernetes.io/name: secureai-kbs\n"
    "    spec:\n"
    "      automountServiceAccountToken: false\n"
    "      securityContext:\n"
    "        runAsNonRoot: true\n"
    "        runAsUser: 65532\n"
    "        seccompProfile:\n"
    "          type: RuntimeDefault\n"
    "      containers:\n"
    "        - name: kbs\n"
    "          image: %2$s\n"
    "          args: [\"kbs\", \"serve\", \"--config\", \"/etc/secureai/kbs/kbs.yaml\", \"--data-dir\", \"/var/lib/secureai\",\n"
    "                 \"--listen\", \"0.0.0.0\", \"--port\", \"8443\"]\n"
    "          ports:\n"
    "            - name: https\n"
    "              containerPort: 8443\n"
    "              protocol: TCP\n"
    "          resources:\n"
    "            requests:\n"
    "              cpu: 500m\n"
    "              memory: 256Mi\n"
    "            limits:\n"
    "              memory: 512Mi\n"
    "          securityContext:\n"
    "            allowPrivilegeEscalation: false\n"
    "            readOnlyRootFilesystem: true\n"
    "            capabilities:\n"
    "              drop: [\"ALL\"]\n"
    "          readinessProbe:\n"
    "            tcpSocket:\n"
    "              port: https\n"
    "            periodSeconds: 5\n"
    "          volumeMounts:\n"
    "            - name: tls\n"
    "              mountPath: /etc/secureai/tls\n"
    "              readOnly: true\n"
    "            - name: admin\n"
    "              mountPath: /etc/secureai/admin\n"
    "              readOnly: true\n"
    "            - name: config\n"
    "              mountPath: /etc/secureai/kbs\n"
    "              readOnly: true\n"
    "            - name: data\n"
    "              mountPath: /var/lib/secureai\n"
    "      volumes:\n"
    "        - name: tls\n"
    "          secret:\n"
    "            secretName: secureai-kbs-tls\n"
    "            defaultMode: 256    # 0400\n"
    "        - name: admin\n"
    "          secret:\n"
    "            secretName: secureai-kbs-admin\n"
    "            defaultMode: 256    # 0400\n"
    "            items:\n"
    "              - key: token\n"
    "                path: token\n"
    "        - name: config\n"
    "          configMap:\n"
    "            name: secureai-kbs-config\n"
    "        - name: data\n"
    "          persistentVolumeClaim:\n"
    "            claimName: secureai-kbs-data\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: PersistentVolumeClaim\n"
    "metadata:\n"
    "  name: secureai-kbs-data\n"
    "  namespace: %1$s\n"
    "spec:\n"
    "  accessModes: [\"ReadWriteOnce\"]\n"
    "  resources:\n"
    "    requests:\n"
    "      storage: 1Gi\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata:\n"
    "  name: secureai-kbs\n"
    "  namespace: %1$s\n"
    "spec:\n"
    "  type: ClusterIP\n"
    "  selector:\n"
    "    app.kubernetes.io/name: secureai-kbs\n"
    "  ports:\n"
    "    - name: https\n"
    "      port: 8443\n"
    "      targetPort: https\n"
    "      protocol: TCP\n";

static const char rc_yaml[] =
    "# Kata confidential runtime classes (normally installed by the kata /\n"
    "# confidential-containers operator). The overhead is what the simulator's\n"
    "# pod_overhead models: the guest kernel and agent of each confidential VM.\n"
    "apiVersion: node.k8s.io/v1\n"
    "kind: RuntimeClass\n"
    "metadata:\n"
    "  name: kata-qemu-snp\n"
    "handler: kata-qemu-snp\n"
    "overhead:\n"
    "  podFixed:\n"
    "    cpu: \"1\"\n"
    "    memory: 2Gi\n"
    "scheduling:\n"
    "  nodeSelector:\n"
    "    feature.node.kubernetes.io/cpu-security.sev.snp.enabled: \"true\"\n"
    "---\n"
    "apiVersion: node.k8s.io/v1\n"
    "kind: RuntimeClass\n"
    "metadata:\n"
    "  name: kata-qemu-tdx\n"
    "handler: kata-qemu-tdx\n"
    "overhead:\n"
    "  podFixed:\n"
    "    cpu: \"1\"\n"
    "    memory: 2Gi\n"
    "scheduling:\n"
    "  nodeSelector:\n"
    "    feature.node.kubernetes.io/cpu-security.tdx.enabled: \"true\"\n";

/* One training Job per TEE kind. %1$s ns, %2$s image, %3$u workers,
 * %4$s name suffix, %5$s extra pod spec lines, %6$s extra limits, %7$s NFD label */
static const char job_yaml[] =
    "apiVersion: batch/v1\n"
    "kind: Job\n"
    "metadata:\n"
    "  name: secureai-train-%4$s\n"
    "  namespace: %1$s\n"
    "  labels:\n"
    "    app.kubernetes.io/name: secureai-train\n"
    "    secureai.io/tee: %4$s\n"
    "spec:\n"
    "  completions: %3$u\n"
    "  parallelism: %3$u\n"
    "  completionMode: Indexed\n"
    "  backoffLimit: 0\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        app.kubernetes.io/name: secureai-train\n"
    "        secureai.io/confidentiality: required\n"
    "    spec:\n"
    "      schedulerName: secureai-scheduler\n"
    "      restartPolicy: Never\n"
    "      automountServiceAccountToken: false\n"
    "%5$s"
    "      nodeSelector:\n"
    "        %7$s: \"true\"\n"
    "      containers:\n"
    "        - name: worker\n"
    "          image: %2$s\n"
    "          # The TEE kind, the KBS pin or CA and the release policy are in the\n"
    "          # measured spec (ConfigMap secureai-pipeline); its tee must be %4$s.\n"
    "          args: [\"run\", \"/etc/secureai/pipeline.yaml\", \"--kbs\", \"https://secureai-kbs.%1$s.svc:8443\"]\n"
    "          env:\n"
    "            - name: SAI_WORKER_INDEX\n"
    "              valueFrom:\n"
    "                fieldRef:\n"
    "                  fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']\n"
    "          resources:\n"
    "            requests:\n"
    "              cpu: \"4\"\n"
    "              memory: 8Gi\n"
    "            limits:\n"
    "              memory: 8Gi\n"
    "%6$s"
    "          volumeMounts:\n"
    "            - name: pipeline\n"
    "              mountPath: /etc/secureai\n"
    "              readOnly: true\n"
    "      volumes:\n"
    "        - name: pipeline\n"
    "          configMap:\n"
    "            name: secureai-pipeline\n";

static const char ext_yaml[] =
    "# The scheduler extender: untrusted like any scheduler, it never sees a key.\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: secureai-extender\n"
    "  namespace: %1$s\n"
    "spec:\n"
    "  replicas: 1\n"
    "  selector:\n"
    "    matchLabels:\n"
    "      app.kubernetes.io/name: secureai-extender\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        app.kubernetes.io/name: secureai-extender\n"
    "    spec:\n"
    "      automountServiceAccountToken: false\n"
    "      securityContext:\n"
    "        runAsNonRoot: true\n"
    "        runAsUser: 65532\n"
    "      containers:\n"
    "        - name: extender\n"
    "          image: %2$s\n"
    "          args: [\"sched\", \"extender\", \"--listen\", \"0.0.0.0:8888\", \"--policy\", \"%3$s\"]\n"
    "          ports:\n"
    "            - name: http\n"
    "              containerPort: 8888\n"
    "          readinessProbe:\n"
    "            httpGet:\n"
    "              path: /healthz\n"
    "              port: http\n"
    "          resources:\n"
    "            requests:\n"
    "              cpu: 100m\n"
    "              memory: 128Mi\n"
    "            limits:\n"
    "              memory: 512Mi\n"
    "          securityContext:\n"
    "            allowPrivilegeEscalation: false\n"
    "            readOnlyRootFilesystem: true\n"
    "            capabilities:\n"
    "              drop: [\"ALL\"]\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata:\n"
    "  name: secureai-extender\n"
    "  namespace: %1$s\n"
    "spec:\n"
    "  selector:\n"
    "    app.kubernetes.io/name: secureai-extender\n"
    "  ports:\n"
    "    - name: http\n"
    "      port: 8888\n"
    "      targetPort: http\n";

/* nodeCacheCapable is false on purpose: this extender does not watch the
 * API server, so it needs the Node objects in each request (docs). */
static const char sched_yaml[] =
    "# Pass to kube-scheduler with --config. The profile `secureai-scheduler`\n"
    "# calls the SecureAI extender for filter and prioritize; pods opt in with\n"
    "# spec.schedulerName: secureai-scheduler.\n"
    "apiVersion: kubescheduler.config.k8s.io/v1\n"
    "kind: KubeSchedulerConfiguration\n"
    "leaderElection:\n"
    "  leaderElect: false\n"
    "profiles:\n"
    "  - schedulerName: secureai-scheduler\n"
    "extenders:\n"
    "  - urlPrefix: \"%1$s\"\n"
    "    filterVerb: filter\n"
    "    prioritizeVerb: prioritize\n"
    "    weight: 5\n"
    "    enableHTTPS: false\n"
    "    httpTimeout: 5s\n"
    "    nodeCacheCapable: false\n"
    "    ignorable: false\n"
    "    managedResources:\n"
    "      - name: sgx.intel.com/epc\n"
    "        ignoredByScheduler: false\n";

static int write_one(const char *dir, const char *name, sai_error *err, const char *fmt, ...)
    SAI_PRINTF(4, 5);

#include <stdarg.h>

static int write_one(const char *dir, const char *name, sai_error *err, const char *fmt, ...)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return sai_error_set(err, SAI_EINVAL, "output path too long");
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return sai_error_set(err, SAI_EIO, "%s: %s", path, strerror(errno));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    if (ferror(f) | (fclose(f) != 0))
        return sai_error_set(err, SAI_EIO, "%s: write failed", path);
    return 0;
}

int sai_k8s_write(const char *dir, const sai_k8s_opts_t *o, sai_error *err)
{
    if (!safe_token(o->ns, 63) || !safe_token(o->image, 255) || !safe_token(o->policy, 31))
        return sai_error_set(err, SAI_EINVAL, "namespace, image and policy must be plain tokens");
    if (sai_sched_policy_find(o->policy) == NULL || !sai_sched_policy_find(o->policy)->safe)
        return sai_error_set(err, SAI_EINVAL, "policy %s is unknown or not safe to deploy", o->policy);
    if (o->workers == 0 || o->workers > 10000 || o->epc_mib <= 0 || o->epc_mib > 1 << 20)
        return sai_error_set(err, SAI_EINVAL, "workers must be 1..10000 and epc 1..1048576 MiB");
    char url[512];
    if (o->extender_url) {
        if (!safe_token(o->extender_url, 400))
            return sai_error_set(err, SAI_EINVAL, "bad extender URL");
        snprintf(url, sizeof url, "%s", o->extender_url);
    } else {
        snprintf(url, sizeof url, "http://secureai-extender.%s.svc:8888", o->ns);
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return sai_error_set(err, SAI_EIO, "%s: %s", dir, strerror(errno));
    int rc;
    if ((rc = write_one(dir, "00-namespace.yaml", err, ns_yaml, o->ns)) ||
        (rc = write_one(dir, "10-kbs.yaml", err, kbs_yaml, o->ns, o->image)) ||
        (rc = write_one(dir, "20-runtimeclasses.yaml", err, "%s", rc_yaml)) ||
        (rc = write_one(dir, "30-extender.yaml", err, ext_yaml, o->ns, o->image, o->policy)) ||
        (rc = write_one(dir, "40-scheduler-config.yaml", err, sched_yaml, url)))
        return rc;
    char epc[160];
    snprintf(epc, sizeof epc, "              sgx.intel.com/epc: %lldMi\n", (long long)o->epc_mib);
    const char *nf = "feature.node.kubernetes.io/cpu-security.";
    char l_sgx[128], l_snp[128], l_tdx[128];
    snprintf(l_sgx, sizeof l_sgx, "%ssgx.enabled", nf);
    snprintf(l_snp, sizeof l_snp, "%ssev.snp.enabled", nf);
    snprintf(l_tdx, sizeof l_tdx, "%stdx.enabled", nf);
    if ((rc = write_one(dir, "50-train-sgx.yaml", err, job_yaml, o->ns, o->image, o->workers, "sgx",
                        "", epc, l_sgx)) ||
        (rc = write_one(dir, "51-train-sev-snp.yaml", err, job_yaml, o->ns, o->image, o->workers,
                        "sev-snp", "      runtimeClassName: kata-qemu-snp\n", "", l_snp)) ||
        (rc = write_one(dir, "52-train-tdx.yaml", err, job_yaml, o->ns, o->image, o->workers, "tdx",
                        "      runtimeClassName: kata-qemu-tdx\n", "", l_tdx)))
        return rc;
    return 0;
}
