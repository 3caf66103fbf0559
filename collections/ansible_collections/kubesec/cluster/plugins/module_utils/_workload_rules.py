# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload rules KS-WL-001..021 as data, plus the small pure functions that evaluate them.

Private module_utils (leading underscore): the API may change between minor releases.

Layout:
- ``RULES``: one dict per rule (id, short name, title, severity, scope, parameters with their defaults and types,
  the Defender for Cloud recommendation / Azure Policy / Gatekeeper template / Trivy KSV ids / PSS control it
  corresponds to). ``docs/workload-rules.md`` is the human-readable copy (a unit test keeps them in step).
- ``KSV_RULE_MAP``: Trivy KSV id -> our rule (with the parameters under which a Trivy failure is always also one
  of ours, when they differ from our defaults).
- Parsers: Kubernetes quantities, image references, capabilities, AppArmor profiles, ports, host paths.
- ``coerce_param`` / ``compile_params``: validation of user-given parameters (errors name rule and parameter).
- ``CONTAINER_CHECKS`` / ``POD_CHECKS`` / ``OBJECT_CHECKS``: pure functions over plain dicts that return
  violations ``{"field", "value", "message", "expected"}``. Cross-object rules (12's ServiceAccount lookup,
  17, 18, 21) are driven from ``_workload.py``.
Standard library only (runs on Python 3.9+).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

import fnmatch
import math
import posixpath
import re
from decimal import Decimal, InvalidOperation

DEFAULT_EXCLUDED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "falco", "trivy-system")
MODES = ("audit", "warn", "deny")
CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")
RULE_SETTING_KEYS = ("enabled", "mode", "params", "exclude_namespaces", "exclude_images")
PSS = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"


class RuleConfigError(KubesecError, ValueError):
    """A rule setting or parameter given by the user is wrong (the message names rule and parameter)."""


def _p(ptype, default, description, **extra):
    spec = {"type": ptype, "default": default, "description": description}
    spec.update(extra)
    return spec


RULES = (
    {
        "id": "KS-WL-001", "name": "resource_limits", "severity": "medium", "scope": "container",
        "title": "Container CPU and memory limits are set",
        "description": "Every container (init containers too; ephemeral containers cannot have resources) sets "
                       "resources.limits.cpu and resources.limits.memory, optionally below a maximum.",
        "remediation": "Set resources.limits.cpu and resources.limits.memory on every container.",
        "params": {
            "require_cpu": _p("bool", True, "Fail when limits.cpu is missing."),
            "require_memory": _p("bool", True, "Fail when limits.memory is missing."),
            "max_cpu": _p("cpu", None, "Largest allowed limits.cpu (Kubernetes quantity, e.g. '4' or '500m').",
                          nullable=True),
            "max_memory": _p("memory", None, "Largest allowed limits.memory (Kubernetes quantity, e.g. '8Gi').",
                             nullable=True),
        },
        "defender": "Container CPU and memory limits should be enforced",
        "azure_policy": "e345eecc K8sAzureContainerLimits", "gatekeeper": "k8scontainerlimits",
        "ksv": ("KSV-0011", "KSV-0018"), "pss": None,
    },
    {
        "id": "KS-WL-002", "name": "trusted_registries", "severity": "high", "scope": "container",
        "title": "Images come from trusted registries only",
        "description": "Every container image matches one of the trusted registry prefixes or regular expressions.",
        "remediation": "Pull images only from the registries listed in the rule parameter 'registries' "
                       "(mirror public images into them).",
        "params": {
            "registries": _p("pattern_list", [],
                             "Trusted image prefixes (matched at a '/', ':' or '@' boundary, against the image as "
                             "written and its normalized form such as docker.io/library/nginx) or regular "
                             "expressions starting with '^'. Required: while it is empty the rule is reported "
                             "as not configured (an info finding) and checks nothing.", required=True,
                             example=["registry.example.com/"]),
        },
        "defender": "Container images should be deployed from trusted registries only",
        "azure_policy": "febd0533 K8sAzureContainerAllowedImages", "gatekeeper": "k8sallowedrepos",
        "ksv": ("KSV-0125",), "pss": None,
    },
    {
        "id": "KS-WL-003", "name": "capabilities", "severity": "medium", "scope": "container",
        "title": "Containers use least-privileged Linux capabilities",
        "description": "Containers add only allowed capabilities and drop the required ones.",
        "remediation": "Set securityContext.capabilities.drop: [ALL] and add back only what the process needs.",
        "params": {
            "allowed_add": _p("cap_list", [], "Capabilities a container may add (PSS restricted allows "
                                              "NET_BIND_SERVICE)."),
            "required_drop": _p("cap_list", ["ALL"], "Capabilities every container must drop ('ALL' covers all)."),
        },
        "defender": "Least privileged Linux capabilities should be enforced for containers",
        "azure_policy": "c26596ff K8sAzureAllowedCapabilities", "gatekeeper": "k8spspcapabilities",
        "ksv": ("KSV-0003", "KSV-0022", "KSV-0106", "KSV-0119", "KSV-0120"),
        "pss": "baseline: Capabilities; restricted: Capabilities",
    },
    {
        "id": "KS-WL-004", "name": "apparmor", "severity": "medium", "scope": "container",
        "title": "Containers use only allowed AppArmor profiles",
        "description": "The effective AppArmor profile of every container (container securityContext.appArmorProfile, "
                       "then the container.apparmor.security.beta.kubernetes.io/<container> annotation, then the "
                       "pod securityContext.appArmorProfile) is in the allowed list.",
        "remediation": "Use appArmorProfile: {type: RuntimeDefault} (or an allowed Localhost profile); never "
                       "Unconfined.",
        "params": {
            "allowed_profiles": _p("str_list", ["runtime/default"],
                                   "Allowed profiles in annotation form: runtime/default, unconfined, "
                                   "localhost/<name>; a trailing '*' matches a prefix (localhost/*)."),
            "require_explicit": _p("bool", False, "Fail containers with no profile set at all (unset means the "
                                                  "container runtime's default profile)."),
        },
        "defender": "Containers should only use allowed AppArmor profiles",
        "azure_policy": "511f5417 K8sAzureEnforceAppArmor", "gatekeeper": "k8spspapparmor",
        "ksv": ("KSV-0002",), "pss": "baseline: AppArmor",
    },
    {
        "id": "KS-WL-005", "name": "service_ports", "severity": "medium", "scope": "Service",
        "title": "Services listen on allowed ports only",
        "description": "Every Service port is in the allowed list; NodePort Services are refused unless allowed.",
        "remediation": "Expose services on the approved ports only; put HTTP(S) behind an Ingress instead of "
                       "NodePorts.",
        "params": {
            "allowed_ports": _p("port_list", [80, 443],
                                "Allowed Service ports: numbers or 'low-high' ranges."),
            "allow_node_port": _p("bool", False, "Allow Services of type NodePort."),
            "service_types": _p("str_list", ["ClusterIP", "NodePort", "LoadBalancer"],
                                "Service types whose ports are checked (ExternalName has no listener)."),
        },
        "defender": "Services should listen on allowed ports only",
        "azure_policy": "233a2a17 K8sAzureServiceAllowedPorts", "gatekeeper": None,
        "ksv": (), "pss": None,
    },
    {
        "id": "KS-WL-006", "name": "host_network_ports", "severity": "high", "scope": "pod+container",
        "title": "Host networking and host ports are restricted",
        "description": "Pods do not use the host network unless allowed, and host ports (hostPort, or "
                       "containerPort under hostNetwork) stay inside the allowed range.",
        "remediation": "Remove hostNetwork and hostPort; use a Service instead.",
        "params": {
            "allow_host_network": _p("bool", False, "Allow spec.hostNetwork: true."),
            "min_port": _p("int", 0, "Lowest allowed host port.", minimum=0, maximum=65535),
            "max_port": _p("int", 0, "Highest allowed host port (0 with min_port 0: no host ports).",
                           minimum=0, maximum=65535),
        },
        "defender": "Usage of host networking and ports should be restricted",
        "azure_policy": "82985f06 K8sAzureHostNetworkingPorts", "gatekeeper": "k8spsphostnetworkingports",
        "ksv": ("KSV-0009", "KSV-0024"), "pss": "baseline: Host Namespaces, Host Ports",
    },
    {
        "id": "KS-WL-007", "name": "host_path", "severity": "high", "scope": "pod",
        "title": "hostPath volumes are restricted to allowed paths",
        "description": "hostPath volumes use only allowed path prefixes (after normalizing '..'), and are mounted "
                       "read-only by every container when the matching entry requires it.",
        "remediation": "Replace hostPath volumes with emptyDir, configMap, secret or PVC volumes.",
        "params": {
            "allowed_host_paths": _p("host_path_list", [],
                                     "Allowed host paths: list of {path_prefix: /var/log, read_only: true}."),
        },
        "defender": "Usage of pod HostPath volume mounts should be restricted to a known list",
        "azure_policy": "098fc59e K8sAzureHostFilesystem", "gatekeeper": "k8spsphostfilesystem",
        "ksv": ("KSV-0023", "KSV-0121", "KSV-0006"), "pss": "baseline: HostPath Volumes",
    },
    {
        "id": "KS-WL-008", "name": "privilege_escalation", "severity": "medium", "scope": "container",
        "title": "Containers do not allow privilege escalation",
        "description": "securityContext.allowPrivilegeEscalation is explicitly false (it defaults to true); "
                       "privileged containers and CAP_SYS_ADMIN always allow escalation.",
        "remediation": "Set securityContext.allowPrivilegeEscalation: false on every container.",
        "params": {},
        "defender": "Container with privilege escalation should be avoided",
        "azure_policy": "1c6e92c9 K8sAzureContainerNoPrivilegeEscalation",
        "gatekeeper": "k8spspallowprivilegeescalationcontainer",
        "ksv": ("KSV-0001",), "pss": "restricted: Privilege Escalation",
    },
    {
        "id": "KS-WL-009", "name": "host_namespaces", "severity": "high", "scope": "pod",
        "title": "Pods do not share the host PID or IPC namespace",
        "description": "spec.hostPID and spec.hostIPC are not true.",
        "remediation": "Remove hostPID and hostIPC from the pod spec.",
        "params": {},
        "defender": "Containers sharing sensitive host namespaces should be avoided",
        "azure_policy": "47a1ee2f K8sAzureBlockHostNamespace", "gatekeeper": "k8spsphostnamespace",
        "ksv": ("KSV-0008", "KSV-0010"), "pss": "baseline: Host Namespaces",
    },
    {
        "id": "KS-WL-010", "name": "read_only_root_filesystem", "severity": "medium", "scope": "container",
        "title": "Containers use a read-only root filesystem",
        "description": "securityContext.readOnlyRootFilesystem is true.",
        "remediation": "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the "
                       "process must write.",
        "params": {},
        "defender": "Immutable (read-only) root filesystem should be enforced for containers",
        "azure_policy": "df49d893 K8sAzureReadOnlyRootFilesystem", "gatekeeper": "k8spspreadonlyrootfilesystem",
        "ksv": ("KSV-0014",), "pss": None,
    },
    {
        "id": "KS-WL-011", "name": "ingress_https", "severity": "medium", "scope": "Ingress",
        "title": "Ingresses are served over HTTPS only",
        "description": "spec.tls covers every host of the Ingress (wildcards match one label); no annotation "
                       "turns the HTTP-to-HTTPS redirect off; optionally one redirect annotation is required.",
        "remediation": "Add spec.tls entries (hosts and secretName) for every host and keep HTTP redirected.",
        "params": {
            "require_ssl_redirect": _p("bool", False,
                                       "Also require one of ssl_redirect_annotations with its value."),
            "ssl_redirect_annotations": _p("str_dict", {
                "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
                "kubernetes.io/ingress.allow-http": "false",
            }, "Annotations that keep traffic on HTTPS, with the value that does; another value on one of them "
               "fails the rule."),
        },
        "defender": "Kubernetes clusters should be accessible only over HTTPS",
        "azure_policy": "1a5b4dca K8sAzureIngressHttpsOnly", "gatekeeper": "k8shttpsonly",
        "ksv": (), "pss": None,
    },
    {
        "id": "KS-WL-012", "name": "automount_service_account_token", "severity": "medium", "scope": "pod",
        "title": "Service-account token automount is disabled",
        "description": "automountServiceAccountToken is false in the pod spec, or unset there and false on the "
                       "pod's ServiceAccount (when that object is in the input). A pod-level true wins.",
        "remediation": "Set automountServiceAccountToken: false on the pod spec or its ServiceAccount; mount a "
                       "projected token only where the API is needed.",
        "params": {},
        "defender": "Kubernetes clusters should disable automounting API credentials",
        "azure_policy": "423dd1ba K8sAzureBlockAutomountToken",
        "gatekeeper": "k8spspautomountserviceaccounttokenpod",
        "ksv": ("KSV-0036",), "pss": None,
    },
    {
        "id": "KS-WL-013", "name": "default_namespace", "severity": "low", "scope": "pod",
        "title": "Workloads do not run in the default namespace",
        "description": "Pod controllers are not in the 'default' namespace.",
        "remediation": "Create a namespace per application and deploy there.",
        "params": {
            "include_unset": _p("bool", False, "Also fail manifests without metadata.namespace (they land in "
                                               "the namespace of the kubectl context, often 'default')."),
        },
        "defender": "Kubernetes clusters shouldn't use the default namespace",
        "azure_policy": "9f061a12 K8sAzureBlockDefault", "gatekeeper": None,
        "ksv": ("KSV-0110",), "pss": None,
    },
    {
        "id": "KS-WL-014", "name": "sys_admin", "severity": "high", "scope": "container",
        "title": "Containers are not granted CAP_SYS_ADMIN",
        "description": "securityContext.capabilities.add contains neither SYS_ADMIN nor ALL.",
        "remediation": "Remove SYS_ADMIN (and ALL) from capabilities.add.",
        "params": {},
        "defender": "Kubernetes clusters shouldn't grant CAP_SYS_ADMIN security capabilities",
        "azure_policy": "d2e7ea85 K8sAzureDisallowedCapabilities", "gatekeeper": "k8spspcapabilities",
        "ksv": ("KSV-0005",), "pss": "baseline: Capabilities",
    },
    {
        "id": "KS-WL-015", "name": "privileged", "severity": "high", "scope": "container",
        "title": "Containers are not privileged",
        "description": "securityContext.privileged is not true.",
        "remediation": "Remove privileged: true; grant the single capability needed instead.",
        "params": {},
        "defender": "Privileged containers should be avoided",
        "azure_policy": "95edb821 K8sAzureContainerNoPrivilege", "gatekeeper": "k8spspprivilegedcontainer",
        "ksv": ("KSV-0017",), "pss": "baseline: Privileged Containers",
    },
    {
        "id": "KS-WL-016", "name": "run_as_non_root", "severity": "medium", "scope": "container",
        "title": "Containers do not run as root",
        "description": "The effective runAsUser (container, else pod) is greater than 0, or the effective "
                       "runAsNonRoot (container, else pod) is true and runAsUser is not 0.",
        "remediation": "Set runAsNonRoot: true and a non-zero runAsUser in the pod securityContext; do not "
                       "override them with 0/false in a container.",
        "params": {
            "require_run_as_non_root": _p("bool", False, "Also require runAsNonRoot: true when runAsUser > 0 "
                                                         "(PSS restricted; Trivy KSV012)."),
        },
        "defender": "Running containers as root user should be avoided",
        "azure_policy": "f06ddb64 K8sAzureAllowedUsersGroups", "gatekeeper": "k8spspallowedusers",
        "ksv": ("KSV-0012", "KSV-0105"), "pss": "restricted: Running as Non-root, Running as Non-root user",
    },
    {
        "id": "KS-WL-017", "name": "kubernetes_version", "severity": "high", "scope": "cluster",
        "title": "Kubernetes version is inside the upstream support window",
        "description": "The cluster's minor version has not passed its upstream end-of-life date "
                       "(table in module_utils/_k8s_releases.py). Needs the kubernetes_version option.",
        "remediation": "Upgrade the control plane and nodes to a supported minor release.",
        "params": {
            "warn_days_before_eol": _p("int", 60, "Report status 'warn' this many days before end of life.",
                                       minimum=0, maximum=3650),
        },
        "defender": None, "azure_policy": None, "gatekeeper": None, "ksv": (), "pss": None,
    },
    {
        "id": "KS-WL-018", "name": "network_policy", "severity": "medium", "scope": "Namespace",
        "title": "Namespaces have a default-deny NetworkPolicy",
        "description": "Every namespace (Namespace objects in the input, else namespaces of the workloads) has "
                       "NetworkPolicies, one of which selects all pods and denies ingress (and egress if "
                       "required); no policy allows all ingress to all pods.",
        "remediation": "Add a NetworkPolicy with podSelector: {} and policyTypes: [Ingress, Egress] and no rules, "
                       "then allow the flows each application needs.",
        "params": {
            "require_default_deny_ingress": _p("bool", True, "Require a default-deny for ingress."),
            "require_default_deny_egress": _p("bool", False, "Require a default-deny for egress."),
        },
        "defender": None, "azure_policy": None, "gatekeeper": None, "ksv": (), "pss": None,
    },
    {
        "id": "KS-WL-019", "name": "secrets_in_env", "severity": "medium", "scope": "container",
        "title": "Secrets are mounted as files, not passed as environment variables",
        "description": "No env[].valueFrom.secretKeyRef and no envFrom[].secretRef (environment variables leak "
                       "into logs, crash dumps and child processes); worse, no secret written literally into the "
                       "manifest (an env[].value under a secret-looking name such as DB_PASSWORD, or a URL with a "
                       "password): such findings have severity high.",
        "remediation": "Put the value into a Secret and mount it as a read-only volume; read the file.",
        "params": {},
        "defender": None, "azure_policy": None, "gatekeeper": None, "ksv": (), "pss": None,
    },
    {
        "id": "KS-WL-020", "name": "image_tag", "severity": "medium", "scope": "container",
        "title": "Images are pinned (no :latest, no missing tag)",
        "description": "Every image has a tag other than the disallowed ones, or is pinned by digest.",
        "remediation": "Use an immutable version tag, better an @sha256 digest.",
        "params": {
            "disallowed_tags": _p("str_list", ["latest"], "Tags that count as unpinned."),
            "require_digest": _p("bool", False, "Require an @sha256: digest on every image."),
        },
        "defender": None, "azure_policy": None, "gatekeeper": "k8sdisallowedtags",
        "ksv": ("KSV-0013",), "pss": None,
    },
    {
        "id": "KS-WL-021", "name": "rbac_admin", "severity": "high", "scope": "RBAC",
        "title": "No cluster-admin or wildcard RBAC for non-system subjects",
        "description": "No (Cluster)RoleBinding grants an admin ClusterRole to a non-system subject, and no "
                       "(Cluster)Role with '*' in verbs or resources is bound to one.",
        "remediation": "Bind narrowly scoped Roles; keep cluster-admin for break-glass groups.",
        "params": {
            "admin_roles": _p("str_list", ["cluster-admin"], "ClusterRoles that count as admin."),
            "ignore_system_subjects": _p("bool", True,
                                         "Ignore users and groups named system:* and service accounts in excluded "
                                         "namespaces (also the built-in system:* roles: exact bootstrap names "
                                         "with the kubernetes.io/bootstrapping: rbac-defaults label)."),
            "allowed_subjects": _p("pattern_list", [],
                                   "Subjects allowed to hold admin or wildcard roles: user/group names or "
                                   "system:serviceaccount:<ns>:<name>, exact or a '^' regular expression."),
            "require_binding": _p("bool", True, "Flag wildcard roles (admin_roles included) only when the input "
                                                "binds them to a non-system subject; false flags every wildcard "
                                                "role itself."),
        },
        "defender": None, "azure_policy": None, "gatekeeper": None,
        "ksv": ("KSV-0044", "KSV-0045", "KSV-0046", "KSV-0111", "KSV-0112"), "pss": None,
    },
)

RULES_BY_ID = {rule["id"]: rule for rule in RULES}
RULES_BY_NAME = {rule["name"]: rule for rule in RULES}

# Trivy KSV id (normalized, see normalize_ksv_id) -> our rule. "params": the parameters under which every
# Trivy failure of that check is also a finding of ours, when our defaults are more lenient than Trivy.
KSV_RULE_MAP = {
    "KSV-0001": {"rule": "KS-WL-008"},
    "KSV-0002": {"rule": "KS-WL-004"},
    "KSV-0003": {"rule": "KS-WL-003"},
    "KSV-0005": {"rule": "KS-WL-014"},
    "KSV-0006": {"rule": "KS-WL-007"},
    "KSV-0008": {"rule": "KS-WL-009"},
    "KSV-0009": {"rule": "KS-WL-006"},
    "KSV-0010": {"rule": "KS-WL-009"},
    "KSV-0011": {"rule": "KS-WL-001"},
    "KSV-0012": {"rule": "KS-WL-016", "params": {"require_run_as_non_root": True},
                 "note": "Trivy wants runAsNonRoot: true even when runAsUser > 0; our default counts "
                         "runAsUser > 0 as non-root."},
    "KSV-0013": {"rule": "KS-WL-020"},
    "KSV-0014": {"rule": "KS-WL-010"},
    "KSV-0017": {"rule": "KS-WL-015"},
    "KSV-0018": {"rule": "KS-WL-001"},
    "KSV-0022": {"rule": "KS-WL-003"},
    "KSV-0023": {"rule": "KS-WL-007"},
    "KSV-0024": {"rule": "KS-WL-006"},
    "KSV-0036": {"rule": "KS-WL-012"},
    "KSV-0044": {"rule": "KS-WL-021", "params": {"require_binding": False}},
    "KSV-0045": {"rule": "KS-WL-021", "params": {"require_binding": False}},
    "KSV-0046": {"rule": "KS-WL-021", "params": {"require_binding": False}},
    "KSV-0105": {"rule": "KS-WL-016"},
    "KSV-0106": {"rule": "KS-WL-003"},
    "KSV-0110": {"rule": "KS-WL-013"},
    "KSV-0111": {"rule": "KS-WL-021",
                 "params": {"admin_roles": ["cluster-admin", "admin", "edit"], "ignore_system_subjects": False},
                 "note": "Trivy also flags bindings to admin/edit and the built-in system:masters binding."},
    "KSV-0112": {"rule": "KS-WL-021", "params": {"require_binding": False}},
    "KSV-0119": {"rule": "KS-WL-003"},
    "KSV-0120": {"rule": "KS-WL-003"},
    "KSV-0121": {"rule": "KS-WL-007"},
    "KSV-0125": {"rule": "KS-WL-002"},
}

# The roles the API server creates itself (plugin/pkg/auth/authorizer/rbac/bootstrappolicy: cluster-roles,
# controller-roles and namespace-roles, plus the controllers added up to 1.35). KS-WL-021 exempts a role only when
# its name is one of these *and* it carries BOOTSTRAP_LABEL: anyone may name a role "system:x".
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
BOOTSTRAP_CLUSTER_ROLES = frozenset(["system:" + name for name in (
    "aggregate-to-admin", "aggregate-to-edit", "aggregate-to-view", "auth-delegator", "basic-user",
    "certificates.k8s.io:certificatesigningrequests:nodeclient",
    "certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    "certificates.k8s.io:kube-apiserver-client-approver", "certificates.k8s.io:kube-apiserver-client-kubelet-approver",
    "certificates.k8s.io:kubelet-serving-approver", "certificates.k8s.io:legacy-unknown-approver", "discovery",
    "heapster", "kube-aggregator", "kube-controller-manager", "kube-dns", "kube-scheduler", "kubelet-api-admin",
    "monitoring", "node", "node-bootstrapper", "node-problem-detector", "node-proxier",
    "persistent-volume-provisioner", "public-info-viewer", "service-account-issuer-discovery", "volume-scheduler",
)] + ["system:controller:" + name for name in (
    "attachdetach-controller", "certificate-controller", "clusterrole-aggregation-controller", "cronjob-controller",
    "daemon-set-controller", "deployment-controller", "disruption-controller", "endpoint-controller",
    "endpointslice-controller", "endpointslicemirroring-controller", "ephemeral-volume-controller",
    "expand-controller", "generic-garbage-collector", "horizontal-pod-autoscaler", "job-controller",
    "legacy-service-account-token-cleaner", "namespace-controller", "node-controller", "persistent-volume-binder",
    "pod-garbage-collector", "pv-protection-controller", "pvc-protection-controller", "replicaset-controller",
    "replication-controller", "resourcequota-controller", "root-ca-cert-publisher", "route-controller",
    "service-account-controller", "service-controller", "statefulset-controller", "ttl-after-finished-controller",
    "ttl-controller", "validatingadmissionpolicy-status-controller",
)])
BOOTSTRAP_ROLES = {  # namespace -> Role names
    "kube-system": frozenset(["extension-apiserver-authentication-reader",
                              "system::leader-locking-kube-controller-manager",
                              "system::leader-locking-kube-scheduler", "system:controller:bootstrap-signer",
                              "system:controller:cloud-provider", "system:controller:token-cleaner"]),
    "kube-public": frozenset(["system:controller:bootstrap-signer"]),
}


def is_bootstrap_role(kind, name, namespace, labels):
    """A role the API server created (exact bootstrap name and the rbac-defaults label), not one named like it."""
    if as_dict(labels).get(BOOTSTRAP_LABEL[0]) != BOOTSTRAP_LABEL[1]:
        return False
    if kind == "ClusterRole":
        return name in BOOTSTRAP_CLUSTER_ROLES
    return kind == "Role" and name in BOOTSTRAP_ROLES.get(namespace, ())


# KS-WL-019: an env var whose name says it holds a secret and whose value is written into the manifest. The
# patterns are RE2-compatible: the admission policy (module_utils/_vap.py) uses them unchanged.
# (PWD alone is the shell's working directory; DB_PWD is a password)
SECRET_ENV_NAME = (r"(?i)(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL"  # noqa: S105 - a pattern for names, not a password
                   r"|_PWD(_|$))")
# names that hold a reference to a secret (a file path, a Secret's name, a lifetime), not the secret
SECRET_ENV_NAME_EXEMPT = r"(?i)_(FILE|PATH|DIR|NAME|REF|TTL|EXPIRY|TIMEOUT|LENGTH|TYPE)$"  # noqa: S105 - a pattern for names, not a password
# a URL with a password in its user info (scheme://user:password@host)
SECRET_ENV_URL = r"[A-Za-z][A-Za-z0-9+.-]*://[^/@: ]*:[^/@ ]+@"  # noqa: S105 - a pattern for names, not a password
# a value that is only a reference to another variable, $(VAR), holds nothing itself
ENV_REFERENCE = r"^\$\([A-Za-z_][A-Za-z0-9_.-]*\)$"


def _re2_compatible(pattern):
    """Python's '$' also matches before a final newline, RE2's (the API server's) does not: use '\\Z' here."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


_SECRET_ENV_NAME_RE = _re2_compatible(SECRET_ENV_NAME)
_SECRET_ENV_NAME_EXEMPT_RE = _re2_compatible(SECRET_ENV_NAME_EXEMPT)
_SECRET_ENV_URL_RE = _re2_compatible(SECRET_ENV_URL)
_ENV_REFERENCE_RE = _re2_compatible(ENV_REFERENCE)


def literal_secret_env(env):
    """Why an env entry holds a secret literally ('name' or 'url'), or None. Never returns the value."""
    env = as_dict(env)
    name, value = env.get("name"), env.get("value")
    if not isinstance(value, str) or not value or _ENV_REFERENCE_RE.search(value):
        return None
    if isinstance(name, str) and _SECRET_ENV_NAME_RE.search(name) and not _SECRET_ENV_NAME_EXEMPT_RE.search(name):
        return "name"
    if _SECRET_ENV_URL_RE.search(value):
        return "url"
    return None


_KSV_RE = re.compile(r"^(?:AVD-)?(KSV|KCV)-?0*(\d{1,5})$")


def normalize_ksv_id(check_id, avd_id=None):
    """'KSV001', 'KSV-0001', 'AVD-KSV-0001', 'KSV0125' -> 'KSV-0001' / 'KSV-0125'; None if not a KSV/KCV id.

    The AVD id wins when given: trivy <= 0.68 labels the API-server check AVD-KCV-0012 with ID 'KSV0012'.
    """
    for text in (avd_id, check_id):
        if not isinstance(text, str):
            continue
        match = _KSV_RE.match(text.strip().upper())
        if match:
            return "%s-%04d" % (match.group(1), int(match.group(2)))
    return None


def ksv_url(ksv_id):
    return "https://avd.aquasec.com/misconfig/%s" % ksv_id.lower()


# ---------------------------------------------------------------------------------------------------------
# Small helpers over untrusted data

def as_dict(value):
    return value if isinstance(value, dict) else {}


def as_list(value):
    return value if isinstance(value, list) else []


def is_true(value):
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def is_false(value):
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def as_int(value):
    """An int from an int or a decimal string; None otherwise (bools are not ints here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^\s*[+-]?\d{1,18}\s*$", value):
        return int(value)
    return None


def short(value, limit=256):
    """A JSON-friendly, bounded copy of a manifest value for evidence (never a big or exotic object)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "...(%d chars)" % len(value)
    if isinstance(value, dict):
        out = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= 16:
                out["..."] = "%d more keys" % (len(value) - 16)
                break
            out[short(str(key), 64)] = short(item, 64) if isinstance(item, (str, int, float, bool)) or \
                item is None else "<%s>" % type(item).__name__
        return out
    if isinstance(value, list):
        items = [short(item, 64) if isinstance(item, (str, int, float, bool)) or item is None
                 else "<%s>" % type(item).__name__ for item in value[:16]]
        if len(value) > 16:
            items.append("...%d more" % (len(value) - 16))
        return items
    return short(str(value), limit)


def violation(field, value, message, expected=None):
    return {"field": field, "value": short(value), "message": message, "expected": expected}


# ---------------------------------------------------------------------------------------------------------
# Kubernetes quantities

_QTY_RE = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d{1,4})?$")
_SUFFIX = {
    "Ki": Decimal(2 ** 10), "Mi": Decimal(2 ** 20), "Gi": Decimal(2 ** 30), "Ti": Decimal(2 ** 40),
    "Pi": Decimal(2 ** 50), "Ei": Decimal(2 ** 60),
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
}


def parse_quantity(value):
    """A Kubernetes resource quantity ('500m', '1.5', '2Gi', '1e3', 2, 0.5) -> Decimal; ValueError otherwise.

    cpu quantities come out in cores, memory in bytes.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("%r is not a quantity" % (value,))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("%r is not a quantity" % (value,))
        return Decimal(repr(value))
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("%r is not a quantity" % (short(value, 80),))
    match = _QTY_RE.match(value)
    if not match:
        raise ValueError("%r is not a Kubernetes quantity (like 500m, 1.5, 2Gi)" % (value,))
    sign, number, suffix = match.group(1), match.group(2), match.group(3) or ""
    try:
        amount = Decimal(number)
        if suffix[:1] in ("e", "E") and len(suffix) > 1:
            amount = amount.scaleb(int(suffix[1:]))
        else:
            amount = amount * _SUFFIX[suffix]
    except (InvalidOperation, KeyError, ValueError):
        raise ValueError("%r is not a Kubernetes quantity" % (value,)) from None
    return -amount if sign == "-" else amount


# ---------------------------------------------------------------------------------------------------------
# Images

def parse_image(image):
    """'nginx', 'nginx:1.25', 'ghcr.io/o/a:1@sha256:..', 'localhost:5000/app' -> parts and normalized name."""
    text = image.strip()
    name, _dummy, digest = text.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = "docker.io"
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    tag = None
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1:]
    if registry == "docker.io" and "/" not in path:
        path = "library/" + path
    normalized = registry + "/" + path + (":" + tag if tag is not None else "") + ("@" + digest if digest else "")
    return {"registry": registry, "repository": path, "tag": tag, "digest": digest or None,
            "normalized": normalized}


def prefix_match(value, prefix):
    """Prefix match at a boundary: 'registry.example.com' matches 'registry.example.com/x' but not
    'registry.example.com.evil.io/x' (gatekeeper-library's KSV-0124 pitfall)."""
    if not value.startswith(prefix):
        return False
    if len(value) == len(prefix) or prefix[-1] in "/:@":
        return True
    return value[len(prefix)] in "/:@"


def compile_patterns(values, where):
    """['registry.example.com/', '^quay\\.io/org/.*$'] -> matchers; RuleConfigError naming `where`."""
    if not isinstance(values, list):
        raise RuleConfigError("%s must be a list of strings (prefixes, or regular expressions starting with "
                              "'^'), got %s" % (where, type(values).__name__))
    out = []
    for index, text in enumerate(values):
        if not isinstance(text, str) or not text.strip():
            raise RuleConfigError("%s[%d] must be a non-empty string, got %r" % (where, index, short(text, 80)))
        if text.startswith("^"):
            try:
                out.append(("regex", text, re.compile(text)))
            except re.error as exc:
                raise RuleConfigError("%s[%d] %r is not a valid regular expression: %s"
                                      % (where, index, text, exc)) from None
        else:
            out.append(("prefix", text, None))
    return out


def match_patterns(value, patterns, candidates=None):
    """The first pattern text that matches `value` (or any of `candidates`), else None."""
    values = candidates or (value,)
    for kind, text, regex in patterns:
        for candidate in values:
            if kind == "regex":
                if regex.search(candidate):
                    return text
            elif prefix_match(candidate, text):
                return text
    return None


def image_candidates(image):
    if not isinstance(image, str) or not image.strip():
        return ()
    return (image, parse_image(image)["normalized"])


def match_image(image, patterns):
    candidates = image_candidates(image)
    if not candidates:
        return None
    return match_patterns(image, patterns, candidates)


def match_names(name, patterns):
    """Namespaces and subjects: exact names, '^' regular expressions, or (namespaces) '*'/'?' globs."""
    if not isinstance(name, str):
        return None
    for kind, text, regex in patterns:
        if kind == "regex":
            if regex.search(name):
                return text
        elif kind == "glob":
            if fnmatch.fnmatchcase(name, text):
                return text
        elif name == text:
            return text
    return None


def compile_names(values, where):
    """Namespace matchers: like compile_patterns, and entries with '*' or '?' are globs (team-*)."""
    out = []
    for kind, text, regex in compile_patterns(values, where):
        if kind == "prefix" and ("*" in text or "?" in text):
            kind = "glob"
        out.append((kind, text, regex))
    return out


# ---------------------------------------------------------------------------------------------------------
# Capabilities, AppArmor, ports, paths

def normalize_capability(value):
    text = str(value).strip().upper()
    return text[4:] if text.startswith("CAP_") else text


def effective_apparmor(container, pod_spec, annotations):
    """(profile in annotation form or None, field path suffix that set it)."""
    csc = as_dict(container.get("securityContext"))
    name = container.get("name")
    field = _apparmor_from_field(csc.get("appArmorProfile"))
    if field is not None:
        return field, "container"
    if isinstance(name, str):
        key = "container.apparmor.security.beta.kubernetes.io/" + name
        value = as_dict(annotations).get(key)
        if value is not None:
            return str(value), "annotation"
    field = _apparmor_from_field(as_dict(pod_spec.get("securityContext")).get("appArmorProfile"))
    if field is not None:
        return field, "pod"
    return None, None


def _apparmor_from_field(profile):
    if not isinstance(profile, dict):
        return None
    kind = profile.get("type")
    if kind == "RuntimeDefault":
        return "runtime/default"
    if kind == "Unconfined":
        return "unconfined"
    if kind == "Localhost":
        return "localhost/%s" % (profile.get("localhostProfile") or "")
    return "invalid:%s" % (short(kind, 64),)


def profile_allowed(profile, allowed):
    for entry in allowed:
        if entry.endswith("*"):
            if profile.startswith(entry[:-1]):
                return True
        elif profile == entry:
            return True
    return False


def parse_port_list(values, where):
    """[80, 443, '8000-8100', '9090'] -> [(80, 80), (443, 443), (8000, 8100), (9090, 9090)]."""
    if not isinstance(values, list):
        raise RuleConfigError("%s must be a list of ports or 'low-high' ranges, got %s"
                              % (where, type(values).__name__))
    out = []
    for index, item in enumerate(values):
        low = high = None
        if isinstance(item, int) and not isinstance(item, bool):
            low = high = item
        elif isinstance(item, str):
            match = re.match(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$", item)
            if match:
                low = int(match.group(1))
                high = int(match.group(2)) if match.group(2) else low
        if low is None or not (1 <= low <= high <= 65535):
            raise RuleConfigError("%s[%d] must be a port 1-65535 or a range 'low-high', got %r"
                                  % (where, index, short(item, 80)))
        out.append((low, high))
    return out


def port_allowed(port, ranges):
    return any(low <= port <= high for low, high in ranges)


def normalize_host_path(path):
    """Normalize '..', '.', duplicate and trailing slashes of an absolute path; None if not absolute."""
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm


def host_path_under(path, prefix):
    if prefix == "/":
        return True
    return path == prefix or path.startswith(prefix + "/")


def host_matches_tls(host, tls_host):
    host, tls_host = host.lower().rstrip("."), tls_host.lower().rstrip(".")
    if host == tls_host:
        return True
    if tls_host.startswith("*."):
        head, _dummy, tail = host.partition(".")
        return bool(head) and tail == tls_host[2:]
    return False


# ---------------------------------------------------------------------------------------------------------
# Parameter validation

TYPE_TEXT = {
    "bool": "a boolean", "int": "an integer", "cpu": "a CPU quantity such as '2' or '500m' (or null)",
    "memory": "a memory quantity such as '512Mi' or '8Gi' (or null)", "str_list": "a list of strings",
    "cap_list": "a list of capability names", "pattern_list": "a list of prefixes or '^' regular expressions",
    "port_list": "a list of ports or 'low-high' ranges", "str_dict": "a mapping of strings to strings",
    "host_path_list": "a list of {path_prefix, read_only} mappings",
}
_BOOL_TEXT = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def coerce_param(rule, name, value):
    """Validate one user parameter; returns the JSON-friendly value in force. RuleConfigError otherwise."""
    spec = rule["params"][name]
    ptype = spec["type"]
    where = "rules.%s (%s) params.%s" % (rule["id"], rule["name"], name)

    def bad(detail=""):
        return RuleConfigError("%s must be %s, got %r%s" % (where, TYPE_TEXT[ptype], short(value, 80), detail))

    if value is None:
        if spec.get("nullable"):
            return None
        raise bad()
    if ptype == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
            return _BOOL_TEXT[value.strip().lower()]
        raise bad()
    if ptype == "int":
        number = as_int(value)
        if number is None:
            raise bad()
        if ("minimum" in spec and number < spec["minimum"]) or ("maximum" in spec and number > spec["maximum"]):
            raise RuleConfigError("%s must be between %s and %s, got %r"
                                  % (where, spec.get("minimum"), spec.get("maximum"), value))
        return number
    if ptype in ("cpu", "memory"):
        try:
            amount = parse_quantity(value)
        except ValueError as exc:
            raise bad(" (%s)" % exc) from None
        if amount <= 0:
            raise bad(" (must be positive)")
        return value if isinstance(value, str) else str(value)
    if ptype in ("str_list", "cap_list"):
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise bad()
        if ptype == "cap_list":
            return [normalize_capability(item) for item in value]
        return list(value)
    if ptype == "pattern_list":
        compile_patterns(value, where)
        return list(value)
    if ptype == "port_list":
        parse_port_list(value, where)
        return list(value)
    if ptype == "str_dict":
        if not isinstance(value, dict):
            raise bad()
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or isinstance(item, (dict, list)) or item is None:
                raise bad(" (entry %r)" % (short(key, 80),))
            out[key] = ("true" if item else "false") if isinstance(item, bool) else str(item)
        return out
    if ptype == "host_path_list":
        if not isinstance(value, list):
            raise bad()
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, dict) or set(item) - {"path_prefix", "read_only"}:
                raise RuleConfigError("%s[%d] must be a mapping with keys path_prefix and read_only, got %r"
                                      % (where, index, short(item, 80)))
            prefix = normalize_host_path(item.get("path_prefix"))
            if prefix is None:
                raise RuleConfigError("%s[%d].path_prefix must be an absolute path, got %r"
                                      % (where, index, short(item.get("path_prefix"), 80)))
            read_only = item.get("read_only", False)
            if isinstance(read_only, str) and read_only.strip().lower() in _BOOL_TEXT:
                read_only = _BOOL_TEXT[read_only.strip().lower()]
            if not isinstance(read_only, bool):
                raise RuleConfigError("%s[%d].read_only must be a boolean, got %r"
                                      % (where, index, short(read_only, 80)))
            out.append({"path_prefix": prefix, "read_only": read_only})
        return out
    raise bad()  # pragma: no cover - every type is handled above


def compile_params(rule, params):
    """Internal forms of validated params (Decimals, matchers, ranges)."""
    compiled = dict(params)
    where = "rules.%s (%s) params" % (rule["id"], rule["name"])
    for name, spec in rule["params"].items():
        value = params.get(name)
        compiled["_raw_" + name] = value
        if value is None:
            continue
        if spec["type"] in ("cpu", "memory"):
            compiled[name] = parse_quantity(value)
        elif spec["type"] == "pattern_list":
            compiled[name] = compile_patterns(value, "%s.%s" % (where, name))
        elif spec["type"] == "port_list":
            compiled[name] = parse_port_list(value, "%s.%s" % (where, name))
        elif spec["type"] == "cap_list":
            compiled[name] = frozenset(value)
    return compiled


# ---------------------------------------------------------------------------------------------------------
# Checks. `c` is {"spec": container dict, "path": "spec.template.spec.containers[0]", "name", "kind", "index"};
# `pod` is {"spec": pod spec dict, "path": "spec.template.spec", "annotations": dict, "annotations_path",
# "namespace", "service_account": ServiceAccount dict or None, "service_account_name"}; `p`: compiled params.

def _caps(c):
    caps = as_dict(as_dict(c["spec"].get("securityContext")).get("capabilities"))
    return as_list(caps.get("add")), caps.get("drop")


def check_resource_limits(c, pod, p):
    if c["kind"] == "ephemeralContainers":
        return []
    out = []
    limits = as_dict(as_dict(c["spec"].get("resources")).get("limits"))
    for res, required, maximum in (("cpu", p["require_cpu"], p.get("max_cpu")),
                                   ("memory", p["require_memory"], p.get("max_memory"))):
        field = "%s.resources.limits.%s" % (c["path"], res)
        value = limits.get(res)
        if value is None or value == "":
            if required:
                out.append(violation(field, None, "no %s limit is set" % res, "a %s limit" % res))
            continue
        try:
            amount = parse_quantity(value)
        except ValueError:
            out.append(violation(field, value, "the %s limit is not a valid Kubernetes quantity" % res,
                                 "a quantity"))
            continue
        if amount <= 0:
            out.append(violation(field, value, "the %s limit is not positive" % res, "> 0"))
        elif maximum is not None and amount > maximum:
            out.append(violation(field, value, "the %s limit %s exceeds the maximum %s"
                                 % (res, value, p["_raw_max_%s" % res]), "<= %s" % p["_raw_max_%s" % res]))
    return out


def check_trusted_registries(c, pod, p):
    image = c["spec"].get("image")
    field = c["path"] + ".image"
    if not isinstance(image, str) or not image.strip():
        return [violation(field, image, "the container has no image", "an image from a trusted registry")]
    if match_image(image, p["registries"]) is None:
        return [violation(field, image, "image %s is not from a trusted registry" % short(image, 120),
                          "one of: %s" % ", ".join(text for _k, text, _r in p["registries"]))]
    return []


def check_capabilities(c, pod, p):
    out = []
    add, drop = _caps(c)
    base = c["path"] + ".securityContext.capabilities"
    allowed = p["allowed_add"]
    for index, cap in enumerate(add):
        name = normalize_capability(cap)
        if "ALL" not in allowed and name not in allowed:
            out.append(violation("%s.add[%d]" % (base, index), cap, "capability %s is added but not allowed"
                                 % short(name, 64), "only: %s" % (", ".join(sorted(allowed)) or "none")))
    dropped = {normalize_capability(item) for item in as_list(drop)}
    missing = [cap for cap in sorted(p["required_drop"]) if cap not in dropped and "ALL" not in dropped]
    if missing:
        out.append(violation(base + ".drop", drop, "required capabilities are not dropped: %s" % ", ".join(missing),
                             "drop: %s" % ", ".join(sorted(p["required_drop"]))))
    return out


def check_apparmor(c, pod, p):
    profile, origin = effective_apparmor(c["spec"], pod["spec"], pod.get("annotations"))
    if origin == "container":
        field = c["path"] + ".securityContext.appArmorProfile"
    elif origin == "annotation":
        field = "%s['container.apparmor.security.beta.kubernetes.io/%s']" % (pod["annotations_path"], c["name"])
    elif origin == "pod":
        field = pod["path"] + ".securityContext.appArmorProfile"
    else:
        field = c["path"] + ".securityContext.appArmorProfile"
    if profile is None:
        if p["require_explicit"]:
            return [violation(field, None, "no AppArmor profile is set", "one of: %s"
                              % ", ".join(p["allowed_profiles"]))]
        return []
    if not profile_allowed(profile, p["allowed_profiles"]):
        return [violation(field, profile, "AppArmor profile %s is not allowed" % short(profile, 120),
                          "one of: %s" % ", ".join(p["allowed_profiles"]))]
    return []


def check_host_network(pod, p):
    if is_true(pod["spec"].get("hostNetwork")) and not p["allow_host_network"]:
        return [violation(pod["path"] + ".hostNetwork", True, "the pod uses the host network", "false")]
    return []


def check_host_ports(c, pod, p):
    out = []
    host_network = is_true(pod["spec"].get("hostNetwork"))
    for index, port in enumerate(as_list(c["spec"].get("ports"))):
        port = as_dict(port)
        host_port = as_int(port.get("hostPort"))
        field = "%s.ports[%d].hostPort" % (c["path"], index)
        if (host_port is None or host_port == 0) and host_network:
            host_port = as_int(port.get("containerPort"))
            field = "%s.ports[%d].containerPort" % (c["path"], index)
        if host_port is None or host_port == 0:
            continue
        if not (p["min_port"] <= host_port <= p["max_port"]):
            allowed = "none" if p["max_port"] == 0 else "%d-%d" % (p["min_port"], p["max_port"])
            out.append(violation(field, host_port, "host port %d is outside the allowed range" % host_port,
                                 "host ports: %s" % allowed))
    return out


def check_host_path(pod, p):
    out = []
    containers = pod.get("containers") or ()
    allowed = p["allowed_host_paths"]
    for index, volume in enumerate(as_list(pod["spec"].get("volumes"))):
        volume = as_dict(volume)
        if "hostPath" not in volume:
            continue
        raw = as_dict(volume.get("hostPath")).get("path")
        field = "%s.volumes[%d].hostPath.path" % (pod["path"], index)
        path = normalize_host_path(raw)
        expected = "one of: %s" % (", ".join(entry["path_prefix"] for entry in allowed) or "no hostPath volumes")
        if path is None:
            out.append(violation(field, raw, "hostPath volume %s has no absolute path" % short(volume.get("name"), 64),
                                 expected))
            continue
        matching = [entry for entry in allowed if host_path_under(path, entry["path_prefix"])]
        if not matching:
            out.append(violation(field, raw, "hostPath %s is not under an allowed prefix" % short(raw, 120),
                                 expected))
            continue
        if any(not entry["read_only"] for entry in matching):
            continue
        for c in containers:
            for mindex, mount in enumerate(as_list(c["spec"].get("volumeMounts"))):
                mount = as_dict(mount)
                if mount.get("name") == volume.get("name") and not is_true(mount.get("readOnly")):
                    out.append(violation("%s.volumeMounts[%d].readOnly" % (c["path"], mindex), mount.get("readOnly"),
                                         "hostPath %s must be mounted read-only (container %s)"
                                         % (short(raw, 120), short(c["name"], 64)), "true"))
    return out


def check_privilege_escalation(c, pod, p):
    out = []
    sc = as_dict(c["spec"].get("securityContext"))
    base = c["path"] + ".securityContext"
    if is_true(sc.get("privileged")):
        out.append(violation(base + ".privileged", True, "a privileged container can always escalate privileges",
                             "false"))
    add, _drop = _caps(c)
    for index, cap in enumerate(add):
        if normalize_capability(cap) in ("SYS_ADMIN", "ALL"):
            out.append(violation("%s.capabilities.add[%d]" % (base, index), cap,
                                 "CAP_SYS_ADMIN allows privilege escalation", "not added"))
    value = sc.get("allowPrivilegeEscalation")
    if not is_false(value):
        out.append(violation(base + ".allowPrivilegeEscalation", value,
                             "allowPrivilegeEscalation is %s" % ("not set (defaults to true)" if value is None
                                                                 else "not false"), "false"))
    return out


def check_host_namespaces(pod, p):
    out = []
    for key in ("hostPID", "hostIPC"):
        if is_true(pod["spec"].get(key)):
            out.append(violation("%s.%s" % (pod["path"], key), True, "the pod shares the host %s namespace"
                                 % key[4:], "false"))
    return out


def check_read_only_root(c, pod, p):
    value = as_dict(c["spec"].get("securityContext")).get("readOnlyRootFilesystem")
    if not is_true(value):
        return [violation(c["path"] + ".securityContext.readOnlyRootFilesystem", value,
                          "the root filesystem is writable", "true")]
    return []


def check_automount(pod, p):
    field = pod["path"] + ".automountServiceAccountToken"
    value = pod["spec"].get("automountServiceAccountToken")
    if is_false(value):
        return []
    if is_true(value):
        return [violation(field, True, "the pod spec mounts the service-account token", "false")]
    account = pod.get("service_account")
    name = pod.get("service_account_name") or "default"
    if account is not None and is_false(account.get("automountServiceAccountToken")):
        return []
    if account is None:
        reason = "unset, and ServiceAccount %s is not in the input" % short(name, 64)
    else:
        reason = "unset, and ServiceAccount %s does not disable it" % short(name, 64)
    return [violation(field, None, "automountServiceAccountToken is %s" % reason, "false")]


def check_default_namespace(pod, p):
    namespace = pod.get("namespace")
    if namespace == "default":
        return [violation("metadata.namespace", "default", "the workload is in the default namespace",
                          "a dedicated namespace")]
    if namespace is None and p["include_unset"]:
        return [violation("metadata.namespace", None, "the manifest sets no namespace (lands in the kubectl "
                          "context's namespace, often default)", "a dedicated namespace")]
    return []


def check_sys_admin(c, pod, p):
    out = []
    add, _drop = _caps(c)
    for index, cap in enumerate(add):
        if normalize_capability(cap) in ("SYS_ADMIN", "ALL"):
            out.append(violation("%s.securityContext.capabilities.add[%d]" % (c["path"], index), cap,
                                 "capability %s grants CAP_SYS_ADMIN" % short(cap, 64), "not added"))
    return out


def check_privileged(c, pod, p):
    if is_true(as_dict(c["spec"].get("securityContext")).get("privileged")):
        return [violation(c["path"] + ".securityContext.privileged", True, "the container is privileged", "false")]
    return []


def check_run_as_non_root(c, pod, p):
    csc = as_dict(c["spec"].get("securityContext"))
    psc = as_dict(pod["spec"].get("securityContext"))
    if "runAsUser" in csc and csc.get("runAsUser") is not None:
        user, user_field = csc.get("runAsUser"), c["path"] + ".securityContext.runAsUser"
    else:
        user, user_field = psc.get("runAsUser"), pod["path"] + ".securityContext.runAsUser"
    if "runAsNonRoot" in csc and csc.get("runAsNonRoot") is not None:
        non_root, nr_field = csc.get("runAsNonRoot"), c["path"] + ".securityContext.runAsNonRoot"
    else:
        non_root, nr_field = psc.get("runAsNonRoot"), pod["path"] + ".securityContext.runAsNonRoot"
    uid = as_int(user)
    if uid is not None and uid <= 0:
        return [violation(user_field, user, "the container runs as UID %d" % uid, "runAsUser > 0")]
    if user is not None and uid is None:
        return [violation(user_field, user, "runAsUser is not an integer", "runAsUser > 0")]
    if uid is not None and uid > 0:
        if p["require_run_as_non_root"] and not is_true(non_root):
            return [violation(nr_field, non_root, "runAsNonRoot is not true", "true")]
        return []
    if is_true(non_root):
        return []
    state = "not set" if non_root is None else "false"
    return [violation(nr_field, non_root, "runAsNonRoot is %s and no non-zero runAsUser is set, so the image's "
                      "user (often root) applies" % state, "runAsNonRoot: true or runAsUser > 0")]


def check_secrets_in_env(c, pod, p):
    out = []
    for index, env in enumerate(as_list(c["spec"].get("env"))):
        literal = literal_secret_env(env)
        if literal:
            name = as_dict(env).get("name")
            found = violation("%s.env[%d].value" % (c["path"], index), {"env": name, "literal": True},
                              "environment variable %s %s written into the manifest"
                              % (short(name, 64), "holds a secret" if literal == "name"
                                 else "holds a URL with a password"), "a read-only secret volume")
            found["severity"] = "high"
            out.append(found)
        ref = as_dict(as_dict(as_dict(env).get("valueFrom")).get("secretKeyRef"))
        if ref:
            out.append(violation("%s.env[%d].valueFrom.secretKeyRef" % (c["path"], index),
                                 {"env": as_dict(env).get("name"), "secret": ref.get("name"), "key": ref.get("key")},
                                 "environment variable %s comes from Secret %s"
                                 % (short(as_dict(env).get("name"), 64), short(ref.get("name"), 64)),
                                 "a read-only secret volume"))
    for index, source in enumerate(as_list(c["spec"].get("envFrom"))):
        ref = as_dict(as_dict(source).get("secretRef"))
        if ref:
            out.append(violation("%s.envFrom[%d].secretRef" % (c["path"], index), {"secret": ref.get("name")},
                                 "all keys of Secret %s become environment variables" % short(ref.get("name"), 64),
                                 "a read-only secret volume"))
    return out


def check_image_tag(c, pod, p):
    image = c["spec"].get("image")
    field = c["path"] + ".image"
    if not isinstance(image, str) or not image.strip():
        return [violation(field, image, "the container has no image", "a pinned image")]
    parts = parse_image(image)
    if p["require_digest"] and not parts["digest"]:
        return [violation(field, image, "image %s is not pinned by digest" % short(image, 120), "@sha256:<digest>")]
    if parts["digest"]:
        return []
    if parts["tag"] is None:
        return [violation(field, image, "image %s has no tag (means :latest)" % short(image, 120),
                          "a version tag or digest")]
    if parts["tag"] in p["disallowed_tags"]:
        return [violation(field, image, "image %s uses the tag %s" % (short(image, 120), parts["tag"]),
                          "a version tag or digest")]
    return []


def check_service(obj, p):
    spec = as_dict(obj.get("spec"))
    kind = spec.get("type") or "ClusterIP"
    out = []
    if kind == "NodePort" and not p["allow_node_port"]:
        out.append(violation("spec.type", kind, "the Service is of type NodePort (opens a port on every node)",
                             "ClusterIP or LoadBalancer"))
    if kind not in p["service_types"]:
        return out
    for index, port in enumerate(as_list(spec.get("ports"))):
        number = as_int(as_dict(port).get("port"))
        if number is None or not port_allowed(number, p["allowed_ports"]):
            out.append(violation("spec.ports[%d].port" % index, as_dict(port).get("port"),
                                 "Service port %s is not allowed" % (number if number is not None else "?"),
                                 "one of: %s" % ", ".join(str(item) for item in p["_raw_allowed_ports"])))
    return out


def check_ingress(obj, p):
    spec = as_dict(obj.get("spec"))
    annotations = as_dict(as_dict(obj.get("metadata")).get("annotations"))
    out = []
    tls = [as_dict(entry) for entry in as_list(spec.get("tls"))]
    tls_hosts = [host for entry in tls for host in as_list(entry.get("hosts")) if isinstance(host, str)]
    # Ingress API: an entry without hosts "defaults to the wildcard host setting for the loadbalancer controller",
    # i.e. the controller's default certificate serves every host of the Ingress.
    default_cert = any(isinstance(entry, dict) and not as_list(entry.get("hosts")) for entry in as_list(spec.get("tls")))
    hosts = []
    for index, rule in enumerate(as_list(spec.get("rules"))):
        host = as_dict(rule).get("host")
        hosts.append((index, host if isinstance(host, str) and host else None))
    if not hosts and spec.get("defaultBackend", spec.get("backend")) is not None:
        hosts.append((None, None))
    if not tls:
        out.append(violation("spec.tls", None, "the Ingress has no TLS section: it serves plain HTTP",
                             "spec.tls for every host"))
    else:
        for index, host in hosts:
            if host is None or default_cert:
                continue  # a catch-all rule is served with the TLS entries' (or the default) certificate
            if not any(host_matches_tls(host, tls_host) for tls_host in tls_hosts):
                out.append(violation("spec.rules[%d].host" % index, host, "host %s is not covered by spec.tls"
                                     % short(host, 120), "listed in spec.tls[].hosts"))
    redirect = p["ssl_redirect_annotations"]
    good = False
    for key, wanted in sorted(redirect.items()):
        if key in annotations:
            actual = annotations.get(key)
            actual_text = ("true" if actual else "false") if isinstance(actual, bool) else str(actual)
            if actual_text.strip().lower() == wanted.lower():
                good = True
            else:
                out.append(violation("metadata.annotations['%s']" % key, actual,
                                     "annotation %s turns HTTPS-only off" % key, wanted))
    if p["require_ssl_redirect"] and not good:
        out.append(violation("metadata.annotations", None, "no HTTPS redirect annotation is set",
                             "one of: %s" % ", ".join("%s=%s" % item for item in sorted(redirect.items()))))
    return out


CONTAINER_CHECKS = {
    "KS-WL-001": check_resource_limits,
    "KS-WL-002": check_trusted_registries,
    "KS-WL-003": check_capabilities,
    "KS-WL-004": check_apparmor,
    "KS-WL-006": check_host_ports,
    "KS-WL-008": check_privilege_escalation,
    "KS-WL-010": check_read_only_root,
    "KS-WL-014": check_sys_admin,
    "KS-WL-015": check_privileged,
    "KS-WL-016": check_run_as_non_root,
    "KS-WL-019": check_secrets_in_env,
    "KS-WL-020": check_image_tag,
}
POD_CHECKS = {
    "KS-WL-006": check_host_network,
    "KS-WL-007": check_host_path,
    "KS-WL-009": check_host_namespaces,
    "KS-WL-012": check_automount,
    "KS-WL-013": check_default_namespace,
}
OBJECT_CHECKS = {
    "KS-WL-005": ("Service", check_service),
    "KS-WL-011": ("Ingress", check_ingress),
}
