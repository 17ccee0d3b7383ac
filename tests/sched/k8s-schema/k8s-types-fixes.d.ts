// k8s-types-fixes.d.ts — fields that kubernetes-types 1.30.0 lost when it
// flattened Go's inlined structs. admissionregistration/v1
// NamedRuleWithOperations inlines RuleWithOperations, which inlines Rule
// (apiGroups, apiVersions, resources, scope); the generated type kept
// apiGroups and apiVersions but dropped `resources` and `scope`, without
// which a rule matches nothing (k8s.io/api/admissionregistration/v1/types.go).
import "kubernetes-types/admissionregistration/v1";
declare module "kubernetes-types/admissionregistration/v1" {
  interface NamedRuleWithOperations {
    resources?: Array<string>;
    scope?: string;
  }
}
