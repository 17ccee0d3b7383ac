// kube-scheduler-config.d.ts — KubeSchedulerConfiguration
// (kubescheduler.config.k8s.io/v1), transcribed field by field from the Go
// types in k8s.io/kube-scheduler/config/v1 (types.go) and
// k8s.io/component-base/config/v1alpha1, because this component config is
// not part of the API server's OpenAPI document (so kubernetes-types does
// not ship it). JSON names as in the Go struct tags.
export type Duration = string; // metav1.Duration, e.g. "5s"

export interface LeaderElectionConfiguration {
  leaderElect?: boolean;
  leaseDuration?: Duration;
  renewDeadline?: Duration;
  retryPeriod?: Duration;
  resourceLock?: string;
  resourceName?: string;
  resourceNamespace?: string;
}

export interface ClientConnectionConfiguration {
  kubeconfig?: string;
  acceptContentTypes?: string;
  contentType?: string;
  qps?: number;
  burst?: number;
}

export interface Plugin { name: string; weight?: number; }
export interface PluginSet { enabled?: Plugin[]; disabled?: Plugin[]; }
export interface Plugins {
  preEnqueue?: PluginSet; queueSort?: PluginSet; preFilter?: PluginSet; filter?: PluginSet;
  postFilter?: PluginSet; preScore?: PluginSet; score?: PluginSet; reserve?: PluginSet;
  permit?: PluginSet; preBind?: PluginSet; bind?: PluginSet; postBind?: PluginSet;
  multiPoint?: PluginSet;
}
// k8s.io/kube-scheduler/config/v1 types_pluginargs.go: NodeResourcesFitArgs.
// Only the plugins whose args `deploy k8s` writes are typed; any other
// plugin name fails the check (add its args type here when it is used).
export interface ResourceSpec { name: string; weight?: number; }
export interface UtilizationShapePoint { utilization: number; score: number; }
export interface RequestedToCapacityRatioParam { shape?: UtilizationShapePoint[]; }
export interface ScoringStrategy {
  type?: "LeastAllocated" | "MostAllocated" | "RequestedToCapacityRatio";
  resources?: ResourceSpec[];
  requestedToCapacityRatio?: RequestedToCapacityRatioParam;
}
export interface NodeResourcesFitArgs {
  apiVersion?: "kubescheduler.config.k8s.io/v1";
  kind?: "NodeResourcesFitArgs";
  ignoredResources?: string[];
  ignoredResourceGroups?: string[];
  scoringStrategy?: ScoringStrategy;
}
export interface PluginConfig { name: "NodeResourcesFit"; args?: NodeResourcesFitArgs; }

export interface KubeSchedulerProfile {
  schedulerName?: string;
  percentageOfNodesToScore?: number;
  plugins?: Plugins;
  pluginConfig?: PluginConfig[];
}

export interface ExtenderManagedResource { name: string; ignoredByScheduler?: boolean; }

export interface ExtenderTLSConfig {
  insecure?: boolean; serverName?: string; certFile?: string; keyFile?: string; caFile?: string;
  certData?: string; keyData?: string; caData?: string;
}

export interface Extender {
  urlPrefix: string;
  filterVerb?: string;
  preemptVerb?: string;
  prioritizeVerb?: string;
  weight?: number;
  bindVerb?: string;
  enableHTTPS?: boolean;
  tlsConfig?: ExtenderTLSConfig;
  httpTimeout?: Duration;
  nodeCacheCapable?: boolean;
  managedResources?: ExtenderManagedResource[];
  ignorable?: boolean;
}

export interface KubeSchedulerConfiguration {
  apiVersion: "kubescheduler.config.k8s.io/v1";
  kind: "KubeSchedulerConfiguration";
  parallelism?: number;
  leaderElection?: LeaderElectionConfiguration;
  clientConnection?: ClientConnectionConfiguration;
  enableProfiling?: boolean;
  enableContentionProfiling?: boolean;
  healthzBindAddress?: string;
  metricsBindAddress?: string;
  percentageOfNodesToScore?: number;
  podInitialBackoffSeconds?: number;
  podMaxBackoffSeconds?: number;
  profiles?: KubeSchedulerProfile[];
  extenders?: Extender[];
  delayCacheUntilActive?: boolean;
}
