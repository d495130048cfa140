package deploy

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestHA checks what the highly available layout promises: three pkgserver
// replicas that name every etcd member, three etcd members that name each
// other through a headless Service, disruption budgets that keep a quorum,
// probes and resources everywhere, and the etcd that `make tools` tests.
func TestHA(t *testing.T) {
	objs := layouts(t, ".")["ha"]
	find := func(kind, name string) object {
		t.Helper()
		for _, o := range objs {
			if o.kind == kind && o.meta.GetName() == name {
				return o
			}
		}
		t.Fatalf("ha/: no %s %s", kind, name)
		return object{}
	}
	sts := find("StatefulSet", "etcd").obj.(*appsv1.StatefulSet)
	svc := find("Service", sts.Spec.ServiceName).obj.(*corev1.Service)
	deploy := find("Deployment", "pkgserver").obj.(*appsv1.Deployment)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q publishNotReadyAddresses %v; members find each other before they are ready only through a headless Service that publishes them",
			svc.Name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("etcd podManagementPolicy %q: members must start together", sts.Spec.PodManagementPolicy)
	}
	for _, c := range []struct {
		name     string
		replicas *int32
	}{{"etcd", sts.Spec.Replicas}, {"pkgserver", deploy.Spec.Replicas}} {
		if c.replicas == nil || *c.replicas != 3 {
			t.Errorf("%s: replicas %v, want 3", c.name, c.replicas)
		}
		pdb := find("PodDisruptionBudget", c.name).obj.(*policyv1.PodDisruptionBudget)
		if mu := pdb.Spec.MaxUnavailable; mu == nil || *mu != intstr.FromInt32(1) {
			t.Errorf("PodDisruptionBudget %s: maxUnavailable %v, want 1 (two of three keep a quorum)", c.name, mu)
		}
	}

	etcd := sts.Spec.Template.Spec.Containers[0]
	var members, servers []string
	for i := range int(*sts.Spec.Replicas) {
		host := fmt.Sprintf("%s-%d.%s", sts.Name, i, svc.Name)
		members = append(members, fmt.Sprintf("%s-%d=https://%s:2380", sts.Name, i, host))
		servers = append(servers, "https://"+host+":2379")
	}
	ef := flags(etcd.Args)
	for flag, want := range map[string]string{
		"--initial-cluster":             strings.Join(members, ","),
		"--initial-advertise-peer-urls": "https://$(POD_NAME)." + svc.Name + ":2380",
		"--advertise-client-urls":       "https://$(POD_NAME)." + svc.Name + ":2379",
		"--name":                        "$(POD_NAME)",
	} {
		if ef[flag] != want {
			t.Errorf("etcd %s=%q, want %q", flag, ef[flag], want)
		}
	}
	for _, flag := range []string{"--client-cert-auth", "--peer-client-cert-auth"} {
		if _, ok := ef[flag]; !ok {
			t.Errorf("etcd has no %s: anyone reaching the pod could use it", flag)
		}
	}
	if want := "etcd:" + makeVar(t, "ETCD_VERSION"); etcd.Image != want && !strings.HasSuffix(etcd.Image, "/"+want) {
		t.Errorf("etcd image %q, want %s (ETCD_VERSION of the Makefile: the version the tests run)", etcd.Image, want)
	}

	pkg := deploy.Spec.Template.Spec.Containers[0]
	pf := flags(pkg.Args)
	if got := pf["--etcd-servers"]; got != strings.Join(servers, ",") {
		t.Errorf("pkgserver --etcd-servers=%q, want every member: %s", got, strings.Join(servers, ","))
	}
	for _, flag := range []string{"--etcd-prefix", "--etcd-cafile", "--etcd-certfile", "--etcd-keyfile"} {
		if pf[flag] == "" {
			t.Errorf("pkgserver has no %s", flag)
		}
	}

	for _, c := range []corev1.Container{etcd, pkg} {
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("container %s: readiness %v, liveness %v; want both probes", c.Name, c.ReadinessProbe != nil, c.LivenessProbe != nil)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s: resources %+v; want cpu and memory requests and a memory limit", c.Name, c.Resources)
		}
	}
}

// flags maps --name=value arguments to their values ("" for a bare --name).
func flags(args []string) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		name, value, _ := strings.Cut(a, "=")
		out[name] = value
	}
	return out
}

// makeVar reads a `NAME := value` pin from the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*:?=\s*(\S+)\s*$`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("Makefile sets no %s", name)
	}
	return string(m[1])
}
