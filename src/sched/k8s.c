/*
 * k8s.c — Kubernetes manifests for a SecureAI deployment (`secureai deploy
 * k8s`), written so that `kubectl apply -f DIR/` works on a cluster that
 * runs what confidential clusters already run (docs/scheduling.md,
 * "deploy k8s"):
 *
 *   00 namespace; 10 key broker (Deployment, Service, PVC; Secrets only
 *   referenced by name); 20 the admission policy (ValidatingAdmissionPolicy
 *   + binding: a pod labelled `required` must be confidential); 30 the
 *   extender (ServiceAccount with read access to nodes, Deployment listing
 *   them from the API server, Service); 40 a second scheduler
 *   `secureai-scheduler` (ServiceAccount, RBAC, ConfigMap holding its
 *   KubeSchedulerConfiguration, Deployment with leader election; the
 *   cluster's default scheduler and its profile are left alone); 45 the
 *   pipeline specs the Jobs mount; 50..52 one training Job per TEE kind.
 *
 * Not written, because the cluster's own operators install them and a
 * second copy would collide: the CoCo RuntimeClasses (kata-qemu-snp,
 * kata-qemu-tdx), Intel's SGX device plugin and admission webhook, NFD.
 * The output is plain YAML written with stdio; tests validate it against
 * the Kubernetes API types, kube-scheduler's rules, kubectl, and the
 * admission policy's CEL with a CEL evaluator (tests/sched/test_k8s_*.sh).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "secureai/sched.h"

void sai_k8s_defaults(sai_k8s_opts_t *o)
{
    o->ns = "secureai";
    o->image = "ghcr.io/secureai/secureai:0.1.0";
    o->scheduler_image = "registry.k8s.io/kube-scheduler:v1.30.6";
    o->extender_url = NULL;
    o->policy = "security-first";
    o->kbs_pin = NULL;
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

/* A DNS-1123 label, as a namespace name must be. */
static bool dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static bool pin_ok(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
        return false;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
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


/* The admission policy. CEL, admissionregistration.k8s.io/v1 (GA in 1.30).
 * A pod labelled secureai.io/confidentiality=required is admitted only with
 * a confidential RuntimeClass (the CoCo operator's names for SEV-SNP and
 * TDX guests) or with a container that asks Intel's SGX device plugin for an
 * enclave and EPC. The same list is in extender_json.c (SAI_K8S_CONF_RC). */
static const char vap_yaml[] =
    "# A pod labelled secureai.io/confidentiality=required must be confidential:\n"
    "# a confidential RuntimeClass (CoCo's kata-qemu-snp / kata-qemu-tdx and\n"
    "# their GPU variants) or a container requesting an SGX enclave with EPC from\n"
    "# Intel's SGX device plugin. Without this, such a pod could run as an\n"
    "# ordinary container. The scheduler extender refuses it too.\n"
    "apiVersion: admissionregistration.k8s.io/v1\n"
    "kind: ValidatingAdmissionPolicy\n"
    "metadata:\n"
    "  name: secureai-confidential-pods\n"
    "spec:\n"
    "  failurePolicy: Fail\n"
    "  matchConstraints:\n"
    "    resourceRules:\n"
    "      - apiGroups: [\"\"]\n"
    "        apiVersions: [\"v1\"]\n"
    "        operations: [\"CREATE\", \"UPDATE\"]\n"
    "        resources: [\"pods\"]\n"
    "  matchConditions:\n"
    "    - name: labelled-required\n"
    "      expression: >-\n"
    "        has(object.metadata.labels) &&\n"
    "        'secureai.io/confidentiality' in object.metadata.labels &&\n"
    "        object.metadata.labels['secureai.io/confidentiality'] == 'required'\n"
    "  variables:\n"
    "    - name: confidentialRuntimeClass\n"
    "      expression: >-\n"
    "        has(object.spec.runtimeClassName) &&\n"
    "        object.spec.runtimeClassName in ['kata-qemu-snp', 'kata-qemu-tdx',\n"
    "        'kata-qemu-nvidia-gpu-snp', 'kata-qemu-nvidia-gpu-tdx']\n"
    "    - name: sgxEnclave\n"
    "      expression: >-\n"
    "        object.spec.containers.exists(c, has(c.resources) &&\n"
    "        ((has(c.resources.limits) && 'sgx.intel.com/enclave' in c.resources.limits &&\n"
    "        'sgx.intel.com/epc' in c.resources.limits) ||\n"
    "        (has(c.resources.requests) && 'sgx.intel.com/enclave' in c.resources.requests &&\n"
    "        'sgx.intel.com/epc' in c.resources.requests)))\n"
    "  validations:\n"
    "    - expression: variables.confidentialRuntimeClass || variables.sgxEnclave\n"
    "      reason: Forbidden\n"
    "      message: >-\n"
    "        a pod labelled secureai.io/confidentiality=required needs a confidential\n"
    "        RuntimeClass (kata-qemu-snp, kata-qemu-tdx, kata-qemu-nvidia-gpu-snp,\n"
    "        kata-qemu-nvidia-gpu-tdx) or a container requesting sgx.intel.com/enclave\n"
    "        and sgx.intel.com/epc; otherwise it would run as an ordinary container\n"
    "---\n"
    "apiVersion: admissionregistration.k8s.io/v1\n"
    "kind: ValidatingAdmissionPolicyBinding\n"
    "metadata:\n"
    "  name: secureai-confidential-pods\n"
    "spec:\n"
    "  policyName: secureai-confidential-pods\n"
    "  validationActions: [\"Deny\"]\n";

/* A training worker's resources and volumes, at the Job's indentation (the
 * MPIJob's workers take it four columns deeper). %1$s extra limits, %2$s TEE */
static const char worker_tail_yaml[] =
    "          resources:\n"
    "            requests:\n"
    "              cpu: \"4\"\n"
    "              memory: 8Gi\n"
    "            limits:\n"
    "              memory: 8Gi\n"
    "%1$s"
    "          volumeMounts:\n"
    "            - name: pipeline\n"
    "              mountPath: /etc/secureai\n"
    "              readOnly: true\n"
    "            - name: datasets\n"
    "              mountPath: /var/lib/secureai/datasets\n"
    "              readOnly: true\n"
    "            - name: run\n"
    "              mountPath: /var/lib/secureai/run\n"
    "      volumes:\n"
    "        - name: pipeline\n"
    "          configMap:\n"
    "            name: secureai-pipeline-%2$s\n"
    "        - name: datasets\n"
    "          persistentVolumeClaim:\n"
    "            claimName: secureai-datasets\n"
    "            readOnly: true\n"
    "        - name: run\n"
    "          emptyDir: {}\n";

/* One training Job per TEE kind: the TCP variant of a distributed run, an
 * Indexed Job whose pods find each other through a headless Service (pod
 * k is secureai-train-<tee>-k.secureai-train-<tee>, by the Job's hostname
 * and subdomain). %1$s ns, %2$s image, %3$u workers, %4$s TEE name,
 * %5$s extra pod metadata/spec lines, %6$s worker_tail_yaml, %7$s node
 * selector line(s), %8$s extra run arguments (the ring, when workers > 1) */
static const char job_yaml[] =
    "# Workers reach each other on port 7070 for the encrypted ring (frames\n"
    "# AEAD-sealed inside the enclaves; docs/distributed.md). Headless: DNS\n"
    "# names for the pods, no load-balanced address.\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata:\n"
    "  name: secureai-train-%4$s\n"
    "  namespace: %1$s\n"
    "spec:\n"
    "  clusterIP: None\n"
    "  publishNotReadyAddresses: true\n"
    "  selector:\n"
    "    secureai.io/job: train-%4$s\n"
    "  ports:\n"
    "    - name: ring\n"
    "      port: 7070\n"
    "      targetPort: 7070\n"
    "---\n"
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
    "        secureai.io/job: train-%4$s\n"
    "        secureai.io/confidentiality: required\n"
    "%5$s"
    "      schedulerName: secureai-scheduler\n"
    "      restartPolicy: Never\n"
    "      automountServiceAccountToken: false\n"
    "      subdomain: secureai-train-%4$s\n"
    "      nodeSelector:\n"
    "%7$s"
    "      containers:\n"
    "        - name: worker\n"
    "          image: %2$s\n"
    "          # The TEE kind, the KBS pin, the release policy and the ring's\n"
    "          # size are in the measured spec (ConfigMap secureai-pipeline-%4$s).\n"
    "          args: [\"run\", \"/etc/secureai/pipeline.yaml\", \"--kbs\", \"https://secureai-kbs.%1$s.svc:8443\"%8$s]\n"
    "          env:\n"
    "            - name: SAI_WORKER_INDEX\n"
    "              valueFrom:\n"
    "                fieldRef:\n"
    "                  fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']\n"
    "          ports:\n"
    "            - name: ring\n"
    "              containerPort: 7070\n"
    "%6$s";

/* The MPI variant: a Kubeflow MPIJob (kubeflow.org/v2beta1, the MPI
 * Operator). The launcher runs mpirun, which starts `secureai run` on the
 * workers over SSH; each rank's host relays the enclaves' AEAD frames as
 * MPI messages (libsecureai-mpi.so), so neither the launcher nor the MPI
 * library sees a key or a plaintext byte, and only the workers are
 * confidential pods. %1$s ns, %2$s image, %3$u workers, %4$s TEE name,
 * %5$s extra pod metadata/spec lines, %6$s worker_tail_yaml, %7$s node
 * selector line(s) */
static const char mpijob_yaml[] =
    "apiVersion: kubeflow.org/v2beta1\n"
    "kind: MPIJob\n"
    "metadata:\n"
    "  name: secureai-train-mpi-%4$s\n"
    "  namespace: %1$s\n"
    "  labels:\n"
    "    app.kubernetes.io/name: secureai-train-mpi\n"
    "    secureai.io/tee: %4$s\n"
    "spec:\n"
    "  slotsPerWorker: 1\n"
    "  mpiImplementation: OpenMPI\n"
    "  runPolicy:\n"
    "    backoffLimit: 0\n"
    "    cleanPodPolicy: Running\n"
    "    ttlSecondsAfterFinished: 86400\n"
    "  mpiReplicaSpecs:\n"
    "    Launcher:\n"
    "      replicas: 1\n"
    "      restartPolicy: Never\n"
    "      template:\n"
    "        metadata:\n"
    "          labels:\n"
    "            app.kubernetes.io/name: secureai-train-mpi-launcher\n"
    "        spec:\n"
    "          automountServiceAccountToken: false\n"
    "          containers:\n"
    "            - name: launcher\n"
    "              image: %2$s\n"
    "              # One rank per worker; the spec's dist.workers must equal -np.\n"
    "              command: [\"mpirun\"]\n"
    "              args: [\"-np\", \"%3$u\", \"--bind-to\", \"none\", \"secureai\", \"run\",\n"
    "                     \"/etc/secureai/pipeline-mpi.yaml\", \"--kbs\", \"https://secureai-kbs.%1$s.svc:8443\"]\n"
    "              resources:\n"
    "                requests:\n"
    "                  cpu: 500m\n"
    "                  memory: 512Mi\n"
    "                limits:\n"
    "                  memory: 512Mi\n"
    "    Worker:\n"
    "      replicas: %3$u\n"
    "      restartPolicy: Never\n"
    "      template:\n"
    "        metadata:\n"
    "          labels:\n"
    "            app.kubernetes.io/name: secureai-train-mpi-worker\n"
    "            secureai.io/confidentiality: required\n"
    "%5$s"
    "          schedulerName: secureai-scheduler\n"
    "          automountServiceAccountToken: false\n"
    "          nodeSelector:\n"
    "%7$s"
    "          containers:\n"
    "            - name: worker\n"
    "              image: %2$s\n"
    "              # mpirun reaches the worker over SSH (keys mounted by the MPI\n"
    "              # Operator); the image carries sshd and OpenMPI.\n"
    "              command: [\"/usr/sbin/sshd\"]\n"
    "              args: [\"-De\"]\n"
    "%6$s";

/* The sealed datasets the Jobs read (the operator fills the volume with
 * `secureai seal` output; sealed data is safe to store outside a TEE). */
static const char datasets_yaml[] =
    "apiVersion: v1\n"
    "kind: PersistentVolumeClaim\n"
    "metadata:\n"
    "  name: secureai-datasets\n"
    "  namespace: %1$s\n"
    "spec:\n"
    "  accessModes: [\"ReadOnlyMany\"]\n"
    "  resources:\n"
    "    requests:\n"
    "      storage: 10Gi\n";

/* The ConfigMap holding the measured pipeline specs of one TEE kind.
 * %1$s ns, %2$s TEE */
static const char pipeline_cm_yaml[] =
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: secureai-pipeline-%2$s\n"
    "  namespace: %1$s\n"
    "  labels:\n"
    "    app.kubernetes.io/part-of: secureai\n"
    "data:\n";

/* One measured pipeline spec, a key of that ConfigMap. %1$s ns, %2$s TEE,
 * %3$s KBS pin, %4$s key, %5$s name suffix, %6$s dist section */
static const char pipeline_yaml[] =
    "  %4$s: |\n"
    "    # Fields: docs/pipeline.md. Everything but the host-side paths\n"
    "    # (dataset.sealed, outputs.dir) and kbs.url is measured.\n"
    "    version: 1\n"
    "    name: fashion-mnist-smallcnn-%2$s%5$s\n"
    "    tee: %2$s\n"
    "    stages: [ingest, preprocess, train, evaluate, infer]\n"
    "    dataset:\n"
    "      sealed: /var/lib/secureai/datasets/fashion-mnist.sealed\n"
    "      format: idx\n"
    "      resource: {repo: demo, type: dataset, tag: fashion-mnist}\n"
    "    model:\n"
    "      arch: smallcnn\n"
    "      classes: 10\n"
    "      key: {repo: demo, type: model, tag: fashion-mnist}\n"
    "    hyper:\n"
    "      epochs: 2\n"
    "      batch: 128\n"
    "      lr: 0.1\n"
    "      momentum: 0.9\n"
    "      weight_decay: 0.0005\n"
    "      seed: 1\n"
    "    preprocess:\n"
    "      normalize: true\n"
    "      augment: []\n"
    "%6$s"
    "    kbs:\n"
    "      url: https://secureai-kbs.%1$s.svc:8443\n"
    "      # `secureai kbs info --data-dir DIR` prints the KBS's pin; the\n"
    "      # all-zero default matches no certificate (fails closed).\n"
    "      pin: %3$s\n"
    "      retries: 4\n"
    "    outputs:\n"
    "      dir: /var/lib/secureai/run\n"
    "      model: model.sealed\n";

static const char ext_yaml[] =
    "# The scheduler extender: untrusted like any scheduler, it never sees a key.\n"
    "# It lists nodes from the API server (--kube-api in-cluster), so the\n"
    "# scheduler sends it node names (nodeCacheCapable: true), not Node objects;\n"
    "# its ServiceAccount may read nodes and nothing else.\n"
    "apiVersion: v1\n"
    "kind: ServiceAccount\n"
    "metadata:\n"
    "  name: secureai-extender\n"
    "  namespace: %1$s\n"
    "---\n"
    "apiVersion: rbac.authorization.k8s.io/v1\n"
    "kind: ClusterRole\n"
    "metadata:\n"
    "  name: secureai-extender-nodes\n"
    "rules:\n"
    "  - apiGroups: [\"\"]\n"
    "    resources: [\"nodes\"]\n"
    "    verbs: [\"get\", \"list\", \"watch\"]\n"
    "---\n"
    "apiVersion: rbac.authorization.k8s.io/v1\n"
    "kind: ClusterRoleBinding\n"
    "metadata:\n"
    "  name: secureai-extender-nodes\n"
    "subjects:\n"
    "  - kind: ServiceAccount\n"
    "    name: secureai-extender\n"
    "    namespace: %1$s\n"
    "roleRef:\n"
    "  apiGroup: rbac.authorization.k8s.io\n"
    "  kind: ClusterRole\n"
    "  name: secureai-extender-nodes\n"
    "---\n"
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
    "      serviceAccountName: secureai-extender\n"
    "      automountServiceAccountToken: true   # the node lister's bound token and the cluster CA\n"
    "      securityContext:\n"
    "        runAsNonRoot: true\n"
    "        runAsUser: 65532\n"
    "      containers:\n"
    "        - name: extender\n"
    "          image: %2$s\n"
    "          args: [\"sched\", \"extender\", \"--listen\", \"0.0.0.0:8888\", \"--policy\", \"%3$s\",\n"
    "                 \"--kube-api\", \"in-cluster\"]\n"
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
    "              memory: 1Gi   # request: 2 x 64 MiB body + 512 MiB parse budget + reply; node list: 2 x 32 MiB page + 128 MiB budget + 2 caches (extender_internal.h)\n"
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

/* The second scheduler, after "Configure Multiple Schedulers" in the
 * Kubernetes docs: its own ServiceAccount bound to system:kube-scheduler
 * and system:volume-scheduler, read access to the authentication
 * ConfigMap in kube-system, a Lease of its own for leader election (the
 * system:kube-scheduler role may only get/update the lease named
 * kube-scheduler), and its configuration in a ConfigMap (no API server
 * serves KubeSchedulerConfiguration, so it cannot be applied as a kind).
 * %1$s ns, %2$s scheduler image, %3$s extender URL, %4$s scoring strategy */
static const char sched_yaml[] =
    "apiVersion: v1\n"
    "kind: ServiceAccount\n"
    "metadata:\n"
    "  name: secureai-scheduler\n"
    "  namespace: %1$s\n"
    "---\n"
    "apiVersion: rbac.authorization.k8s.io/v1\n"
    "kind: ClusterRoleBinding\n"
    "metadata:\n"
    "  name: secureai-scheduler-as-kube-scheduler\n"
    "subjects:\n"
    "  - kind: ServiceAccount\n"
    "    name: secureai-scheduler\n"
    "    namespace: %1$s\n"
    "roleRef:\n"
    "  apiGroup: rbac.authorization.k8s.io\n"
    "  kind: ClusterRole\n"
    "  name: system:kube-scheduler\n"
    "---\n"
    "apiVersion: rbac.authorization.k8s.io/v1\n"
    "kind: ClusterRoleBinding\n"
    "metadata:\n"
    "  name: secureai-scheduler-as-volume-scheduler\n"
    "subjects:\n"
    "  - kind: ServiceAccount\n"
    "    name: secureai-scheduler\n"
    "    namespace: %1$s\n"
    "roleRef:\n"
    "  apiGroup: rbac.authorization.k8s.io\n"
    "  kind: ClusterRole\n"
    "  name: system:volume-scheduler\n"
    "---\n"
    "apiVersion: rbac.authorization.k8s.io/v1\n"
    "kind: RoleBinding\n"
    "metadata:\n"
    "  name: secureai-scheduler-extension-apiserver-authentication-reader\n"
    "  namespace: kube-system\n"
    "subjects:\n"
    "  - kind: ServiceAccount\n"
    "    name: secureai-scheduler\n"
    "    namespace: %1$s\n"
    "roleRef:\n"
    "  apiGroup: rbac.authorization.k8s.io\n"
    "  kind: Role\n"
    "  name: extension-apiserver-authentication-reader\n"
    "---\n"
    "apiVersion: rbac.authorization.k8s.io/v1\n"
    "kind: Role\n"
    "metadata:\n"
    "  name: secureai-scheduler-leader-election\n"
    "  namespace: %1$s\n"
    "rules:\n"
    "  - apiGroups: [\"coordination.k8s.io\"]\n"
    "    resources: [\"leases\"]\n"
    "    verbs: [\"create\"]\n"
    "  - apiGroups: [\"coordination.k8s.io\"]\n"
    "    resources: [\"leases\"]\n"
    "    resourceNames: [\"secureai-scheduler\"]\n"
    "    verbs: [\"get\", \"update\"]\n"
    "---\n"
    "apiVersion: rbac.authorization.k8s.io/v1\n"
    "kind: RoleBinding\n"
    "metadata:\n"
    "  name: secureai-scheduler-leader-election\n"
    "  namespace: %1$s\n"
    "subjects:\n"
    "  - kind: ServiceAccount\n"
    "    name: secureai-scheduler\n"
    "    namespace: %1$s\n"
    "roleRef:\n"
    "  apiGroup: rbac.authorization.k8s.io\n"
    "  kind: Role\n"
    "  name: secureai-scheduler-leader-election\n"
    "---\n"
    "# Only the profile `secureai-scheduler`: this is a second scheduler, the\n"
    "# cluster's own kube-scheduler keeps serving `default-scheduler`. The\n"
    "# extender has no managedResources, so kube-scheduler calls it for every\n"
    "# pod of this profile (HTTPExtender.IsInterested). Binpack/spread inside\n"
    "# what the extender allows is NodeResourcesFit's scoring strategy, the\n"
    "# only score plugin besides the extender (`secureai sched simulate`\n"
    "# computes the same scores).\n"
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: secureai-scheduler-config\n"
    "  namespace: %1$s\n"
    "data:\n"
    "  config.yaml: |\n"
    "    apiVersion: kubescheduler.config.k8s.io/v1\n"
    "    kind: KubeSchedulerConfiguration\n"
    "    leaderElection:\n"
    "      leaderElect: true\n"
    "      resourceNamespace: %1$s\n"
    "      resourceName: secureai-scheduler\n"
    "    profiles:\n"
    "      - schedulerName: secureai-scheduler\n"
    "        plugins:\n"
    "          score:\n"
    "            disabled:\n"
    "              - name: \"*\"\n"
    "            enabled:\n"
    "              - name: NodeResourcesFit\n"
    "                weight: 1\n"
    "        pluginConfig:\n"
    "          - name: NodeResourcesFit\n"
    "            args:\n"
    "              scoringStrategy:\n"
    "%4$s"
    "    extenders:\n"
    "      - urlPrefix: \"%3$s\"\n"
    "        filterVerb: filter\n"
    "        prioritizeVerb: prioritize\n"
    "        weight: 5\n"
    "        enableHTTPS: false\n"
    "        httpTimeout: 5s\n"
    "        nodeCacheCapable: true\n"
    "        ignorable: false\n"
    "---\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: secureai-scheduler\n"
    "  namespace: %1$s\n"
    "  labels:\n"
    "    app.kubernetes.io/name: secureai-scheduler\n"
    "spec:\n"
    "  replicas: 2\n"
    "  selector:\n"
    "    matchLabels:\n"
    "      app.kubernetes.io/name: secureai-scheduler\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        app.kubernetes.io/name: secureai-scheduler\n"
    "    spec:\n"
    "      serviceAccountName: secureai-scheduler\n"
    "      securityContext:\n"
    "        runAsNonRoot: true\n"
    "        runAsUser: 65532\n"
    "        seccompProfile:\n"
    "          type: RuntimeDefault\n"
    "      containers:\n"
    "        - name: kube-scheduler\n"
    "          image: %2$s\n"
    "          command: [\"kube-scheduler\", \"--config=/etc/kubernetes/secureai-scheduler/config.yaml\"]\n"
    "          livenessProbe:\n"
    "            httpGet:\n"
    "              path: /healthz\n"
    "              port: 10259\n"
    "              scheme: HTTPS\n"
    "            initialDelaySeconds: 15\n"
    "          readinessProbe:\n"
    "            httpGet:\n"
    "              path: /healthz\n"
    "              port: 10259\n"
    "              scheme: HTTPS\n"
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
    "          volumeMounts:\n"
    "            - name: config\n"
    "              mountPath: /etc/kubernetes/secureai-scheduler\n"
    "              readOnly: true\n"
    "      volumes:\n"
    "        - name: config\n"
    "          configMap:\n"
    "            name: secureai-scheduler-config\n";

static int write_one(const char *dir, const char *name, sai_error_t *err, const char *fmt, ...)
    SAI_PRINTF(4, 5);

static int write_one(const char *dir, const char *name, sai_error_t *err, const char *fmt, ...)
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

/* kube-scheduler's NodeResourcesFit scoring strategy for a policy's pick
 * rule inside what the extender allows (sim.c models the same rule). */
/* The scoringStrategy block of NodeResourcesFitArgs for a policy: the
 * policy's own strategy (binpack, spread, rtcr: fit.c) with its weights and
 * shape, else the strategy of its pick rule over cpu, memory and EPC. */
static void scoring_yaml(const sai_sched_policy_t *pol, char *b, size_t n)
{
    static const sai_sched_fit_t most = { SAI_FIT_MOST_ALLOCATED, 1, 1, 1, {{0, 0}}, 0 };
    static const sai_sched_fit_t least = { SAI_FIT_LEAST_ALLOCATED, 1, 1, 1, {{0, 0}}, 0 };
    const sai_sched_fit_t *f = pol->fit ? pol->fit
                               : strcmp(sai_k8s_scoring_strategy(pol), "LeastAllocated") == 0 ? &least : &most;
    size_t o = 0;
    o += (size_t)snprintf(b + o, n - o, "                type: %s\n                resources:\n",
                          sai_k8s_scoring_strategy(pol));
    static const char *const res[3] = { "cpu", "memory", "sgx.intel.com/epc" };
    const int64_t w[3] = { f->w_cpu, f->w_mem, f->w_epc };
    for (int r = 0; r < 3 && o < n; r++)
        if (w[r] > 0)
            o += (size_t)snprintf(b + o, n - o, "                  - name: %s\n                    weight: %lld\n",
                                  res[r], (long long)w[r]);
    if (f->type == SAI_FIT_REQUESTED_TO_CAPACITY_RATIO && o < n) {
        o += (size_t)snprintf(b + o, n - o, "                requestedToCapacityRatio:\n                  shape:\n");
        for (size_t i = 0; i < f->nshape && o < n; i++)
            o += (size_t)snprintf(b + o, n - o, "                    - utilization: %lld\n"
                                  "                      score: %lld\n",
                                  (long long)f->shape[i].utilization, (long long)f->shape[i].score);
    }
}

const char *sai_k8s_scoring_strategy(const sai_sched_policy_t *pol)
{
    if (pol->fit != NULL)
        return pol->fit->type == SAI_FIT_MOST_ALLOCATED    ? "MostAllocated"
               : pol->fit->type == SAI_FIT_LEAST_ALLOCATED ? "LeastAllocated"
                                                           : "RequestedToCapacityRatio";
    bool spread = pol->pick == SAI_PICK_WORST || pol->pick == SAI_PICK_VAUCHER_WORST;
    return spread ? "LeastAllocated" : "MostAllocated";
}

/* Copy lines to out with `extra` more spaces in front of each one. */
static void indent(char *out, size_t n, const char *lines, int extra)
{
    size_t o = 0;
    bool bol = true;
    for (const char *p = lines; *p && o + (size_t)extra + 2 < n; p++) {
        if (bol)
            for (int k = 0; k < extra; k++)
                out[o++] = ' ';
        out[o++] = *p;
        bol = *p == '\n';
    }
    out[o] = '\0';
}

/* The ConfigMap of one TEE kind: pipeline.yaml for the Job (TCP ring when
 * there are several workers) and, with several workers, pipeline-mpi.yaml
 * for the MPIJob. Transport and ring size are measured, so they are two
 * specs (two names, two group secrets), not one spec and a flag. */
static int write_pipeline(const char *dir, const char *name, const sai_k8s_opts_t *o,
                          const char *tee, const char *pin, sai_error_t *err)
{
    char tcp[128] = "", mpi[128] = "";
    if (o->workers > 1) {
        snprintf(tcp, sizeof tcp, "    dist:\n      workers: %u\n      transport: tcp\n", o->workers);
        snprintf(mpi, sizeof mpi, "    dist:\n      workers: %u\n      transport: mpi\n", o->workers);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    fprintf(m, pipeline_cm_yaml, o->ns, tee);
    fprintf(m, pipeline_yaml, o->ns, tee, pin, "pipeline.yaml", "", tcp);
    if (o->workers > 1)
        fprintf(m, pipeline_yaml, o->ns, tee, pin, "pipeline-mpi.yaml", "-mpi", mpi);
    int rc = ferror(m) | fclose(m) ? sai_error_set(err, SAI_ENOMEM, "out of memory")
                                   : write_one(dir, name, err, "%s", buf);
    free(buf);
    return rc;
}

int sai_k8s_write(const char *dir, const sai_k8s_opts_t *o, sai_error_t *err)
{
    if (!dns_label(o->ns))
        return sai_error_set(err, SAI_EINVAL, "namespace must be a DNS label (a-z, 0-9, '-', at most 63)");
    if (!safe_token(o->image, 255) || !safe_token(o->scheduler_image, 255) ||
        !safe_token(o->policy, 31))
        return sai_error_set(err, SAI_EINVAL, "images and policy must be plain tokens");
    const sai_sched_policy_t *pol = sai_sched_policy_find(o->policy);
    if (pol == NULL || !pol->safe)
        return sai_error_set(err, SAI_EINVAL, "policy %s is unknown or not safe to deploy", o->policy);
    /* workers: a pipeline spec's dist.workers is at most 256 */
    if (o->workers == 0 || o->workers > 256 || o->epc_mib <= 0 || o->epc_mib > 1 << 20)
        return sai_error_set(err, SAI_EINVAL, "workers must be 1..256 and epc 1..1048576 MiB");
    const char *pin = o->kbs_pin ? o->kbs_pin
                                 : "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    if (!pin_ok(pin))
        return sai_error_set(err, SAI_EINVAL, "the KBS pin must be sha256:<64 lower-case hex digits>");
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
    char scoring[1024];
    scoring_yaml(pol, scoring, sizeof scoring);
    int rc;
    if ((rc = write_one(dir, "00-namespace.yaml", err, ns_yaml, o->ns)) ||
        (rc = write_one(dir, "10-kbs.yaml", err, kbs_yaml, o->ns, o->image)) ||
        (rc = write_one(dir, "20-admission-policy.yaml", err, "%s", vap_yaml)) ||
        (rc = write_one(dir, "30-extender.yaml", err, ext_yaml, o->ns, o->image, o->policy)) ||
        (rc = write_one(dir, "40-scheduler.yaml", err, sched_yaml, o->ns, o->scheduler_image, url,
                        scoring)))
        return rc;
    if ((rc = write_one(dir, "44-datasets.yaml", err, datasets_yaml, o->ns)))
        return rc;
    static const char *const tees[] = {"sgx", "sev-snp", "tdx"};
    for (size_t i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "45-pipeline-%s.yaml", tees[i]);
        if ((rc = write_pipeline(dir, name, o, tees[i], pin, err)))
            return rc;
    }
    /* SGX: Intel's device plugin serves sgx.intel.com/epc and
     * sgx.intel.com/enclave; its admission webhook mounts the aesmd socket
     * for quote generation when the pod carries the quote-provider
     * annotation. NFD (with Intel's NodeFeatureRule) labels the nodes.
     * The lines are at the Job's indentation; the MPIJob's pod template
     * sits four columns deeper. */
    char sgx_lim[200];
    snprintf(sgx_lim, sizeof sgx_lim,
             "              sgx.intel.com/epc: %lldMi\n"
             "              sgx.intel.com/enclave: \"1\"\n", (long long)o->epc_mib);
    const struct { const char *tee, *meta, *lim, *sel; } kinds[] = {
        {"sgx", "      annotations:\n        sgx.intel.com/quote-provider: aesmd\n    spec:\n", sgx_lim,
         "        feature.node.kubernetes.io/cpu-security.sgx.enabled: \"true\"\n"},
        {"sev-snp", "    spec:\n      runtimeClassName: kata-qemu-snp\n", "",
         "        feature.node.kubernetes.io/cpu-security.sev.snp.enabled: \"true\"\n"},
        {"tdx", "    spec:\n      runtimeClassName: kata-qemu-tdx\n", "",
         "        feature.node.kubernetes.io/cpu-security.tdx.enabled: \"true\"\n"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *t = kinds[i].tee;
        char name[64], ring[300] = "";
        if (o->workers > 1)
            snprintf(ring, sizeof ring,
                     ", \"--rank\", \"$(SAI_WORKER_INDEX)\",\n"
                     "                 \"--peers\", \"secureai-train-%s-{rank}.secureai-train-%s.%s.svc:7070\"",
                     t, t, o->ns);
        char tail[2048];
        snprintf(tail, sizeof tail, worker_tail_yaml, kinds[i].lim, t);
        snprintf(name, sizeof name, "5%zu-train-%s.yaml", i, t);
        if ((rc = write_one(dir, name, err, job_yaml, o->ns, o->image, o->workers, t, kinds[i].meta,
                            tail, kinds[i].sel, ring)))
            return rc;
        if (o->workers < 2)
            continue;
        char meta[200], tail4[2560], sel[200];
        indent(meta, sizeof meta, kinds[i].meta, 4);
        indent(tail4, sizeof tail4, tail, 4);
        indent(sel, sizeof sel, kinds[i].sel, 4);
        snprintf(name, sizeof name, "5%zu-train-mpi-%s.yaml", i + 5, t);
        if ((rc = write_one(dir, name, err, mpijob_yaml, o->ns, o->image, o->workers, t, meta, tail4,
                            sel)))
            return rc;
    }
    return 0;
}
