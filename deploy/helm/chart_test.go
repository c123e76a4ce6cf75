// Package helm_test renders the scimplane Helm chart with helm itself and
// checks the invariants operators rely on. helm comes from HELM, or
// bin/helm-$version/helm (what `make chart` builds), or is built there from
// the Go module proxy.
package helm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// helmVersion is the helm the repository's CI uses (Makefile HELM_VERSION).
const helmVersion = "v3.22.0"

const chartDir = "scimplane"

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helmBinary finds or builds helm once per test binary.
func helmBinary(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() { helmPath, helmErr = findOrBuildHelm() })
	if helmErr != nil {
		if testing.Short() {
			t.Skipf("helm unavailable under -short: %v", helmErr)
		}
		t.Fatalf("helm: %v", helmErr)
	}
	return helmPath
}

func findOrBuildHelm() (string, error) {
	if p := os.Getenv("HELM"); p != "" {
		return p, nil
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "bin", "helm-"+helmVersion))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "helm")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", "install", "helm.sh/helm/v3/cmd/helm@"+helmVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install helm %s: %w\n%s", helmVersion, err, out)
	}
	return bin, nil
}

// object is one rendered manifest.
type object map[string]any

func (o object) kind() string { return str(o, "kind") }
func (o object) name() string { return str(o, "metadata", "name") }

// render runs helm template with the value files and --set pairs given and
// returns the objects, or helm's error output.
func render(t *testing.T, valueFiles []string, sets ...string) ([]object, string, error) {
	t.Helper()
	args := []string{"template", "scimplane", chartDir, "--namespace", "scim"}
	for _, f := range valueFiles {
		args = append(args, "-f", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, "", fmt.Errorf("helm template: %w: %s", err, stderr.String())
	}
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(stdout.Bytes()))
	for {
		// Decoded as a plain map: yaml would give nested maps the named type.
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "rendered YAML")
		if o != nil {
			objs = append(objs, object(o))
		}
	}
	return objs, stdout.String(), nil
}

func TestChart_Lint(t *testing.T) {
	for _, values := range [][]string{nil, {"scimplane/ci/scale-values.yaml"}} {
		args := []string{"lint", "--strict", chartDir}
		for _, f := range values {
			args = append(args, "-f", f)
		}
		out, err := exec.Command(helmBinary(t), args...).CombinedOutput()
		require.NoError(t, err, "helm %s:\n%s", strings.Join(args, " "), out)
	}
}

func TestChart_Invariants(t *testing.T) {
	cases := []struct {
		name           string
		values         []string
		hpa            bool
		serviceMonitor bool
		pgbouncer      bool
	}{
		{name: "default values"},
		{name: "scale values", values: []string{"scimplane/ci/scale-values.yaml"}, hpa: true, serviceMonitor: true, pgbouncer: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, text, err := render(t, tc.values)
			require.NoError(t, err)
			t.Logf("rendered: %s", strings.Join(kindNames(objs), ", "))
			cp := find(t, objs, "Deployment", "scimplane")
			labels := strMap(cp, "spec", "template", "metadata", "labels")

			t.Run("every container non-root, read-only root filesystem, no privilege escalation", func(t *testing.T) {
				for _, d := range ofKind(objs, "Deployment") {
					pod := mapAt(d, "spec", "template", "spec")
					require.Equal(t, false, pod["automountServiceAccountToken"], "%s mounts a service account token", d.name())
					for _, c := range append(list(pod, "initContainers"), list(pod, "containers")...) {
						c := c.(map[string]any)
						where := d.name() + "/" + str(c, "name")
						sc := mapAt(c, "securityContext")
						require.Equal(t, true, sc["readOnlyRootFilesystem"], "%s: readOnlyRootFilesystem", where)
						require.Equal(t, false, sc["allowPrivilegeEscalation"], "%s: allowPrivilegeEscalation", where)
						require.Contains(t, list(sc, "capabilities", "drop"), "ALL", "%s: capabilities", where)
						nonRoot := sc["runAsNonRoot"] == true || mapAt(pod, "securityContext")["runAsNonRoot"] == true
						require.True(t, nonRoot, "%s: runAsNonRoot", where)
						uid, ok := sc["runAsUser"]
						if !ok {
							uid = mapAt(pod, "securityContext")["runAsUser"]
						}
						require.NotEqual(t, 0, uid, "%s runs as uid 0", where)
						for _, m := range list(c, "volumeMounts") {
							path := str(m.(map[string]any), "mountPath")
							require.True(t, slices.Contains([]string{"/tmp", "/var/lib/scimplane", "/etc/pgbouncer"}, path), "%s mounts %s", where, path)
						}
					}
				}
			})

			t.Run("probes on /healthz and /readyz", func(t *testing.T) {
				c := container(t, cp, "controlplane")
				require.Equal(t, "/healthz", str(c, "livenessProbe", "httpGet", "path"))
				require.Equal(t, "/readyz", str(c, "readinessProbe", "httpGet", "path"))
				require.Equal(t, "/healthz", str(c, "startupProbe", "httpGet", "path"))
			})

			t.Run("pods outlive their drain", func(t *testing.T) {
				grace, err := time.ParseDuration(envValue(t, container(t, cp, "controlplane"), "SCIMPLANE_SHUTDOWN_GRACE"))
				require.NoError(t, err)
				period := num(t, cp, "spec", "template", "spec", "terminationGracePeriodSeconds")
				require.Greater(t, time.Duration(period)*time.Second, grace)
				delay, err := time.ParseDuration(envValue(t, container(t, cp, "controlplane"), "SCIMPLANE_SHUTDOWN_DELAY"))
				require.NoError(t, err)
				require.LessOrEqual(t, 2*delay, grace, "the control plane refuses a delay past half the grace")
			})

			t.Run("PodDisruptionBudget", func(t *testing.T) {
				pdb := find(t, objs, "PodDisruptionBudget", "scimplane")
				spec := mapAt(pdb, "spec")
				_, minAvail := spec["minAvailable"]
				_, maxUnavail := spec["maxUnavailable"]
				require.True(t, minAvail != maxUnavail, "exactly one of minAvailable, maxUnavailable: %v", spec)
				requireSelects(t, strMap(pdb, "spec", "selector", "matchLabels"), labels)
			})

			t.Run("HorizontalPodAutoscaler", func(t *testing.T) {
				hpas := ofKind(objs, "HorizontalPodAutoscaler")
				if !tc.hpa {
					require.Empty(t, hpas)
					require.Contains(t, mapAt(cp, "spec"), "replicas")
					return
				}
				require.Len(t, hpas, 1)
				ref := strMap(hpas[0], "spec", "scaleTargetRef")
				require.Equal(t, map[string]string{"apiVersion": "apps/v1", "kind": "Deployment", "name": cp.name()}, ref)
				require.NotContains(t, mapAt(cp, "spec"), "replicas", "the HPA owns the replica count")
			})

			t.Run("ingress hashes on the tenant segment", func(t *testing.T) {
				ing := find(t, objs, "Ingress", "scimplane")
				ann := strMap(ing, "metadata", "annotations")
				require.Equal(t, "true", ann["nginx.ingress.kubernetes.io/use-regex"])
				require.Equal(t, "$1", ann["nginx.ingress.kubernetes.io/upstream-hash-by"])
				var paths []string
				for _, r := range list(ing, "spec", "rules") {
					for _, p := range list(r.(map[string]any), "http", "paths") {
						p := p.(map[string]any)
						require.Equal(t, "ImplementationSpecific", str(p, "pathType"))
						require.Equal(t, cp.name(), str(p, "backend", "service", "name"))
						paths = append(paths, str(p, "path"))
					}
				}
				for _, tr := range []struct{ uri, key string }{
					{"/scim/tnt_4kfwgcou/v2/Users", "tnt_4kfwgcou"},
					{"/scim/tnt_4kfwgcou/v2/Groups/3f1c?excludedAttributes=members", "tnt_4kfwgcou"},
					{"/api/v1/tenants/tnt_4kfwgcou/logs", "tnt_4kfwgcou"},
					{"/api/v1/tenants/tnt_4kfwgcou", "tnt_4kfwgcou"},
					{"/admin/tenants/tnt_4kfwgcou/groups", "tnt_4kfwgcou"},
					{"/api/v1/tenants", "v1/tenants"},
					{"/admin/", "/"},
				} {
					key, ok := nginxHashKey(t, paths, tr.uri)
					require.True(t, ok, "no ingress path serves %s", tr.uri)
					require.Equal(t, tr.key, key, "hash key of %s", tr.uri)
				}
				for _, private := range []string{"/metrics", "/healthz", "/readyz"} {
					_, ok := nginxHashKey(t, paths, private)
					require.False(t, ok, "%s is exposed through the ingress", private)
				}
			})

			t.Run("NetworkPolicy restricts ingress", func(t *testing.T) {
				np := find(t, objs, "NetworkPolicy", "scimplane")
				requireSelects(t, strMap(np, "spec", "podSelector", "matchLabels"), labels)
				require.ElementsMatch(t, []any{"Ingress", "Egress"}, list(np, "spec", "policyTypes"))
				rules := list(np, "spec", "ingress")
				require.NotEmpty(t, rules)
				for _, r := range rules {
					r := r.(map[string]any)
					require.NotEmpty(t, list(r, "from"), "an ingress rule without from admits everyone")
					for _, peer := range list(r, "from") {
						require.NotContains(t, peer.(map[string]any), "ipBlock")
					}
					require.Equal(t, []any{map[string]any{"port": "http", "protocol": "TCP"}}, list(r, "ports"))
				}
				for _, r := range list(np, "spec", "egress") {
					require.NotEmpty(t, list(r.(map[string]any), "ports"), "an egress rule without ports")
				}
			})

			t.Run("secrets only referenced", func(t *testing.T) {
				require.Empty(t, ofKind(objs, "Secret"))
				for _, d := range ofKind(objs, "Deployment") {
					for _, c := range list(d, "spec", "template", "spec", "containers") {
						for _, e := range list(c.(map[string]any), "env") {
							e := e.(map[string]any)
							name := str(e, "name")
							if !slices.Contains([]string{"DATABASE_URL", "SCIMPLANE_SECRET", "SCIMPLANE_BOOTSTRAP_KEY", "PGBOUNCER_AUTH_PASSWORD"}, name) {
								continue
							}
							require.NotContains(t, e, "value", "%s has a literal value", name)
							require.NotEmpty(t, str(e, "valueFrom", "secretKeyRef", "name"), "%s is not from a Secret", name)
						}
					}
				}
				// Nothing shaped like a credential anywhere in the output.
				require.NotRegexp(t, `spk_[A-Za-z0-9_-]{8,}|scimtok_|postgres(ql)?://[^/\s"]*:[^/\s"]*@`, text)
			})

			t.Run("ServiceMonitor only when enabled", func(t *testing.T) {
				sms := ofKind(objs, "ServiceMonitor")
				if !tc.serviceMonitor {
					require.Empty(t, sms)
					return
				}
				require.Len(t, sms, 1)
				svc := find(t, objs, "Service", "scimplane")
				requireSelects(t, strMap(sms[0], "spec", "selector", "matchLabels"), strMap(svc, "metadata", "labels"))
				ep := list(sms[0], "spec", "endpoints")[0].(map[string]any)
				require.Equal(t, "http", ep["port"])
				require.Equal(t, "/metrics", ep["path"])
			})

			t.Run("the workers stay within the connection cap", func(t *testing.T) {
				perPod, err := strconv.Atoi(envValue(t, container(t, cp, "controlplane"), "SCIMPLANE_DB_CONNECTIONS"))
				require.NoError(t, err)
				var pods int
				if tc.hpa {
					pods = num(t, ofKind(objs, "HorizontalPodAutoscaler")[0], "spec", "maxReplicas")
				} else {
					pods = num(t, cp, "spec", "replicas")
				}
				workerURL := envValue(t, container(t, cp, "controlplane"), "SCIMPLANE_WORKER_DATABASE_URL")
				if !tc.pgbouncer {
					require.Empty(t, ofKind(objs, "ConfigMap"))
					require.Empty(t, workerURL, "without PgBouncer workers go to DATABASE_URL's server")
					require.LessOrEqual(t, perPod*pods, 80)
					return
				}
				pgb := find(t, objs, "Deployment", "scimplane-pgbouncer")
				ini := strMap(find(t, objs, "ConfigMap", "scimplane-pgbouncer"), "data")["pgbouncer.ini"]
				setting := func(key string) string {
					m := regexp.MustCompile(`(?m)^` + key + ` = (.*)$`).FindStringSubmatch(ini)
					require.NotNil(t, m, "pgbouncer.ini has no %s", key)
					return m[1]
				}
				require.Equal(t, "session", setting("pool_mode"))
				capEach, err := strconv.Atoi(setting("max_db_connections"))
				require.NoError(t, err)
				pgbPods := num(t, pgb, "spec", "replicas")
				// One auth_query connection per PgBouncer pod besides the workers.
				require.LessOrEqual(t, perPod*pods+pgbPods, capEach*pgbPods)
				require.Equal(t, "postgres://scimplane-pgbouncer:6432/scimplane?sslmode=disable", workerURL)
				find(t, objs, "Service", "scimplane-pgbouncer")
				np := find(t, objs, "NetworkPolicy", "scimplane-pgbouncer")
				from := list(np, "spec", "ingress")[0].(map[string]any)["from"].([]any)
				requireSelects(t, strMap(from[0].(map[string]any), "podSelector", "matchLabels"), labels)
			})
		})
	}
}

// TestChart_Refuses checks that values that cannot work fail the render
// with a message saying what to change.
func TestChart_Refuses(t *testing.T) {
	cases := []struct {
		name string
		sets []string
		want string
	}{
		{"budget below one worker", []string{"dbConnections.clusterCap=8", "replicaCount=4"}, "raise clusterCap"},
		{"grace period shorter than the drain", []string{"terminationGracePeriodSeconds=20"}, "must exceed config.shutdownGraceSeconds"},
		{"shutdown delay past half the grace", []string{"config.shutdownGraceSeconds=20", "config.shutdownDelaySeconds=11"}, "config.shutdownDelaySeconds (11) must be between 0 and half"},
		{"pgbouncer without a server", []string{"pgbouncer.enabled=true"}, "pgbouncer.postgres.host is required"},
		{"no database secret", []string{"secrets.databaseUrl.existingSecret="}, "existingSecret are required"},
		{"no public url", []string{"ingress.enabled=false"}, "config.publicURL is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := render(t, nil, tc.sets...)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// nginxHashKey is what ingress-nginx hashes for uri: the first capture of
// the first matching regex location, tried longest path first and case
// insensitively, as ingress-nginx orders and writes them.
func nginxHashKey(t *testing.T, paths []string, uri string) (string, bool) {
	t.Helper()
	path, _, _ := strings.Cut(uri, "?")
	sorted := slices.Clone(paths)
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, p := range sorted {
		re, err := regexp.Compile("(?i)^" + p)
		require.NoError(t, err, "path %q", p)
		if m := re.FindStringSubmatch(path); m != nil {
			require.Len(t, m, 2, "path %q has no capture group to hash on", p)
			return m[1], true
		}
	}
	return "", false
}

func requireSelects(t *testing.T, selector, labels map[string]string) {
	t.Helper()
	require.NotEmpty(t, selector)
	for k, v := range selector {
		require.Equal(t, v, labels[k], "selector %s=%s does not match %v", k, v, labels)
	}
}

func kindNames(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.kind()+"/"+o.name())
	}
	return out
}

func ofKind(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	t.Fatalf("no %s/%s rendered (have %v)", kind, name, kindNames(objs))
	return nil
}

func container(t *testing.T, d object, name string) map[string]any {
	t.Helper()
	for _, c := range list(d, "spec", "template", "spec", "containers") {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("%s has no container %s", d.name(), name)
	return nil
}

// envValue is the literal value of a container's variable, "" if unset.
func envValue(t *testing.T, c map[string]any, name string) string {
	t.Helper()
	for _, e := range list(c, "env") {
		if e := e.(map[string]any); e["name"] == name {
			v, ok := e["value"].(string)
			require.True(t, ok, "%s is not a literal string", name)
			return v
		}
	}
	return ""
}

func at(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func mapAt(m map[string]any, path ...string) map[string]any {
	v, _ := at(m, path...).(map[string]any)
	return v
}

func list(m map[string]any, path ...string) []any {
	v, _ := at(m, path...).([]any)
	return v
}

func str(m map[string]any, path ...string) string {
	v, _ := at(m, path...).(string)
	return v
}

func num(t *testing.T, m map[string]any, path ...string) int {
	t.Helper()
	v, ok := at(m, path...).(int)
	require.True(t, ok, "%s is not an integer: %v", strings.Join(path, "."), at(m, path...))
	return v
}

func strMap(m map[string]any, path ...string) map[string]string {
	out := map[string]string{}
	for k, v := range mapAt(m, path...) {
		out[k] = fmt.Sprint(v)
	}
	return out
}
