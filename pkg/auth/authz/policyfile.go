package authz

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apiserver/pkg/authentication/user"
	"sigs.k8s.io/yaml"

	"pkgserver.dev/pkgserver/pkg/auth/internal/reload"
)

// maxPolicyBytes bounds a policy file; real ones are a few kilobytes.
const maxPolicyBytes = 4 << 20

// PolicyFile is the RBAC authorizer of --authorization-policy-file, read
// again when the file changes (a broken edit keeps the last good policy and
// is logged).
type PolicyFile struct {
	files *reload.Files[*RBAC]
}

var (
	_ Authorizer   = (*PolicyFile)(nil)
	_ RuleResolver = (*PolicyFile)(nil)
)

// NewPolicyFile loads the policy file at path, with the default roles.
func NewPolicyFile(path string, log *slog.Logger) (*PolicyFile, error) {
	f, err := reload.New(func(data [][]byte) (*RBAC, error) {
		p, err := ParsePolicy(data[0])
		if err != nil {
			return nil, err
		}
		return CompileWithDefaults(p)
	}, []string{path}, reload.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("--authorization-policy-file: %w", err)
	}
	return &PolicyFile{files: f}, nil
}

// Authorize implements Authorizer.
func (p *PolicyFile) Authorize(ctx context.Context, a Attributes) (Decision, error) {
	return p.files.Get().Authorize(ctx, a)
}

// RulesFor implements RuleResolver.
func (p *PolicyFile) RulesFor(u user.Info, namespace string) []Rule {
	return p.files.Get().RulesFor(u, namespace)
}

// CompileWithDefaults compiles p together with the default ClusterRoles and
// the system policy; p may not redefine any of them.
func CompileWithDefaults(p Policy) (*RBAC, error) {
	sys := systemPolicy()
	builtin := map[string]bool{}
	for _, cr := range append(DefaultClusterRoles(), sys.ClusterRoles...) {
		builtin[cr.Name] = true
	}
	for _, cr := range p.ClusterRoles {
		if builtin[cr.Name] {
			return nil, fmt.Errorf("ClusterRole %q is built in and cannot be redefined; give yours another name", cr.Name)
		}
	}
	for _, b := range p.ClusterRoleBindings {
		for _, s := range sys.ClusterRoleBindings {
			if b.Name == s.Name {
				return nil, fmt.Errorf("ClusterRoleBinding %q is built in and cannot be redefined; give yours another name", b.Name)
			}
		}
	}
	p.ClusterRoles = append(append(DefaultClusterRoles(), sys.ClusterRoles...), p.ClusterRoles...)
	p.ClusterRoleBindings = append(sys.ClusterRoleBindings, p.ClusterRoleBindings...)
	return Compile(p)
}

// ParsePolicy reads YAML or JSON documents (separated by ---) of
// rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding and
// ClusterRoleBinding objects, or a v1 List of them (what `kubectl get -o yaml`
// writes). Unknown fields and kinds are errors naming the document.
func ParsePolicy(data []byte) (Policy, error) {
	var p Policy
	if len(data) > maxPolicyBytes {
		return p, fmt.Errorf("policy is %d bytes, more than %d", len(data), maxPolicyBytes)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return p, fmt.Errorf("policy document %d: %w", n, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return p, fmt.Errorf("policy document %d: %w", n, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue // an empty document
		}
		if err := p.add(js); err != nil {
			return p, fmt.Errorf("policy document %d: %w", n, err)
		}
	}
}

func (p *Policy) add(js []byte) error {
	var tm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &tm); err != nil {
		return err
	}
	if tm.Kind == "List" {
		if tm.APIVersion != "v1" {
			return fmt.Errorf("a List has apiVersion v1, not %q", tm.APIVersion)
		}
		for i, item := range tm.Items {
			if err := p.add(item); err != nil {
				return fmt.Errorf("items[%d]: %w", i, err)
			}
		}
		return nil
	}
	if tm.APIVersion != rbacv1.SchemeGroupVersion.String() {
		return fmt.Errorf("apiVersion %q: want %s", tm.APIVersion, rbacv1.SchemeGroupVersion)
	}
	switch tm.Kind {
	case "Role":
		return decodeInto(js, &p.Roles)
	case "ClusterRole":
		return decodeInto(js, &p.ClusterRoles)
	case "RoleBinding":
		return decodeInto(js, &p.RoleBindings)
	case "ClusterRoleBinding":
		return decodeInto(js, &p.ClusterRoleBindings)
	}
	return fmt.Errorf("kind %q: want Role, ClusterRole, RoleBinding or ClusterRoleBinding", tm.Kind)
}

// decodeInto decodes one object strictly (a misspelt field is an error, not
// a silently wider or narrower rule) and appends it.
func decodeInto[T any](js []byte, list *[]T) error {
	var obj T
	d := json.NewDecoder(bytes.NewReader(js))
	d.DisallowUnknownFields()
	if err := d.Decode(&obj); err != nil {
		return err
	}
	*list = append(*list, obj)
	return nil
}
